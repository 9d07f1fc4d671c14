"""What every training recipe does the same way around its model: the distributed run skeleton
(`run_training`), seeding the initial weights (`seeded_model`), the export folder's training record
(`training_record`, `write_text_atomic`) and the shared lines of its model card.

A recipe module supplies only what differs: a `prepare` function that builds the model, task, data,
resume fingerprint, start-up message and export for one rank (`RunParts`).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worldfm.errors import ConfigError
from worldfm.train import distributed as wdist
from worldfm.train.recipes.common import drop_later_defaults
from worldfm.train.recipes.data import DataSpec
from worldfm.train.trainer import Trainer, TrainResult

EXPORT_DIR = "export"  # run folder / EXPORT_DIR: what a finished run ships
RECORD_FILE = "training_record.json"
GUARDRAILS_NOTE = (
    "- Guardrails: on by default in every pipeline (prompt pre-guard, face blur and content checks on "
    "outputs, fail closed); outputs carry the worldfm watermark and, as mp4, a signed C2PA manifest.\n\n"
)
RECORD_NOTE = f"Recipe and full record: `{RECORD_FILE}`.\n"

Log = Callable[[str], None]


@dataclass
class RunParts:
    """What a recipe builds on each rank before training (see `run_training`).

    model: the network to train (same initial weights on every rank, see `seeded_model`).
    task: the `TrainTask` (loss, batch size, validation).
    train_data / val_data: map-style datasets with `epoch_indices` (val_data may be None).
    fingerprint: JSON-able settings a resumed run must share with the checkpoint.
    banner: the one-line summary logged on rank 0 once the trainer is built.
    export: `(trainer, result, export_dir, log) -> folder` run on rank 0 after training.
    """

    model: nn.Module
    task: Any
    train_data: Any
    val_data: Any
    fingerprint: dict[str, Any]
    banner: str
    export: Callable[[Trainer, TrainResult, Path, Log | None], Path]


def seeded_model(build: Callable[[], nn.Module], seed: int, rank: int) -> nn.Module:
    """`build()` under `torch.manual_seed(seed)` (the same initial weights on every rank); the global
    RNG is then reseeded with `seed + rank`, a per-rank stream for the task's random draws."""
    torch.manual_seed(seed)
    model = build()
    torch.manual_seed(seed + rank)
    return model


def warm_start(
    model: nn.Module,
    weights: Mapping[str, torch.Tensor],
    source: str,
    new_prefixes: Collection[str] = (),
) -> nn.Module:
    """Load `weights` (a state dict of the same architecture, e.g. an earlier export) into `model` in
    place, cast to the model's dtypes; a missing, extra or reshaped tensor is a ConfigError naming
    `source`. Used by the recipes' `model.init_from` (fine-tuning a trained model with a new schedule
    or data; the optimizer, EMA and step count start fresh).

    `new_prefixes`: names of layers the model has and `source` lacks by design (e.g. residual blocks
    added to a decoder); their tensors may be missing and keep the model's own initial values."""
    own = model.state_dict()
    missing = sorted(k for k in set(own) - set(weights) if not k.startswith(tuple(new_prefixes)))
    extra = sorted(set(weights) - set(own))
    reshaped = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or extra or reshaped:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
            for what, keys in (("missing", missing), ("unexpected", extra), ("other shape", reshaped))
            if keys
        )
        raise ConfigError(f"model.init_from {source!r} does not fit this model's architecture ({detail})")
    model.load_state_dict({k: weights[k].to(own[k].dtype) if k in weights else own[k] for k in own})
    return model


def run_training(
    recipe: Any,
    out: str | os.PathLike[str],
    prepare: Callable[[wdist.DistInfo, Path, Log | None], RunParts],
    resume: bool = True,
    device: str | None = None,
    log: Log | None = None,
    until: int | None = None,
    losses: bool = False,
) -> dict[str, Any]:
    """Train `prepare(info, out, say)`'s model with `recipe.train` into run folder `out`, then export
    to `out/export` on rank 0.

    Works alone or under torchrun (one process per rank; `say` is `log` on rank 0, None elsewhere).
    `until` stops (checkpointed) after that many updates; `losses` adds the per-update losses to the
    summary. Returns {steps, stop_reason, wall_seconds, [losses], val, run_dir, export (rank 0)}."""
    out = Path(out)
    info = wdist.init_distributed(device)
    try:
        say = log if info.is_main else None
        parts = prepare(info, out, say)
        trainer = Trainer(
            parts.model,
            parts.task,
            parts.train_data,
            recipe.train,
            out,
            val_data=parts.val_data,
            dist_info=info,
            fingerprint=parts.fingerprint,
            log=log,
            fingerprint_compat=drop_later_defaults,
        )
        if say:
            say(parts.banner)
        result = trainer.fit(resume=resume, until=until)
        summary: dict[str, Any] = {
            "steps": result.step,
            "stop_reason": result.stop_reason,
            "wall_seconds": round(result.wall_seconds, 1),
        }
        if losses:
            summary["losses"] = [h["loss"] for h in result.history]
        summary.update(val=result.val, run_dir=str(out))
        if info.is_main:
            summary["export"] = str(parts.export(trainer, result, out / EXPORT_DIR, say))
        wdist.barrier()
    except BaseException:
        wdist.cleanup(wait=False)
        raise
    wdist.cleanup()
    return summary


# ----- the export folder's record and model card -----
def recipe_fields(recipe: Any) -> dict[str, Any]:
    """{"recipe": the recipe as a dict, "recipe_file": the file it came from (or None)}."""
    return {"recipe": recipe.to_dict(), "recipe_file": recipe.source}


def training_record(
    trainer: Trainer,
    result: TrainResult,
    parameters: int,
    head: Mapping[str, Any],
    tail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """training_record.json's content: `head` (names, recipe), the run's outcome and where it ran,
    `val` (the EMA model in float32 during training), `tail`, then versions and the UTC time."""
    return {
        **head,
        "steps": result.step,
        "stop_reason": result.stop_reason,
        "wall_seconds": round(result.wall_seconds, 1),
        "world_size": trainer.info.world_size,
        "device": str(trainer.device),
        "precision": trainer.precision,
        "parameters": parameters,
        "val": result.val,
        **(tail or {}),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def record_json(record: Mapping[str, Any]) -> str:
    """A training record as the file's text (indented JSON, trailing newline)."""
    return json.dumps(record, indent=2) + "\n"


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` through a hidden temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def score_exported(trainer: Trainer, model: nn.Module) -> dict[str, float] | None:
    """The task's validation scores of `model` (the exported weights as they load back) on the
    trainer's validation clips, batched as in training; None without validation data."""
    if trainer.val_data is None:
        return None
    bs = trainer.config.val_batch_size or trainer.config.batch_size
    loader = torch.utils.data.DataLoader(trainer.val_data, batch_size=bs)
    with torch.no_grad():
        batches = ({"video": b["video"].to(trainer.device)} for b in loader)
        return trainer.task.validate(model.eval(), batches)


def log_export(
    log: Log | None, name: str, dtype: str, out_dir: Path, scores: Mapping[str, float] | None
) -> None:
    """Log "exported NAME (DTYPE) to DIR: scores" (the scores of the exported weights, when any)."""
    if log:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in (scores or {}).items())
        log(f"exported {name} ({dtype}) to {out_dir}" + (f": {shown}" if shown else ""))


def scores_text(scores: Mapping[str, float] | None) -> str:
    """`"psnr 31.2, ssim 0.91"` (4 significant digits), or "not measured" when there are none."""
    return ", ".join(f"{k} {v:.4g}" for k, v in (scores or {}).items()) or "not measured"


def init_line(init_from: str | None) -> str:
    """The model card's line naming the weights a further training stage started from ("" without)."""
    return f"- Initial weights: `{init_from}` (a further training stage).\n" if init_from else ""


def data_line(data: DataSpec, held_out: bool = False) -> str:
    """The model card's training-data line: each simulated dataset and the clip length (and, with
    `held_out`, how many episodes of each dataset validation keeps)."""
    mixture = ", ".join(
        f"{d.scenario} ({d.episodes} episodes x {d.frames} frames, {d.size}px)" for d in data.datasets
    )
    line = f"- Training data: worldfm sim mixture: {mixture}; clips of {data.clip_length} frames"
    if held_out:
        line += f"; last {data.val_episodes} episodes of each dataset held out"
    return line + ".\n"


def training_line(
    recipe: Any, result: TrainResult, record: Mapping[str, Any], unit: str, extra: str = ""
) -> str:
    """The model card's training line: steps x batch (of `unit`, e.g. "clips") x ranks, `extra`,
    minutes, seed and EMA decay."""
    train = recipe.train
    return (
        f"- Training: {result.step} steps of {train.batch_size} x {record['world_size']} {unit}{extra}, "
        f"{record['wall_seconds'] / 60:.1f} min, seed {train.seed}; weights are the EMA (decay {train.ema_decay}).\n"
    )
