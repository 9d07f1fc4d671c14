"""Rectified-flow (flow matching) schedules as plain functions.

Flow time t runs from 0 (data) to 1 (noise) along straight lines:

    x_t = (1 - t) * x0 + t * noise,        velocity  v = dx_t/dt = noise - x0

The network learns v; sampling integrates dx/dt = v from t = 1 down to t = 0. In diffusion terms
alpha_t = 1 - t and sigma_t = t (signal-to-noise ratio ((1 - t) / t)^2).

- Training times: `sample_timesteps` ("uniform" or "logit_normal", SD3's default), optionally
  shifted towards noise with `shift_time` (shift > 1 spends more training on high-noise times, as
  larger images/videos need).
- Sampling grids: `sampling_timesteps(steps, shift)`: steps + 1 decreasing times, exactly 1.0 first
  and exactly 0.0 last.
"""

from __future__ import annotations

import math

import torch

from worldfm.errors import ConfigError

TIMESTEP_SAMPLING = ("uniform", "logit_normal")


def _check_shift(shift: float) -> None:
    if (
        isinstance(shift, bool)
        or not isinstance(shift, (int, float))
        or not math.isfinite(shift)
        or shift <= 0
    ):
        raise ConfigError(f"time shift must be a number > 0, got {shift!r}")


def _bt(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """t `(B,)` (or scalar) reshaped to broadcast against `like` `(B, ...)`."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(-1, *([1] * (like.ndim - 1))) if t.ndim else t


def flow_interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """`x_t = (1 - t) x0 + t noise` with t `(B,)` or a scalar."""
    tb = _bt(t, x0)
    return (1 - tb) * x0 + tb * noise


def flow_velocity(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The regression target `noise - x0`."""
    return noise - x0


def velocity_to_data(x: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The data estimate `x0 = x_t - t v` implied by a velocity at time t."""
    return x - _bt(t, x) * v


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """`shift * t / (1 + (shift - 1) t)`: maps [0, 1] onto itself, increasing, endpoints fixed."""
    _check_shift(shift)
    return shift * t / (1 + (shift - 1) * t)


def sample_timesteps(
    n: int,
    kind: str = "logit_normal",
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """`n` training times in (0, 1): uniform, or `sigmoid(mean + std * N(0, 1))`, then shifted.

    Draws from `generator` (CPU) or the global torch RNG."""
    if kind not in TIMESTEP_SAMPLING:
        raise ConfigError(f"timestep sampling must be one of {TIMESTEP_SAMPLING}, got {kind!r}")
    if not std > 0:
        raise ConfigError(f"logit-normal std must be > 0, got {std!r}")
    if kind == "uniform":
        t = torch.rand(n, generator=generator)
    else:
        t = torch.sigmoid(mean + std * torch.randn(n, generator=generator))
    t = shift_time(t, shift) if shift != 1 else t
    # Keep away from the exact endpoints, where the target is degenerate for some parameterisations.
    return t.clamp(1e-5, 1 - 1e-5).to(device)


def sampling_timesteps(steps: int, shift: float = 1.0) -> torch.Tensor:
    """`steps + 1` float64 times from exactly 1.0 down to exactly 0.0, uniform in the unshifted time."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"sampling steps must be an integer >= 1, got {steps!r}")
    t = shift_time(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)
    t[0], t[-1] = 1.0, 0.0
    return t
