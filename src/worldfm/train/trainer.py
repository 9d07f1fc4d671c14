"""A generic training loop for worldfm models: AdamW with warmup + cosine, optional bf16 autocast,
gradient accumulation and clipping, EMA weights, atomic checkpoints with exact resume, JSONL and
console logging, periodic validation, and DistributedDataParallel under torchrun.

The loop knows nothing about tokenizers or diffusion: a `TrainTask` turns a batch into a loss and
scores a model on validation batches. The recipes (`worldfm.train.recipes`) build the model, the
data and the task, call `Trainer.fit`, and export the EMA weights.

Exact resume. A checkpoint holds the model, EMA, optimizer, step, every rank's RNG states (Python,
numpy, torch) and the data position (micro-batches consumed). The data order is a pure function of
(seed, epoch) and the rank, and batches are addressed by position, so a resumed run skips straight to
the next unseen batch without reading the earlier ones. The task gets a generator seeded from
(seed, step, micro-batch) for its own random choices (e.g. crops, single-frame batches), identical on
every rank so that shapes agree under DDP. Trained N steps, stopped, resumed for M more, a run gives
bit-for-bit the losses of an uninterrupted N + M step run (on the same machine and thread count).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from worldfm.errors import ConfigError, WorldfmError
from worldfm.train import distributed as wdist
from worldfm.train.checkpoint import (
    capture_rng_state,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from worldfm.train.ema import EMA
from worldfm.train.schedule import warmup_cosine

CHECKPOINT_FORMAT = 1
LOG_FILE = "log.jsonl"
PRECISIONS = ("auto", "fp32", "bf16")


class TrainingError(WorldfmError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""


# Fewest warmup steps with which `fit_minutes` can measure a pace (it skips the first half of warmup).
FIT_MIN_WARMUP = 10


def fitted_max_steps(max_steps: int, step: int, pace_s: float, remaining_s: float) -> int:
    """The schedule length that fits a wall-time budget: `step` updates done, `remaining_s` seconds left,
    `pace_s` seconds per update; never more than `max_steps`, never fewer than `step` + 1."""
    fit = step + int(max(remaining_s, 0.0) // max(pace_s, 1e-9))
    return max(step + 1, min(max_steps, fit))


@dataclass(frozen=True)
class TrainerConfig:
    """Settings of the loop (model- and data-independent). Sizes are per rank.

    - max_steps: optimizer updates in total (the cosine schedule ends here).
    - max_minutes: stop cleanly (checkpoint, then return) after this much wall time in this call.
    - fit_minutes: size the schedule to this wall-time budget (e.g. a GPU lease): when warmup ends,
      max_steps becomes the smaller of itself and the steps that fit in what is left of the budget at
      the pace of the last warmup steps (`fitted_max_steps`); the checkpoints keep the fitted value, so
      a resumed run keeps its schedule. Needs warmup_steps >= 10. Pair it with max_minutes as a guard.
    - batch_size: clips per micro-batch on each rank; grad_accum: micro-batches per update.
    - lr, min_lr_ratio, warmup_steps: AdamW peak rate, floor as a fraction of it, linear warmup length.
    - weight_decay, betas: AdamW; no decay on biases and norm weights (parameters with ndim < 2).
    - grad_clip: clip the global gradient norm to this (None: no clipping; the norm is logged anyway).
    - ema_decay, ema_warmup: see `worldfm.train.ema`.
    - precision: "fp32", "bf16" (autocast) or "auto": bf16 on CUDA, fp32 on CPU. Measured on the
      2-core AVX-512 dev machine, bf16 autocast made conv-net training steps several times slower
      on CPU (oneDNN bf16 convolution backward is slow there), so CPU defaults to fp32.
    - log_every: console line every k updates (every update goes to the JSONL log).
    - val_every: validate the EMA model every k updates (0: only at the end).
    - ckpt_every_steps / ckpt_every_minutes: checkpoint when either is reached (0 disables that trigger).
    - keep_checkpoints: newest checkpoints kept on disk.
    - seed: model init, data order and per-step generators derive from it.
    - num_workers: DataLoader worker processes per rank (0: load in the training process).
    - val_batch_size: batch size for validation (default: batch_size).
    - threads: torch CPU threads of this process (None: torch's default, or cores / ranks under
      torchrun). On a shared machine fewer threads than cores can be much faster: a busy core makes
      every multi-threaded op wait for its slowest thread.
    - ddp_find_unused: let DDP handle parameters that get no gradient in some steps (e.g. temporal
      layers on single-frame batches).
    """

    max_steps: int = 1000
    max_minutes: float | None = None
    fit_minutes: float | None = None
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float | None = 1.0
    ema_decay: float = 0.999
    ema_warmup: bool = True
    precision: str = "auto"
    log_every: int = 10
    val_every: int = 0
    ckpt_every_steps: int = 500
    ckpt_every_minutes: float = 10.0
    keep_checkpoints: int = 2
    seed: int = 0
    num_workers: int = 0
    val_batch_size: int | None = None
    threads: int | None = None
    ddp_find_unused: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.betas, list):
            object.__setattr__(self, "betas", tuple(self.betas))

        def bad(key: str, expected: str) -> ConfigError:
            return ConfigError(f"train.{key} must be {expected}, got {getattr(self, key)!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        for key in ("max_steps", "batch_size", "grad_accum", "log_every", "keep_checkpoints"):
            if not is_int(getattr(self, key)) or getattr(self, key) < 1:
                raise bad(key, "an integer >= 1")
        for key in ("warmup_steps", "val_every", "ckpt_every_steps", "num_workers", "seed"):
            if not is_int(getattr(self, key)) or getattr(self, key) < 0:
                raise bad(key, "an integer >= 0")
        if self.threads is not None and (not is_int(self.threads) or self.threads < 1):
            raise bad("threads", "an integer >= 1 or null")
        if self.val_batch_size is not None and (not is_int(self.val_batch_size) or self.val_batch_size < 1):
            raise bad("val_batch_size", "an integer >= 1 or null")
        if not is_num(self.lr) or self.lr <= 0:
            raise bad("lr", "a number > 0")
        if not is_num(self.min_lr_ratio) or not 0 <= self.min_lr_ratio <= 1:
            raise bad("min_lr_ratio", "a number in [0, 1]")
        if not is_num(self.weight_decay) or self.weight_decay < 0:
            raise bad("weight_decay", "a number >= 0")
        if (
            not isinstance(self.betas, tuple)
            or len(self.betas) != 2
            or not all(is_num(b) and 0 <= b < 1 for b in self.betas)
        ):
            raise bad("betas", "two numbers in [0, 1)")
        if self.grad_clip is not None and (not is_num(self.grad_clip) or self.grad_clip <= 0):
            raise bad("grad_clip", "a number > 0 or null")
        if not is_num(self.ema_decay) or not 0 <= self.ema_decay < 1:
            raise bad("ema_decay", "a number in [0, 1)")
        if not isinstance(self.ema_warmup, bool):
            raise bad("ema_warmup", "true or false")
        if not isinstance(self.ddp_find_unused, bool):
            raise bad("ddp_find_unused", "true or false")
        if self.precision not in PRECISIONS:
            raise bad("precision", f"one of {PRECISIONS}")
        if self.max_minutes is not None and (not is_num(self.max_minutes) or self.max_minutes <= 0):
            raise bad("max_minutes", "a number > 0 or null")
        if self.fit_minutes is not None:
            if not is_num(self.fit_minutes) or self.fit_minutes <= 0:
                raise bad("fit_minutes", "a number > 0 or null")
            if self.warmup_steps < FIT_MIN_WARMUP:
                raise ConfigError(
                    f"train.fit_minutes needs train.warmup_steps >= {FIT_MIN_WARMUP} (the pace is measured "
                    f"during warmup), got {self.warmup_steps}"
                )
        if not is_num(self.ckpt_every_minutes) or self.ckpt_every_minutes < 0:
            raise bad("ckpt_every_minutes", "a number >= 0")

    def replace(self, **changes: Any) -> TrainerConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out


@runtime_checkable
class TrainTask(Protocol):
    """What a model family supplies to the loop.

    loss(model, batch, step, generator) -> (loss, terms): `model` may be a DDP wrapper (call it, do
        not reach into it); `batch` is already on the device; `generator` (CPU) is seeded from
        (seed, step, micro-batch) and identical on every rank (use it for choices that change
        shapes, e.g. single-frame batches; draw per-sample noise, e.g. diffusion noise or
        conditioning dropout, from the global torch RNG, which is seeded per rank and restored on
        resume); `terms` maps names to scalar tensors for logging. Runs under the trainer's autocast.
    batch_size(batch) -> int: clips in the batch (for the clips/s figure).
    validate(model, batches) -> {metric: float}: score the EMA model (eval mode, no grad, on the
        device) on validation batches (already on the device).
    """

    def loss(
        self, model: nn.Module, batch: Any, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]: ...

    def batch_size(self, batch: Any) -> int: ...

    def validate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]: ...


@dataclass
class TrainResult:
    """What `Trainer.fit` returns (on every rank; only rank 0 wrote files)."""

    step: int
    stop_reason: str  # "max_steps", "max_minutes" or "until"
    wall_seconds: float  # training wall time over all sessions of this run
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per update of this call
    val: dict[str, float] = field(default_factory=dict)  # last validation scores (EMA model)
    resumed_from: int | None = None


def _seed_from(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def step_generator(seed: int, step: int, micro: int) -> torch.Generator:
    """The CPU generator the task gets for micro-batch `micro` of update `step`."""
    return torch.Generator().manual_seed(_seed_from(seed, step, micro))


def default_epoch_order(n: int, seed: int, epoch: int, rank: int, world_size: int) -> np.ndarray:
    """Indices this rank visits in `epoch`: a permutation of range(n) by (seed, epoch), cut into
    `world_size` contiguous near-equal parts."""
    order = np.random.default_rng([int(seed), int(epoch)]).permutation(n)
    return order[n * rank // world_size : n * (rank + 1) // world_size]


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) dict/list/tuple batch to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


class _BatchSampler:
    """Infinite batch sampler over epochs, starting at a data position (epoch, batch in epoch).

    Each epoch yields the first `batches_per_epoch * batch_size` indices of the rank's order (the
    remainder is dropped so every rank takes the same number of steps)."""

    def __init__(
        self,
        order: Callable[[int], Sequence[int]],
        batch_size: int,
        batches_per_epoch: int,
        start: int,
    ) -> None:
        self.order, self.batch_size, self.per_epoch, self.start = order, batch_size, batches_per_epoch, start

    def __iter__(self) -> Iterator[list[int]]:
        epoch, b = divmod(self.start, self.per_epoch)
        while True:
            idx = np.asarray(self.order(epoch))
            for i in range(b, self.per_epoch):
                yield [int(j) for j in idx[i * self.batch_size : (i + 1) * self.batch_size]]
            epoch, b = epoch + 1, 0


def _format_seconds(s: float) -> str:
    s = max(0, round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s"


class Trainer:
    """Train `model` on `train_data` with `task`; files go to `run_dir` (rank 0 only).

    model: the network (on any device; moved to the run's device). Build it with the run's seed
        before creating the Trainer so every rank starts from the same weights.
    task: a `TrainTask`.
    train_data: a map-style dataset (`__len__`, `__getitem__`). If it has `epoch_indices(epoch)`,
        that gives this rank's visiting order for the epoch (e.g. `ClipPositions` over a
        `ClipDataset` with its own shuffle and sharding); otherwise the order is
        `default_epoch_order(len, seed, epoch, rank, world_size)`.
    val_data: a map-style dataset scored by `task.validate` (rank 0), or None.
    fingerprint: JSON-able settings that must not change when resuming (model, data, loss); a
        resumed run with a different fingerprint raises ConfigError naming the keys.
    log: where console lines go (default: stderr, rank 0 only).
    fingerprint_compat: applied to the saved and the current fingerprint before they are compared
        (e.g. `drop_later_defaults`: config fields added since the checkpoint, at their "as before"
        value, do not stop a resume).
    """

    def __init__(
        self,
        model: nn.Module,
        task: TrainTask,
        train_data: Dataset,
        config: TrainerConfig,
        run_dir: str | os.PathLike[str],
        val_data: Dataset | None = None,
        dist_info: wdist.DistInfo | None = None,
        fingerprint: Mapping[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        fingerprint_compat: Callable[[Any], Any] | None = None,
    ) -> None:
        if not isinstance(config, TrainerConfig):
            raise ConfigError(f"config must be a TrainerConfig, got {type(config).__name__}")
        self.config = config
        self.info = dist_info or wdist.DistInfo()
        self.device = self.info.device
        self.run_dir = Path(run_dir)
        self.task = task
        self.train_data = train_data
        self.val_data = val_data
        self.collate_fn = collate_fn
        self.fingerprint = {
            **dict(fingerprint or {}),
            "trainer": {k: config.to_dict()[k] for k in ("batch_size", "grad_accum", "seed")},
            "world_size": self.info.world_size,
        }
        self.fingerprint_compat = fingerprint_compat or (lambda fp: fp)
        self._log_fn = log
        self.model = model.to(self.device)
        self.ema = EMA(self.model, decay=config.ema_decay, warmup=config.ema_warmup)
        decay, no_decay = [], []
        for p in self.model.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        groups = [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=config.lr, betas=config.betas
        )
        if self.info.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net: nn.Module = DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=config.ddp_find_unused
            )
        else:
            self.net = self.model
        self.step = 0
        self.consumed = 0  # micro-batches taken from the data so far (this rank; equal on all ranks)
        self.elapsed_before = 0.0  # wall seconds of earlier sessions of this run
        self.last_val: dict[str, float] = {}
        # A resumed fit_minutes run whose configured max_steps (e.g. --max-steps) is below the fitted
        # schedule stops there, keeping the schedule (as `until` does), instead of running it out.
        self.step_cap: int | None = None
        self._batches_per_epoch: int | None = None

    # ----- helpers -----
    @property
    def precision(self) -> str:
        if self.config.precision == "auto":
            return "bf16" if self.device.type == "cuda" else "fp32"
        return self.config.precision

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context training and validation run under."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def log(self, message: str) -> None:
        if not self.info.is_main:
            return
        if self._log_fn is not None:
            self._log_fn(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def _write_jsonl(self, record: dict[str, Any]) -> None:
        if not self.info.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=float) + "\n")

    def epoch_order(self, epoch: int) -> Sequence[int]:
        """This rank's dataset indices for `epoch`, in visiting order."""
        if hasattr(self.train_data, "epoch_indices"):
            return self.train_data.epoch_indices(epoch)  # type: ignore[attr-defined]
        return default_epoch_order(
            len(self.train_data),  # type: ignore[arg-type]
            self.config.seed,
            epoch,
            self.info.rank,
            self.info.world_size,
        )

    @property
    def batches_per_epoch(self) -> int:
        if self._batches_per_epoch is None:
            local = len(self.epoch_order(0)) // self.config.batch_size
            n = wdist.all_reduce_min(local)
            if n < 1:
                raise ConfigError(
                    f"the training data gives {len(self.epoch_order(0))} items per rank, fewer than one "
                    f"batch of {self.config.batch_size}; lower train.batch_size or add data"
                )
            self._batches_per_epoch = n
        return self._batches_per_epoch

    def data_position(self) -> dict[str, int]:
        epoch, batch = divmod(self.consumed, self.batches_per_epoch)
        return {"consumed_batches": self.consumed, "epoch": epoch, "batch_in_epoch": batch}

    def _loader(self) -> Iterator[Any]:
        sampler = _BatchSampler(
            self.epoch_order, self.config.batch_size, self.batches_per_epoch, self.consumed
        )
        kwargs: dict[str, Any] = {}
        if self.config.num_workers > 0:
            kwargs.update(persistent_workers=False, prefetch_factor=2)
        if self.device.type == "cuda":
            kwargs.update(pin_memory=True)
        loader = DataLoader(
            self.train_data,
            batch_sampler=sampler,
            num_workers=self.config.num_workers,
            collate_fn=self.collate_fn,
            # An own generator keeps the loader from drawing on the global torch RNG, whose state
            # the checkpoint restores (otherwise a resumed run would draw at a different point).
            generator=torch.Generator().manual_seed(self.config.seed),
            **kwargs,
        )
        return iter(loader)

    def lr_at(self, step: int) -> float:
        c = self.config
        return c.lr * warmup_cosine(step, c.warmup_steps, c.max_steps, c.min_lr_ratio)

    # ----- checkpoints -----
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly (collective: call on every rank)."""
        rng = capture_rng_state()
        if self.info.distributed:
            import torch.distributed as dist

            gathered: list[Any] = [None] * self.info.world_size
            dist.all_gather_object(gathered, rng)
            rng_all = gathered
        else:
            rng_all = [rng]
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "data": self.data_position(),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {
                "kind": "warmup_cosine",
                "lr": self.config.lr,
                "warmup_steps": self.config.warmup_steps,
                "total_steps": self.config.max_steps,
                "min_lr_ratio": self.config.min_lr_ratio,
                "next_lr": self.lr_at(self.step),
            },
            "rng": rng_all,
            "config": self.config.to_dict(),
            "fingerprint": self.fingerprint,
            "elapsed_s": self.elapsed_before + self._session_seconds(),
            "val": self.last_val,
        }

    def save(self) -> Path | None:
        """Checkpoint now (collective); returns the path on rank 0."""
        state = self.state_dict()
        path = None
        if self.info.is_main:
            path = save_checkpoint(state, self.run_dir, self.step, keep=self.config.keep_checkpoints)
        wdist.barrier()
        return path

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()` (on every rank)."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise WorldfmError(f"checkpoint format {state.get('format')!r} is not {CHECKPOINT_FORMAT}")
        saved = self.fingerprint_compat(json.loads(json.dumps(state.get("fingerprint", {}), default=str)))
        now = self.fingerprint_compat(json.loads(json.dumps(self.fingerprint, default=str)))
        if saved != now:
            keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
            raise ConfigError(
                f"cannot resume: settings {keys} differ from the checkpoint's "
                f"({ {k: saved.get(k) for k in keys} } vs now { {k: now.get(k) for k in keys} }); "
                "use a new --out folder or restore the old settings"
            )
        if self.config.fit_minutes is not None and int(state["step"]) >= self.config.warmup_steps:
            # the schedule sized in the first call
            fitted = int(state["scheduler"]["total_steps"])
            self.step_cap = self.config.max_steps if self.config.max_steps < fitted else None
            self.config = self.config.replace(max_steps=fitted)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.consumed = int(state["data"]["consumed_batches"])
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.last_val = dict(state.get("val", {}))
        restore_rng_state(state["rng"][self.info.rank])

    def resume(self) -> int | None:
        """Load the latest checkpoint of `run_dir` if there is one; returns its step."""
        path = latest_checkpoint(self.run_dir)
        if path is None:
            return None
        self.load_state_dict(load_checkpoint(path))
        return self.step

    # ----- validation -----
    def validate(self) -> dict[str, float]:
        """Score the EMA model on `val_data` (rank 0; others wait). Returns {} without val data."""
        scores: dict[str, float] = {}
        rng = capture_rng_state()  # validation must not shift training's random streams
        if self.val_data is not None and self.info.is_main:
            loader = DataLoader(
                self.val_data,
                batch_size=self.config.val_batch_size or self.config.batch_size,
                shuffle=False,
                num_workers=0,
                collate_fn=self.collate_fn,
            )
            batches = (to_device(b, self.device) for b in loader)
            with torch.no_grad(), self.autocast():
                scores = {k: float(v) for k, v in self.task.validate(self.ema.module, batches).items()}
        restore_rng_state(rng)
        wdist.barrier()
        if self.info.distributed:
            import torch.distributed as dist

            box = [scores]
            dist.broadcast_object_list(box, src=0)
            scores = box[0]
        return scores

    # ----- the loop -----
    def _session_seconds(self) -> float:
        return time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0

    def fit(self, resume: bool = True, until: int | None = None) -> TrainResult:
        """Train until `max_steps` updates (or `max_minutes`), checkpointing and validating on the way.

        resume: continue from the latest checkpoint in `run_dir` if there is one. With False, a
            run folder that already holds checkpoints is an error (nothing is overwritten).
        until: stop (and checkpoint) once this many updates are done, without changing the
            schedule, which still runs to `max_steps`; a later `fit` continues (stop_reason "until").
            A resumed `fit_minutes` run keeps its fitted schedule, and a configured `max_steps` below
            it stops the run there in the same way.
        """
        c = self.config
        if c.threads is not None and self.device.type == "cpu":
            torch.set_num_threads(c.threads)
        resumed_from = None
        if resume:
            resumed_from = self.resume()
        elif list_checkpoints(self.run_dir):
            raise ConfigError(
                f"{self.run_dir} already holds checkpoints; resume from them or pick another output folder"
            )
        c = self.config  # a resumed fit_minutes run takes its fitted max_steps from the checkpoint
        self._t0 = time.perf_counter()
        last_ckpt_time, last_ckpt_step = self._t0, self.step
        start_step = self.step
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self._write_jsonl(
            {
                "event": "resume" if resumed_from is not None else "start",
                "step": self.step,
                "world_size": self.info.world_size,
                "precision": self.precision,
                "device": str(self.device),
                **self.data_position(),
            }
        )
        self.log(
            f"{'resumed at' if resumed_from is not None else 'starting at'} step {self.step}/{c.max_steps} on "
            f"{self.info.world_size} x {self.device} ({self.precision}), "
            f"{self.batches_per_epoch} batches of {c.batch_size} per epoch per rank"
        )
        history: list[dict[str, float]] = []
        stop_reason = "max_steps"
        target = min(int(x) for x in (c.max_steps, until, self.step_cap) if x is not None)
        if target < c.max_steps:
            stop_reason = "until"
        batches = self._loader() if self.step < target else iter(())
        window_t, window_clips, window_steps = time.perf_counter(), 0, 0
        # fit_minutes: the pace is timed over the second half of warmup (the first steps pay for
        # allocator and kernel warm-up), from the step recorded here to the end of warmup.
        fit_from = (
            max(start_step, c.warmup_steps // 2)
            if c.fit_minutes is not None and start_step < c.warmup_steps
            else None
        )
        fit_t = time.perf_counter()
        params = [p for p in self.model.parameters() if p.requires_grad]
        while self.step < target:
            elapsed_min = (time.perf_counter() - self._t0) / 60
            if wdist.broadcast_flag(c.max_minutes is not None and elapsed_min >= c.max_minutes):
                stop_reason = "max_minutes"
                break
            lr = self.lr_at(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.net.train()
            sums: dict[str, torch.Tensor] = {}
            clips = 0
            for micro in range(c.grad_accum):
                batch = to_device(next(batches), self.device)
                self.consumed += 1
                clips += self.task.batch_size(batch)
                gen = step_generator(c.seed, self.step, micro)
                last = micro == c.grad_accum - 1
                sync = contextlib.nullcontext() if last or not self.info.distributed else self.net.no_sync()  # type: ignore[operator]
                with sync:
                    with self.autocast():
                        loss, terms = self.task.loss(self.net, batch, self.step, gen)
                    (loss / c.grad_accum).backward()
                for name, value in {"loss": loss, **terms}.items():
                    # a task may report a term made on the CPU (e.g. a sampled window position)
                    v = torch.as_tensor(value).detach().float().to(loss.device)
                    sums[name] = sums[name] + v if name in sums else v
            # Mean over micro-batches and ranks, in one collective; every rank then sees the same values,
            # so a NaN on any rank stops all of them (before the update touches the weights).
            names = list(sums)
            means = wdist.all_reduce_mean(torch.stack([sums[n] for n in names]) / c.grad_accum).tolist()
            max_norm = c.grad_clip if c.grad_clip is not None else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            if not (math.isfinite(means[0]) and torch.isfinite(grad_norm)):
                raise TrainingError(
                    f"loss {means[0]}, gradient norm {float(grad_norm)} at step {self.step}: training diverged; "
                    f"lower train.lr, raise train.warmup_steps or check the data (last checkpoint: "
                    f"{latest_checkpoint(self.run_dir)})"
                )
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.ema.update(self.model)
            self.step += 1
            if fit_from is not None and self.step == fit_from:
                fit_t = time.perf_counter()
            if fit_from is not None and self.step == c.warmup_steps and self.step > fit_from:
                c, target = self._fit_schedule(c, fit_from, fit_t, until)
                stop_reason = "until" if target < c.max_steps else "max_steps"
            record: dict[str, float] = {"step": self.step, **dict(zip(names, means, strict=True))}
            record.update(lr=lr, grad_norm=float(grad_norm))
            history.append(record)
            window_clips += clips * self.info.world_size
            window_steps += 1
            self._write_jsonl(
                {
                    **record,
                    "clips": clips * self.info.world_size,
                    "elapsed_s": round(self._session_seconds(), 3),
                }
            )
            if self.step % c.log_every == 0 or self.step == c.max_steps:
                now = time.perf_counter()
                rate = window_clips / max(now - window_t, 1e-9)
                step_s = (now - window_t) / max(window_steps, 1)
                eta = (c.max_steps - self.step) * step_s
                if c.max_minutes is not None:
                    eta = min(eta, c.max_minutes * 60 - (now - self._t0))
                extra = " ".join(f"{n} {record[n]:.4f}" for n in names if n != "loss")
                self.log(
                    f"step {self.step}/{c.max_steps} | loss {record['loss']:.4f}"
                    + (f" ({extra})" if extra else "")
                    + f" | lr {lr:.2e} | gnorm {float(grad_norm):.3f} | {rate:.1f} clips/s | "
                    f"{step_s:.2f} s/step | eta {_format_seconds(eta)}"
                )
                window_t, window_clips, window_steps = now, 0, 0
            if c.val_every and self.step % c.val_every == 0 and self.step < c.max_steps:
                self._run_validation()
            now = time.perf_counter()
            due = (c.ckpt_every_steps and self.step % c.ckpt_every_steps == 0) or (
                c.ckpt_every_minutes and now - last_ckpt_time >= c.ckpt_every_minutes * 60
            )
            if wdist.broadcast_flag(bool(due)) and self.step < c.max_steps:
                self.save()
                last_ckpt_time, last_ckpt_step = time.perf_counter(), self.step
        del batches  # stops DataLoader workers
        if self.val_data is not None and (self.step > start_step or not self.last_val):
            self._run_validation()
        if self.step != last_ckpt_step or resumed_from is None:  # the same decision on every rank
            self.save()
        wall = self.elapsed_before + self._session_seconds()
        self._write_jsonl({"event": "end", "step": self.step, "stop_reason": stop_reason, "wall_s": wall})
        self.log(f"stopped at step {self.step} ({stop_reason}) after {_format_seconds(wall)} of training")
        return TrainResult(self.step, stop_reason, wall, history, dict(self.last_val), resumed_from)

    def _fit_schedule(
        self, c: TrainerConfig, fit_from: int, fit_t: float, until: int | None
    ) -> tuple[TrainerConfig, int]:
        """At the end of warmup: size max_steps to what is left of `fit_minutes` (same value on every
        rank: the ranks' mean pace and budget); returns the new config and loop target."""
        assert c.fit_minutes is not None
        now = time.perf_counter()
        measured = torch.tensor(
            [(now - fit_t) / (self.step - fit_from), c.fit_minutes * 60 - (now - self._t0)]
        )
        pace, remaining = wdist.all_reduce_mean(measured).tolist()
        new_max = fitted_max_steps(c.max_steps, self.step, pace, remaining)
        if new_max != c.max_steps:
            self.config = c = c.replace(max_steps=new_max)
        self._write_jsonl(
            {
                "event": "fit",
                "step": self.step,
                "pace_s": pace,
                "remaining_s": remaining,
                "max_steps": c.max_steps,
            }
        )
        self.log(
            f"fit_minutes {c.fit_minutes:g}: {pace:.3f} s/step over steps {fit_from}-{self.step}, "
            f"{remaining:.0f} s left -> max_steps {c.max_steps}"
        )
        return c, (c.max_steps if until is None else min(int(until), c.max_steps))

    def _run_validation(self) -> None:
        t = time.perf_counter()
        scores = self.validate()
        if not scores:
            return
        self.last_val = scores
        self._write_jsonl({"event": "val", "step": self.step, **{f"val/{k}": v for k, v in scores.items()}})
        shown = " ".join(f"{k} {v:.4g}" for k, v in scores.items())
        self.log(f"val @ step {self.step} (EMA): {shown} [{time.perf_counter() - t:.1f} s]")
