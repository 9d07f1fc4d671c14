"""World-model samples for refiner training: a bank of a pipeline's own generated frames.

A refiner trained on true clips through the tokenizer (`recipes.refiner`) sees decoded frames of true
latents; at run time it sees decoded frames of latents a world model generated, which are blurrier
where the model is unsure and carry the model's own errors. The optional `samples` section of a
refiner recipe closes that gap: before training, the world model of `samples.pipeline` predicts the
future of `clips` simulator episodes (seeds disjoint from every training set) from their first k
frames, as `worldfm predict video2world` does, and the frames its tokenizer decoded before the detail
restore are kept with the true future frames. Training then draws part of each batch from this bank.

Between rolling windows the pipeline hands its restored frames on to the next window; the bank's
pipeline does that with the recipe's initial refiner (`model.init_from`), or with the hand-made
restore when there is none, never with a refiner of its folder: the bank depends on the recipe alone.

The bank is built in chunks of `CHUNK_CLIPS` clips under `<run>/samples/` (each written atomically
with the fingerprint of what made it), so an interrupted build resumes at its first missing chunk and
a finished one is read back as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldfm.errors import ConfigError

__all__ = ["CHUNK_CLIPS", "SampleBank", "SamplesSpec", "build_sample_bank", "sample_jobs"]

CHUNK_CLIPS = 50  # clips per bank file (the unit of resume)
BANK_KEYS = ("generated", "decoded_ref", "given_ref", "target")
VAL_EPISODE_OFFSET = 1_000_000  # validation clips use episode indices from here (never a training one)


@dataclass(frozen=True)
class SamplesSpec:
    """`samples` (optional section of a refiner recipe): world-model futures as refiner input.

    pipeline: the world-model pipeline (tier or folder) whose network samples; its tokenizer must be
    the recipe's. clips / val_clips: bank sizes for training and validation. scenarios: simulator
    scenarios, one after another; episode i of scenario j has seed `episode_seed(seed + j, i)`.
    cond_frames: conditioning lengths drawn per clip. actions: share of clips, in scenarios with
    actions, that are given the episode's actions. share: part of each training batch drawn from the
    bank (the rest: true clips through the tokenizer, as without this section). steps: sampler steps
    of a diffusion pipeline (None: its own). episode_frames and size: of the simulated episodes."""

    pipeline: str = ""
    clips: int = 0
    val_clips: int = 0
    scenarios: tuple[str, ...] = ("objects", "robot", "driving")
    seed: int = 71
    cond_frames: tuple[int, ...] = (1, 5, 9)
    actions: float = 0.5
    share: float = 1.0
    steps: int | None = None
    episode_frames: int = 33
    size: int = 64

    def __post_init__(self) -> None:
        from worldfm.sim.registry import SCENARIOS

        object.__setattr__(self, "scenarios", tuple(self.scenarios))
        object.__setattr__(self, "cond_frames", tuple(self.cond_frames))
        if not isinstance(self.pipeline, str) or not self.pipeline.strip():
            raise ConfigError("samples.pipeline must name a world-model pipeline")
        for key, low in (("clips", 1), ("val_clips", 0), ("seed", 0), ("episode_frames", 2), ("size", 8)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"samples.{key} must be an integer >= {low}, got {v!r}")
        unknown = [s for s in self.scenarios if s not in SCENARIOS]
        if not self.scenarios or unknown:
            raise ConfigError(
                f"samples.scenarios must be some of {sorted(SCENARIOS)}, got {list(self.scenarios)}"
            )
        if not self.cond_frames or not all(
            isinstance(k, int) and not isinstance(k, bool) and 1 <= k < self.episode_frames
            for k in self.cond_frames
        ):
            raise ConfigError(
                f"samples.cond_frames must be integers in 1..{self.episode_frames - 1}, got {list(self.cond_frames)}"
            )
        for key in ("actions", "share"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ConfigError(f"samples.{key} must be a number in [0, 1], got {v!r}")
        if self.share == 0:
            raise ConfigError("samples.share must be > 0 (leave the section out to train on true clips only)")
        if self.steps is not None and (
            isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1
        ):
            raise ConfigError(f"samples.steps must be an integer >= 1, got {self.steps!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scenarios"], data["cond_frames"] = list(self.scenarios), list(self.cond_frames)
        return data


@dataclass(frozen=True)
class SampleJob:
    """One bank clip: scenario, episode seed and index, conditioning length, with actions or not, and
    the sampling seed."""

    scenario: str
    episode_seed: int
    episode: int
    cond_frames: int
    with_actions: bool
    seed: int


def sample_jobs(spec: SamplesSpec, split: str) -> list[SampleJob]:
    """The bank's clips for `split` ("train": `spec.clips`, "val": `spec.val_clips`), a function of
    the spec alone: scenarios in turn, conditioning lengths and actions drawn from a generator seeded
    by the spec's seed and the split."""
    from worldfm.sim.registry import episode_seed, takes_actions

    count = spec.clips if split == "train" else spec.val_clips
    offset = 0 if split == "train" else VAL_EPISODE_OFFSET
    rng = np.random.default_rng([spec.seed, 0 if split == "train" else 1])
    jobs = []
    for c in range(count):
        j = c % len(spec.scenarios)
        scenario, episode = spec.scenarios[j], offset + c // len(spec.scenarios)
        k = int(spec.cond_frames[int(rng.integers(len(spec.cond_frames)))])
        acted = bool(rng.random() < spec.actions) and takes_actions(scenario)
        jobs.append(
            SampleJob(
                scenario,
                episode_seed(spec.seed + j, episode),
                episode,
                k,
                acted,
                spec.seed * 100_003 + offset + c,
            )
        )
    return jobs


class SampleBank:
    """Bank arrays, each `(N, F, H, W, 3)` uint8 (F = the horizon): `generated` (the world model's frames
    as its tokenizer decoded them), `decoded_ref` and `given_ref` (the reference frame of each frame's
    window, as decoded and as given: the refiner's other inputs) and `target` (the true frames)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = {k: arrays[k] for k in BANK_KEYS}

    def __len__(self) -> int:
        return int(self.arrays["generated"].shape[0])

    def frames(self, picks: list[tuple[int, list[int]]]) -> tuple[np.ndarray, ...]:
        """(generated, decoded_ref, given_ref, target), each `(N, H, W, 3)` uint8, for
        `picks[b] = (clip index, frame indices)`, concatenated in order."""
        return tuple(np.concatenate([self.arrays[key][c, ts] for c, ts in picks]) for key in BANK_KEYS)


def _fingerprint(spec: SamplesSpec, pipeline_digest: str, handoff: str, horizon: int, split: str) -> str:
    text = json.dumps(
        {
            "spec": {k: v for k, v in spec.to_dict().items() if k != "share"},  # share: training only
            "pipeline": pipeline_digest,
            "handoff": handoff,
            "horizon": horizon,
            "split": split,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def network_digest(pipeline: Any) -> str:
    """`weights_digest` of the world-model network (float32): what the bank was sampled from."""
    from worldfm.world.refiner import weights_digest

    return weights_digest(pipeline.transformer)


def sample_clip(pipeline: Any, job: SampleJob, horizon: int, spec: SamplesSpec) -> dict[str, np.ndarray]:
    """One bank clip: the episode simulated, its future from its first k frames sampled by `pipeline`,
    the frames its tokenizer decoded (before the restore) and each one's reference frame recorded."""
    from worldfm.sim.registry import generate_episode

    k = job.cond_frames
    ep = generate_episode(job.scenario, job.episode_seed, num_frames=spec.episode_frames, size=spec.size)
    if k + horizon > ep.frames.shape[0]:
        raise ConfigError(
            f"samples: cond_frames {k} + horizon {horizon} exceeds samples.episode_frames {spec.episode_frames}"
        )
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def observe(generated: np.ndarray, decoded_ref: np.ndarray, given_ref: np.ndarray) -> None:
        seen.append((generated[0].copy(), decoded_ref[0].copy(), given_ref[0].copy()))

    actions = (
        ep.actions[: k + horizon - 1].astype(np.float32)
        if job.with_actions and ep.actions is not None
        else None
    )
    extra = {"steps": spec.steps} if spec.steps is not None and hasattr(pipeline, "sampler") else {}
    pipeline.restore_observer = observe
    try:
        pipeline.generate(
            k + horizon,
            video=ep.frames[:k],
            cond_frames=k,
            actions=actions,
            seed=job.seed,
            fps=float(ep.fps),
            **extra,
        )
    finally:
        pipeline.restore_observer = None
    generated = np.concatenate([g for g, _, _ in seen])[:horizon]
    dref = np.concatenate([np.repeat(d[None], len(g), axis=0) for g, d, _ in seen])[:horizon]
    gref = np.concatenate([np.repeat(r[None], len(g), axis=0) for g, _, r in seen])[:horizon]
    return {
        "generated": generated,
        "decoded_ref": dref,
        "given_ref": gref,
        "target": ep.frames[k : k + horizon],
    }


def _write_chunk(path: Path, arrays: Mapping[str, np.ndarray], fingerprint: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, fingerprint=np.array(fingerprint), **arrays)
    os.replace(tmp, path)


def _read_chunk(path: Path, fingerprint: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path) as data:
            if str(data["fingerprint"]) != fingerprint:
                return None
            return {k: data[k] for k in BANK_KEYS}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # unreadable (e.g. cut short): made again


def build_sample_bank(
    spec: SamplesSpec,
    pipeline: Any,
    folder: Path,
    horizon: int,
    handoff: str,
    split: str = "train",
    log: Callable[[str], None] | None = None,
) -> SampleBank | None:
    """The bank of `split` under `folder` (made where missing or made by something else, read back
    otherwise); None for an empty split. `pipeline` samples with its refiner set as the caller wants
    for the hand-off between windows; `handoff` names it in the fingerprint."""
    jobs = sample_jobs(spec, split)
    if not jobs:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(spec, network_digest(pipeline), handoff, horizon, split)
    chunks = []
    for n in range(math.ceil(len(jobs) / CHUNK_CLIPS)):
        path = folder / f"{split}-{n:04d}.npz"
        arrays = _read_chunk(path, fingerprint) if path.is_file() else None
        if arrays is None:
            clips = [
                sample_clip(pipeline, job, horizon, spec)
                for job in jobs[n * CHUNK_CLIPS : (n + 1) * CHUNK_CLIPS]
            ]
            arrays = {k: np.stack([c[k] for c in clips]) for k in BANK_KEYS}
            _write_chunk(path, arrays, fingerprint)
            if log is not None:
                log(f"samples: {split} bank {min((n + 1) * CHUNK_CLIPS, len(jobs))}/{len(jobs)} clips")
        chunks.append(arrays)
    return SampleBank({k: np.concatenate([c[k] for c in chunks]) for k in BANK_KEYS})
