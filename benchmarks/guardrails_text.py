"""Text pre-guard benchmark: precision and recall on the held-out prompts (templates never trained
on), plain and under each obfuscation, for the blocklist alone and the full guard (normalise ->
blocklist -> classifier); false-positive rate on the hard benign prompts.

    python benchmarks/guardrails_text.py      # prints a table, writes benchmarks/results/guardrails_text.json

`evaluate_text_guard()` returns the JSON-able dict (bench_guardrails.py assembles it with the others).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _scores(pred: list[bool], rows: list[dict[str, Any]]) -> dict[str, float]:
    from worldfm.train.recipes.guard_text import binary_scores

    s = binary_scores(pred, [bool(r["label"]) for r in rows])
    hard = [p for p, r in zip(pred, rows, strict=True) if r.get("hard")]
    s["hard_benign_fpr"] = sum(hard) / len(hard) if hard else 0.0
    return {k: round(v, 4) for k, v in s.items()}


def evaluate_text_guard(seed: int = 0) -> dict[str, Any]:
    """Scores of the blocklist alone and of the full guard on the held-out split, per obfuscation."""
    from worldfm.guardrails.obfuscate import OBFUSCATIONS, obfuscate
    from worldfm.guardrails.text import PromptGuard, load_prompts

    rows = [r for r in load_prompts() if r["split"] == "heldout"]
    guard = PromptGuard.default()

    def blocked(text: str) -> dict[str, bool]:
        # One run gives both: the blocklist-only guard blocks exactly when the full guard's
        # blocklist check (or its input check) blocks.
        decision = guard.check(text)
        return {
            "blocklist": any(c.blocked for c in decision.checks if c.name != "classifier"),
            "full": not decision.allowed,
        }

    results: dict[str, Any] = {}
    start = time.perf_counter()
    for variant in ("plain", *OBFUSCATIONS):
        texts = [r["text"] if variant == "plain" else obfuscate(r["text"], variant, seed) for r in rows]
        flags = [blocked(t) for t in texts]
        results[variant] = {name: _scores([f[name] for f in flags], rows) for name in ("blocklist", "full")}
    # Hard benign prompts of the training templates too (the classifier saw those; the blocklist did not).
    hard = [r for r in load_prompts() if r.get("hard")]
    hard_flags = [blocked(r["text"]) for r in hard]
    hard_fpr = {
        name: round(sum(f[name] for f in hard_flags) / len(hard), 4) for name in ("blocklist", "full")
    }
    return {
        "heldout_prompts": len(rows),
        "heldout_harmful": sum(r["label"] for r in rows),
        "heldout_hard_benign": sum(bool(r.get("hard")) for r in rows),
        "obfuscation_seed": seed,
        "results": results,
        "hard_benign_all_splits": {"prompts": len(hard), "fpr": hard_fpr},
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    from common import print_table, write_result

    out = evaluate_text_guard()
    rows = []
    for variant, r in out["results"].items():
        rows.append(
            {
                "variant": variant,
                "blocklist P": f"{r['blocklist']['precision']:.3f}",
                "blocklist R": f"{r['blocklist']['recall']:.3f}",
                "full P": f"{r['full']['precision']:.3f}",
                "full R": f"{r['full']['recall']:.3f}",
                "full FPR": f"{r['full']['fpr']:.3f}",
                "full hard-benign FPR": f"{r['full']['hard_benign_fpr']:.3f}",
            }
        )
    print_table(
        f"Text pre-guard on {out['heldout_prompts']} held-out prompts ({out['heldout_harmful']} harmful, "
        f"{out['heldout_hard_benign']} hard benign)",
        rows,
    )
    print(
        f"hard benign prompts, all splits ({out['hard_benign_all_splits']['prompts']}): FPR {out['hard_benign_all_splits']['fpr']}"
    )
    print(f"wrote {write_result('guardrails_text', out)}")


if __name__ == "__main__":
    main()
