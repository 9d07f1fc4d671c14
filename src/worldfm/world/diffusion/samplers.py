"""Samplers for the rectified-flow ODE dx/dt = v(x, t), from t = 1 (noise) to t = 0 (data), as plain
functions (k-diffusion style), plus classifier-free guidance, multiverse noise and the full
`sample` used by the pipelines.

A sampler takes `velocity(x, t) -> v` (t a `(B,)` tensor), the starting noise, a decreasing time
grid (`schedules.sampling_timesteps`), and an optional `project(x) -> x` applied to the start and
after every step: Video2World passes one that writes the clean conditioning latents back into their
frames, so those frames leave the sampler exactly as given.

- `sample_euler`: first order (on this ODE identical to DDIM); `steps` network calls.
- `sample_heun`: second order (Heun / improved Euler; the last step into t = 0 is an Euler step, as
  in k-diffusion), `2 * steps - 1` calls.
- `sample_dpmpp_2m`: DPM-Solver++(2M), a second-order multistep method on the data prediction
  `x0 = x - t v` with alpha = 1 - t, sigma = t; `steps` calls.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch

from worldfm.errors import ConfigError
from worldfm.world.diffusion.conditioning import Condition, apply_frame_mask
from worldfm.world.diffusion.schedules import sampling_timesteps, velocity_to_data

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Project = Callable[[torch.Tensor], torch.Tensor]
Callback = Callable[[int, int], None]  # (network calls done, total)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _t(value: float, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), float(value), dtype=torch.float32, device=x.device)


def _prepare(
    noise: torch.Tensor, timesteps: torch.Tensor, project: Project | None
) -> tuple[torch.Tensor, list[float], Project]:
    ts = [float(v) for v in timesteps]
    if len(ts) < 2 or any(b >= a for a, b in itertools.pairwise(ts)):
        raise ConfigError(f"timesteps must be at least 2 strictly decreasing values, got {ts}")
    project = project or _identity
    return project(noise.float()), ts, project


@torch.no_grad()
def sample_euler(
    velocity: Velocity,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    project: Project | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Explicit Euler: `x <- x + (t_next - t) v(x, t)`."""
    x, ts, project = _prepare(noise, timesteps, project)
    n = len(ts) - 1
    for i in range(n):
        x = project(x + (ts[i + 1] - ts[i]) * velocity(x, _t(ts[i], x)))
        if callback:
            callback(i + 1, n)
    return x


@torch.no_grad()
def sample_heun(
    velocity: Velocity,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    project: Project | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Heun's method: Euler predictor, trapezoidal corrector (the final step into t = 0 is Euler)."""
    x, ts, project = _prepare(noise, timesteps, project)
    n = len(ts) - 1
    total, done = 2 * n - 1 if ts[-1] == 0 else 2 * n, 0
    for i in range(n):
        dt = ts[i + 1] - ts[i]
        v = velocity(x, _t(ts[i], x))
        done += 1
        if ts[i + 1] == 0:
            x = project(x + dt * v)
        else:
            x_pred = project(x + dt * v)
            v2 = velocity(x_pred, _t(ts[i + 1], x))
            done += 1
            x = project(x + dt * 0.5 * (v + v2))
        if callback:
            callback(done, total)
    return x


@torch.no_grad()
def sample_dpmpp_2m(
    velocity: Velocity,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    project: Project | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) in data prediction, for alpha_t = 1 - t, sigma_t = t.

    Step i: `x <- (s_next / s) x - a_next * expm1(-h) * D`, h = lambda_next - lambda, lambda = log(a / s),
    with D the current data estimate (first step, last step and after an infinite h) or the
    second-order combination `(1 + 1/(2r)) D_i - 1/(2r) D_{i-1}`, r = h_prev / h.
    """
    x, ts, project = _prepare(noise, timesteps, project)
    n = len(ts) - 1

    def lam(t: float) -> float:
        return math.inf if t == 0 else (-math.inf if t == 1 else math.log((1 - t) / t))

    old: torch.Tensor | None = None
    h_prev = math.inf
    for i in range(n):
        t, t_next = ts[i], ts[i + 1]
        d = velocity_to_data(x, velocity(x, _t(t, x)), _t(t, x))
        if t_next == 0:
            x = project(d)  # sigma_next = 0: the data estimate itself
        else:
            h = lam(t_next) - lam(t)
            if old is not None and math.isfinite(h_prev) and math.isfinite(h):
                r = h_prev / h
                d_use = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * old
            else:
                d_use = d
            # expm1(-h) -> -1 as h -> inf (the step from t = 1), which is the exact DDIM step.
            e = math.expm1(-h) if math.isfinite(h) else -1.0
            x = project((t_next / t) * x - (1 - t_next) * e * d_use)
            h_prev = h
        old = d
        if callback:
            callback(i + 1, n)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; expected one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def network_calls(sampler: str, steps: int) -> int:
    """Network evaluations (per guidance branch) a sampler makes for `steps` steps ending at t = 0."""
    get_sampler(sampler)
    return 2 * steps - 1 if sampler == "heun" else steps


def guided_velocity(
    net: Callable[[torch.Tensor, torch.Tensor, Condition], torch.Tensor],
    cond: Condition,
    guidance: float = 1.0,
    uncond: Condition | None = None,
) -> Velocity:
    """`v = v_uncond + guidance * (v_cond - v_uncond)` (classifier-free guidance).

    guidance 1 (or nothing to guide on) calls the network once with `cond` only, so it equals the
    conditional prediction exactly. Otherwise both branches run in one batch of 2B. `uncond`
    defaults to `cond.unconditional()` (no text, no actions, the same frame conditioning)."""
    if (
        isinstance(guidance, bool)
        or not isinstance(guidance, (int, float))
        or not math.isfinite(guidance)
        or guidance < 0
    ):
        raise ConfigError(f"guidance must be a number >= 0, got {guidance!r}")
    if uncond is None and guidance != 1:
        uncond = cond.unconditional() if cond.differs_from_unconditional() else None
    if guidance == 1 or uncond is None:
        return lambda x, t: net(x, t, cond)
    both = Condition.cat([cond, uncond])

    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        vc, vu = net(torch.cat([x, x]), torch.cat([t, t]), both).chunk(2)
        return vu + guidance * (vc - vu)

    return v


def sample_seeds(seed: int, samples: int) -> list[int]:
    """Per-sample seeds of a multiverse batch: `seed, seed + 1, ...` (sample i of a K-sample run
    equals the single-sample run with seed `seed + i`)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples must be an integer >= 1, got {samples!r}")
    return [seed + i for i in range(samples)]


def multiverse_noise(
    shape: Sequence[int], generators: Sequence[torch.Generator], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """`(K, *shape)` standard normal noise, row i drawn from `generators[i]` (CPU), so every sample's
    noise depends only on its own seed (and on how much it drew before)."""
    return torch.stack([torch.randn(tuple(shape), generator=g) for g in generators]).to(device)


def sample(
    net: Callable[[torch.Tensor, torch.Tensor, Condition], torch.Tensor],
    noise: torch.Tensor,
    cond: Condition | None = None,
    steps: int = 20,
    sampler: str = "heun",
    guidance: float = 1.0,
    shift: float = 1.0,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Generate latents `(B, C, T, h, w)` from noise of that shape: CFG velocity, the frame mask applied
    at the start and after every step, the chosen sampler over `sampling_timesteps(steps, shift)`.

    Frames marked in `cond.frame_mask` come back exactly equal to `cond.latents`."""
    cond = cond if cond is not None else Condition()
    fn = get_sampler(sampler)
    velocity = guided_velocity(net, cond, guidance)
    return fn(
        velocity, noise, sampling_timesteps(steps, shift), lambda x: apply_frame_mask(x, cond), callback
    )
