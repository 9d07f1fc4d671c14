"""Learning-rate schedule: linear warmup, then cosine decay to a floor. A plain function of the step,
so it needs no state of its own to resume and can be tested alone."""

from __future__ import annotations

import math

from worldfm.errors import ConfigError


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    """Multiplier of the base learning rate for optimizer update `step` (0-based).

    Updates `0 .. warmup_steps - 1` ramp linearly, `(step + 1) / warmup_steps`, so update
    `warmup_steps - 1` uses exactly 1; then a half cosine runs from 1 at update `warmup_steps` to
    exactly `min_ratio` at the last update, `total_steps - 1`, and stays there after it.
    """
    if total_steps < 1:
        raise ConfigError(f"total_steps must be >= 1, got {total_steps}")
    if warmup_steps < 0:
        raise ConfigError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if not 0.0 <= min_ratio <= 1.0:
        raise ConfigError(f"min_ratio must be in [0, 1], got {min_ratio}")
    if step < 0:
        raise ConfigError(f"step must be >= 0, got {step}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = total_steps - 1 - warmup_steps
    # No room for a decay (warmup_steps >= total_steps - 1): every update after the warmup is the last one.
    progress = min(1.0, (step - warmup_steps) / decay_steps) if decay_steps > 0 else 1.0
    return float(min_ratio) + (1.0 - float(min_ratio)) * 0.5 * (1.0 + math.cos(math.pi * progress))
