"""Sampling DV tokens from an `ARTransformer`: temperature, top-k, top-p, classifier-free guidance,
per-sample seeds, K futures in one batch, a KV cache, and rolling windows for long horizons.

Each FSQ level is sampled from its own small softmax (the head is factorised), so top-k and top-p
apply per level. A draw uses inverse-CDF sampling with one uniform number per level from the
sample's own `torch.Generator` (seeded `seed + i` for sample i): a sample's draws do not depend on
which other samples share its batch, so sample i of a K-sample run equals the run with seed + i
alone (up to float rounding of batched math flipping a draw that lands on a CDF boundary).

Classifier-free guidance runs the conditional and the unconditional batch together (2K rows) and
mixes the logits per level: `uncond + guidance * (cond - uncond)` (guidance 1 = no guidance).

Rolling: a window holds at most `sample_frames` latent frames. When more frames are wanted, the
next window starts from the last `roll_frames` latent frames' tokens of the one before (a fresh
cache prefilled with them, RoPE positions restarting at 0) and adds the frames after them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from worldfm.errors import ConfigError
from worldfm.world.autoregressive.decode import TokenStepper
from worldfm.world.autoregressive.transformer import ARContext, ARTransformer
from worldfm.world.consensus import check_consensus
from worldfm.world.detail import DEFAULT_DETAIL_RESTORE, check_detail_settings

Progress = Callable[[int, int], None]
# (first latent frame of the window in the whole sequence, frames in the window) -> (cond, uncond or None)
ContextFn = Callable[[int, int], tuple[ARContext, ARContext | None]]


@dataclass(frozen=True)
class ARSamplingConfig:
    """Default sampling settings saved with an AR pipeline.

    temperature: softmax temperature (0 = greedy, argmax per level). top_k: keep the k likeliest
    values of each level (0 = all). top_p: keep the smallest set of values of each level whose
    probability reaches p (1 = all). guidance: classifier-free guidance scale (1 = none).
    detail_restore: tolerance of the detail restore (`worldfm.world.detail`; 0 = frames as decoded).
    detail_refine: the pipeline's learned refiner does the restore (when it has one). consensus:
    candidate futures drawn per returned sample (`worldfm.world.consensus`; 1 = plain sampling).
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    guidance: float = 1.0
    detail_restore: float = DEFAULT_DETAIL_RESTORE
    detail_refine: bool = True
    consensus: int = 1

    def __post_init__(self) -> None:
        for key in ("temperature", "guidance"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{key} must be a number >= 0, got {v!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ConfigError(f"top_k must be an integer >= 0 (0 = off), got {self.top_k!r}")
        p = self.top_p
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
            raise ConfigError(f"top_p must be a number in (0, 1] (1 = off), got {p!r}")
        object.__setattr__(self, "consensus", check_consensus(self.consensus))
        check_detail_settings(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----- masks and draws -----
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Logits `(..., V)` with all but the k largest of the last axis set to -inf (k 0 or >= V: unchanged).
    Ties at the k-th value are all kept."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Logits `(..., V)` keeping the smallest set of largest-probability values whose probability sum
    reaches p (nucleus sampling); the likeliest value is always kept. p >= 1: unchanged."""
    if p >= 1:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # mass of the values ranked above each one
    drop_sorted = before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def draw(logits: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """One value per row of logits `(..., V)` by inverse CDF with uniforms `u` `(...)` in [0, 1);
    temperature 0 is argmax. Values with -inf logits are never drawn. Returns int64 `(...)`."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = (logits.float() / temperature).softmax(-1)
    cdf = probs.cumsum(-1)
    x = (u.to(cdf.dtype) * cdf[..., -1])[..., None]
    return (cdf <= x).sum(-1).clamp_max(logits.shape[-1] - 1)


def uniforms(generators: Sequence[torch.Generator], n: int) -> torch.Tensor:
    """`(len(generators), n)` float32 uniforms, row i drawn from `generators[i]` alone."""
    return torch.stack([torch.rand(n, generator=g) for g in generators])


def sample_tokens(
    model: ARTransformer, logits: torch.Tensor, settings: ARSamplingConfig, u: torch.Tensor
) -> torch.Tensor:
    """Logits `(B, sum(levels))` -> token indices `(B,)`: per FSQ level, filter and draw with `u[:, l]`.

    All levels at once: each level's logits padded with -inf to the largest level `(B, levels, L)`,
    which the filters and the draw treat exactly as the level's own logits (a padded value has no
    probability mass and is never kept or drawn)."""
    per_level = top_p_filter(top_k_filter(model.level_logits(logits), settings.top_k), settings.top_p)
    digits = draw(per_level, u, settings.temperature)  # (B, levels)
    return model.indices(torch.minimum(digits, model.level_sizes - 1))


# ----- windows -----
@torch.no_grad()
def generate_window(
    model: ARTransformer,
    prefix: torch.Tensor | None,
    frames: int,
    size: tuple[int, int],
    ctx: ARContext,
    settings: ARSamplingConfig,
    generators: Sequence[torch.Generator],
    uncond: ARContext | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Complete one window of `frames` latent frames of `size` = (h, w) tokens for K = len(generators)
    samples. `prefix` `(K, P, h, w)` int64 holds the first P < frames frames (None: P = 0); `ctx` is
    the K samples' context, `uncond` the unconditional one (used when `settings.guidance` != 1).
    With `use_cache` the prefix is one pass that fills a KV cache and each new token one
    `TokenStepper` step; `use_cache` False recomputes every slot each step (for checks and speed
    comparisons).
    Returns `(K, frames, h, w)` int64 with the prefix unchanged; progress(done, total) per token."""
    h, w = size
    k = len(generators)
    per = h * w
    n_total = frames * per
    p = 0 if prefix is None else prefix.shape[1] * per
    if prefix is not None and (prefix.shape[0] != k or prefix.shape[2:] != (h, w)):
        raise ConfigError(f"prefix must be ({k}, P, {h}, {w}), got {tuple(prefix.shape)}")
    if p >= n_total:
        raise ConfigError(f"the prefix fills the whole window ({p // per} of {frames} frames)")
    guided = settings.guidance != 1 and uncond is not None
    full = ARContext.cat(ctx, uncond) if guided else ctx  # type: ignore[arg-type]
    rows = 2 * k if guided else k
    device = model.embed.weight.device
    seq = torch.full(
        (rows, n_total + 1), -1, dtype=torch.long, device=device
    )  # slot inputs: BOS, x0, x1, ...
    if prefix is not None:
        flat = prefix.reshape(k, -1).to(device)
        seq[:, 1 : p + 1] = flat.repeat(2, 1) if guided else flat
    grid = (frames, h, w)
    cache = model.new_cache(rows, n_total) if use_cache else None
    logits = model.forward_slots(seq[:, : p + 1], 0, grid, full, cache)[:, -1]
    stepper = TokenStepper(model, grid, full, cache) if cache is not None else None
    levels = len(model.config.fsq_levels)
    for i in range(p, n_total):
        if guided:
            cond, unc = logits[:k], logits[k:]
            logits = unc + settings.guidance * (cond - unc)
        tok = sample_tokens(model, logits, settings, uniforms(generators, levels).to(device))
        seq[:, i + 1] = tok.repeat(2) if guided else tok
        if progress is not None:
            progress(i + 1 - p, n_total - p)
        if i + 1 < n_total:
            if stepper is not None:
                logits = stepper.step(seq[:, i + 1], i + 1)
            else:
                logits = model.forward_slots(seq[:, : i + 2], 0, grid, full)[:, -1]
    return seq[:k, 1:].reshape(k, frames, h, w)


def plan_windows(given: int, total: int, window: int, roll: int) -> list[tuple[int, int, int]]:
    """Windows as (first latent frame, frames in the window, frames given) to grow `given` latent
    frames to `total`: the first window starts at 0 with the given frames, each next one from the
    last `roll` frames of the one before."""
    if not 0 <= given < window:
        raise ConfigError(f"given latent frames must be in [0, {window}), got {given}")
    if not 1 <= roll < window:
        raise ConfigError(f"roll_frames must be in [1, {window}) latent frames, got {roll}")
    plan, start, have = [], 0, given
    while have < total:
        n = min(window, total - start)
        plan.append((start, n, have - start))
        have = start + n
        start = have - roll
    return plan


@torch.no_grad()
def rolling_generate(
    model: ARTransformer,
    prefix: torch.Tensor | None,
    total_frames: int,
    size: tuple[int, int],
    context: ContextFn,
    settings: ARSamplingConfig,
    generators: Sequence[torch.Generator],
    roll_frames: int,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Grow `prefix` `(K, P, h, w)` (None: P = 0) to `total_frames` latent frames in windows of at most
    `model.config.sample_frames` (see the module docstring); `context(start, n)` gives the context of
    latent frames start .. start + n - 1. Returns `(K, total_frames, h, w)` int64."""
    k = len(generators)
    h, w = size
    given = 0 if prefix is None else prefix.shape[1]
    device = model.embed.weight.device
    out = torch.zeros(k, total_frames, h, w, dtype=torch.long, device=device)
    if prefix is not None:
        out[:, :given] = prefix.to(device)
    plan = plan_windows(given, total_frames, model.config.sample_frames, roll_frames)
    total = (total_frames - given) * h * w
    done = 0
    for start, n, kept in plan:
        ctx, uncond = context(start, n)

        def tick(i: int, _: int, before: int = done) -> None:
            if progress is not None:
                progress(before + i, total)

        window = generate_window(
            model,
            out[:, start : start + kept] if kept else None,
            n,
            size,
            ctx,
            settings,
            generators,
            uncond=uncond,
            use_cache=use_cache,
            progress=tick,
        )
        out[:, start + kept : start + n] = window[:, kept:]
        done += (n - kept) * h * w
    return out
