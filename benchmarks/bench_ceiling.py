"""World-model ceilings of tokenizers and refiners: the true future through a decode path, scored as models are.

A world model over a tokenizer's latents can at best predict the true future's latents; what the
pipeline then shows is the tokenizer's decoding of them, with the detail restore or a learned detail
refiner behind it. This benchmark scores that ceiling on bench_predict's held-out clips, with its
judge and horizons, beside copy-last, for any tokenizer / refiner pairs, before any world model is
trained over them: whether a decode path can beat copy-last at all is decided here.

    python benchmarks/bench_ceiling.py [--pipeline MODEL ...] [--pair TOKENIZER=REFINER ...] [--episodes 16]
        [--out benchmarks/results/predict_ceiling.json]

MODEL: a world model (a shipped name such as `ar-nano`, or a pipeline folder), scored through its own
tokenizer and refiner (restore only where it has none) and labelled by the name given; TOKENIZER: a
tokenizer tier or folder; REFINER: a refiner folder, or `none` (restore only). Without either: the
shipped predict-nano pipeline's own tokenizer and refiner. Rows per
pair, scenario and k (1 and 9 conditioning frames): `as decoded`, `restore` (the hand-made detail
restore at the pipeline's tolerance for --pipeline, else the refiner's, or 0.1) and `refine`, then `copy-last`; PSNR of the pooled MSE and
mean object IoU at horizon 16 and over the 16 frames.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_predict import COND_FRAMES, HORIZON, held_out_clips, reference_frames, score, summarize, write_json
from common import print_table
from predict_baselines import copy_last
from worldfm.errors import WorldfmError
from worldfm.world.detail import DEFAULT_DETAIL_RESTORE

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "predict_ceiling.json"


def parse_pair(text: str) -> tuple[str, str | None]:
    """`TOKENIZER=REFINER` -> (tokenizer, refiner or None for `none`)."""
    tokenizer, sep, refiner = text.partition("=")
    if not sep or not tokenizer or not refiner:
        raise argparse.ArgumentTypeError(f"--pair must be TOKENIZER=REFINER (or =none), got {text!r}")
    return tokenizer, None if refiner == "none" else refiner


@dataclass(frozen=True)
class DecodePath:
    """One decode path to score: the tokenizer, the refiner (None: restore only) and the restore tolerance."""

    label: str
    tokenizer: Any
    refiner: Any | None
    tolerance: float

    def record(self) -> dict[str, Any]:
        """The JSON record of this path (what each row's `pair` names)."""
        return {"label": self.label, "tolerance": self.tolerance, "refined": self.refiner is not None}


def pair_path(label: str, tokenizer: Any, refiner: Any | None) -> DecodePath:
    """A `--pair` path: restored at the refiner's tolerance, or the default restore's without one."""
    tolerance = refiner.config.tolerance if refiner is not None else DEFAULT_DETAIL_RESTORE
    return DecodePath(label, tokenizer, refiner, tolerance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pair", type=parse_pair, action="append", default=None, help="TOKENIZER=REFINER|none (repeatable)"
    )
    parser.add_argument(
        "--pipeline",
        action="append",
        default=[],
        metavar="MODEL",
        help="world model name or pipeline folder: its own tokenizer and refiner (repeatable)",
    )
    parser.add_argument(
        "--episodes", type=int, default=16, help="held-out episodes per scenario (default 16)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON")
    args = parser.parse_args()
    if args.episodes < 1 or args.threads < 1:
        parser.error("need --episodes >= 1 and --threads >= 1")
    torch.set_num_threads(args.threads)
    from worldfm.tokenizers import VideoTokenizer
    from worldfm.world.load import load_world_pipeline
    from worldfm.world.refiner import DetailRefiner, check_refiner_fits

    if args.pair is None and not args.pipeline:  # the shipped Predict pipeline's decode path
        args.pipeline = ["predict-nano"]
    start = time.perf_counter()
    loaded, pairs = [], []  # every model and folder is read before any clip is simulated
    for model in args.pipeline:
        pipe = load_world_pipeline(model, guardrail="off", watermark=False)
        # restored at the pipeline's own tolerance, as bench_predict's reference rows are
        loaded.append(DecodePath(model, pipe.tokenizer.eval(), pipe.refiner, pipe.settings().detail_restore))
        pairs.append({**loaded[-1].record(), "pipeline": model})
    for tok_spec, ref_spec in args.pair or []:
        tokenizer = VideoTokenizer.from_pretrained(tok_spec).eval()
        refiner = None if ref_spec is None else DetailRefiner.from_pretrained(ref_spec)
        if refiner is not None:
            check_refiner_fits(refiner, tokenizer)  # a refiner behind another decoder measures nothing
        label = f"{tok_spec}" + (f" + {ref_spec}" if ref_spec else "")
        loaded.append(pair_path(label, tokenizer, refiner))
        pairs.append({**loaded[-1].record(), "tokenizer": tok_spec, "refiner": ref_spec})
    clips = held_out_clips(args.episodes, 64)
    rows: list[dict[str, Any]] = []
    for scenario, scenario_clips in clips.items():
        for k in COND_FRAMES:
            baseline = [
                {"episode": c.index, "scores": score(copy_last(c.frames[:k], HORIZON), c, k)}
                for c in scenario_clips
            ]
            rows.append(summarize(scenario, k, "copy-last", "reference", baseline))
            for path in loaded:
                scores: dict[str, list[dict[str, Any]]] = {}
                for clip in scenario_clips:
                    refs = reference_frames(path.tokenizer, path.refiner, clip, k, path.tolerance)
                    for variant, frames in refs.items():
                        scores.setdefault(variant, []).append(
                            {"episode": clip.index, "scores": score(frames, clip, k)}
                        )
                for variant, per_clip in scores.items():
                    rows.append(
                        summarize(
                            scenario, k, f"{path.label} {variant}", "reference", per_clip, pair=path.label
                        )
                    )
                print(f"{path.label} {scenario} k={k} done", flush=True)
    table = [
        {
            "scenario, k": f"{r['scenario']}, {r['cond_frames']}",
            "method": r["method"],
            "PSNR@16": f"{r['at'][str(HORIZON)]['psnr']:.2f}",
            "IoU@16": f"{r['at'][str(HORIZON)]['iou']:.3f}",
            "mean IoU": f"{r['mean_1_16']['iou']:.3f}",
        }
        for r in sorted(rows, key=lambda r: (r["scenario"], r["cond_frames"]))
    ]
    print_table(
        "decode-path ceilings (true future through tokenizer / restore / refiner) and copy-last", table
    )
    written = write_json(
        args.out,
        "predict_ceiling",
        {"episodes_per_scenario": args.episodes, "horizon": HORIZON, "pairs": pairs, "rows": rows,
         "seconds": time.perf_counter() - start},
    )  # fmt: skip
    print(f"wrote {written}")


if __name__ == "__main__":
    try:
        main()
    except (WorldfmError, OSError) as exc:  # a bad tokenizer or refiner folder: one line, not a traceback
        sys.exit(f"error: {exc}")
