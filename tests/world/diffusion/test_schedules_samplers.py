"""Schedules (exact endpoints, monotonic), samplers on analytic flows (convergence, order), oracle
denoisers recovering the data, classifier-free guidance, the frame mask and multiverse seeds."""

from __future__ import annotations

import pytest
import torch
from predict_helpers import tiny_dit

from worldfm.errors import ConfigError
from worldfm.world.diffusion.conditioning import Condition, frame_mask_from_counts
from worldfm.world.diffusion.samplers import (
    SAMPLERS,
    guided_velocity,
    multiverse_noise,
    network_calls,
    sample,
    sample_euler,
    sample_heun,
    sample_seeds,
)
from worldfm.world.diffusion.schedules import (
    flow_interpolate,
    flow_velocity,
    sample_timesteps,
    sampling_timesteps,
    shift_time,
    velocity_to_data,
)

MU, S = 2.0, 0.5


def gaussian_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Exact flow velocity E[noise - x0 | x_t] for data N(MU, S^2) per coordinate."""
    t = t.double().view(-1, *[1] * (x.ndim - 1))
    x = x.double()
    var = (1 - t) ** 2 * S**2 + t**2
    centred = x - (1 - t) * MU
    return (t / var * centred - (MU + (1 - t) * S**2 / var * centred)).float()


def dataset_velocity(data: torch.Tensor):
    """Exact velocity for a finite dataset (the oracle denoiser's posterior mean)."""

    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t.double().view(-1, 1).clamp_min(1e-12)
        x = x.double()
        d2 = ((x[:, None, :] - (1 - tt[:, :, None]) * data.double()[None]) ** 2).sum(-1)  # (B, N)
        w = torch.softmax(-d2 / (2 * tt**2), dim=1)
        x0 = w @ data.double()
        return ((x - x0) / tt).float()

    return v


@pytest.mark.parametrize("shift", [0.5, 1.0, 3.0])
def test_sampling_timesteps_exact_endpoints_and_monotonic(shift: float) -> None:
    for steps in (1, 2, 7, 50):
        t = sampling_timesteps(steps, shift)
        assert t.shape == (steps + 1,) and t[0].item() == 1.0 and t[-1].item() == 0.0
        assert bool((t[1:] < t[:-1]).all())
    u = torch.linspace(0, 1, 101)
    s = shift_time(u, shift)
    assert (
        s[0].item() == 0.0 and s[-1].item() == pytest.approx(1.0, abs=1e-7) and bool((s[1:] > s[:-1]).all())
    )
    with pytest.raises(ConfigError, match="steps"):
        sampling_timesteps(0)
    with pytest.raises(ConfigError, match="shift"):
        shift_time(u, 0.0)


def test_training_timesteps() -> None:
    g = torch.Generator().manual_seed(0)
    t = sample_timesteps(20000, "logit_normal", generator=g)
    assert t.min() > 0 and t.max() < 1 and abs(t.mean().item() - 0.5) < 0.01
    shifted = sample_timesteps(20000, "logit_normal", shift=3.0, generator=torch.Generator().manual_seed(0))
    assert shifted.mean() > t.mean() + 0.1  # shift > 1 moves training towards noise
    u = sample_timesteps(20000, "uniform", generator=torch.Generator().manual_seed(1))
    assert abs(u.mean().item() - 0.5) < 0.01
    assert torch.equal(
        sample_timesteps(5, generator=torch.Generator().manual_seed(3)),
        sample_timesteps(5, generator=torch.Generator().manual_seed(3)),
    )
    with pytest.raises(ConfigError, match="timestep sampling"):
        sample_timesteps(3, "cosine")


def test_flow_endpoints() -> None:
    x0, eps = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.equal(flow_interpolate(x0, eps, torch.zeros(3)), x0)
    assert torch.equal(flow_interpolate(x0, eps, torch.ones(3)), eps)
    t = torch.tensor([0.2, 0.5, 0.9])
    xt = flow_interpolate(x0, eps, t)
    assert torch.allclose(velocity_to_data(xt, flow_velocity(x0, eps), t), x0, atol=1e-6)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_samplers_converge_to_the_exact_flow_map(name: str) -> None:
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    exact = MU + S * noise  # the ODE maps noise z to MU + S z for Gaussian data
    errors = [
        (SAMPLERS[name](gaussian_velocity, noise, sampling_timesteps(n)) - exact).abs().max().item()
        for n in (4, 16, 64)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < (0.06 if name == "euler" else 0.02)
    out = SAMPLERS[name](gaussian_velocity, noise, sampling_timesteps(64))
    assert abs(out.mean().item() - MU) < 0.03 and abs(out.std().item() - S) < 0.03


def test_second_order_beats_euler_at_equal_steps() -> None:
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    exact = MU + S * noise
    for steps in (8, 16):
        ts = sampling_timesteps(steps)
        err = {k: (f(gaussian_velocity, noise, ts) - exact).abs().mean().item() for k, f in SAMPLERS.items()}
        assert err["heun"] < err["euler"] / 3
        assert err["dpmpp_2m"] < err["euler"] / 2
    # Heun's order: doubling the steps cuts its error about 4x (Euler's about 2x).
    e8 = (sample_heun(gaussian_velocity, noise, sampling_timesteps(8)) - exact).abs().mean()
    e16 = (sample_heun(gaussian_velocity, noise, sampling_timesteps(16)) - exact).abs().mean()
    assert 3.0 < e8 / e16 < 5.0


def test_oracle_denoiser_recovers_the_data() -> None:
    point = torch.tensor([[0.7, -1.2, 0.3]])
    noise = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    # A single data point: the straight path is exact, one Euler step lands on it.
    assert torch.allclose(
        sample_euler(dataset_velocity(point), noise, sampling_timesteps(1)), point.expand(5, 3), atol=1e-6
    )
    data = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [0.0, -1.5]])
    noise = torch.randn(300, 2, generator=torch.Generator().manual_seed(3))
    out = sample_heun(dataset_velocity(data), noise, sampling_timesteps(40))
    nearest = torch.cdist(out.double(), data.double()).min(dim=1).values
    assert nearest.max() < 1e-2
    # Every data point is reached by some samples.
    assert set(torch.cdist(out.double(), data.double()).argmin(dim=1).tolist()) == {0, 1, 2}


def test_network_calls() -> None:
    assert (
        network_calls("euler", 10) == 10
        and network_calls("heun", 10) == 19
        and network_calls("dpmpp_2m", 10) == 10
    )
    calls = []
    sample_heun(
        gaussian_velocity,
        torch.randn(2, 2),
        sampling_timesteps(3),
        callback=lambda d, n: calls.append((d, n)),
    )
    assert calls[-1] == (5, 5)
    with pytest.raises(ConfigError, match="unknown sampler"):
        network_calls("ddpm", 3)


def cond_for_cfg(k: int = 1) -> Condition:
    g = torch.Generator().manual_seed(5)
    return Condition(
        text=torch.randn(2, 4, 384, generator=g),
        text_mask=torch.ones(2, 4, dtype=torch.bool),
        actions=torch.randn(2, 8, 3, generator=g),
        latents=torch.randn(2, 4, 3, 2, 2, generator=g),
        frame_mask=frame_mask_from_counts([k, k], 3),
    )


def test_cfg_guidance_one_is_conditional_and_formula_holds() -> None:
    net = tiny_dit()
    cond = cond_for_cfg()
    x, t = torch.randn(2, 4, 3, 2, 2), torch.full((2,), 0.6)
    assert torch.equal(guided_velocity(net, cond, 1.0)(x, t), net(x, t, cond))
    vc, vu = net(x, t, cond), net(x, t, cond.unconditional())
    assert torch.allclose(guided_velocity(net, cond, 3.0)(x, t), vu + 3.0 * (vc - vu), atol=1e-5)
    assert torch.allclose(guided_velocity(net, cond, 0.0)(x, t), vu, atol=1e-5)
    with pytest.raises(ConfigError, match="guidance"):
        guided_velocity(net, cond, -1.0)


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("guidance", [1.0, 2.5])
def test_conditioned_frames_come_back_exactly(name: str, guidance: float) -> None:
    net = tiny_dit()
    cond = cond_for_cfg(k=2)
    noise = torch.randn(2, 4, 3, 2, 2, generator=torch.Generator().manual_seed(6))
    out = sample(net, noise, cond, steps=3, sampler=name, guidance=guidance)
    assert torch.equal(out[:, :, :2], cond.latents[:, :, :2])
    assert not torch.allclose(out[:, :, 2], noise[:, :, 2])


def test_multiverse_seeds_reproducible_and_different() -> None:
    seeds = sample_seeds(7, 3)
    assert seeds == [7, 8, 9]
    a = multiverse_noise((4, 3, 2, 2), [torch.Generator().manual_seed(s) for s in seeds])
    b = multiverse_noise((4, 3, 2, 2), [torch.Generator().manual_seed(s) for s in seeds])
    alone = multiverse_noise((4, 3, 2, 2), [torch.Generator().manual_seed(8)])
    assert torch.equal(a, b) and torch.equal(a[1], alone[0])
    assert not torch.equal(a[0], a[1])
    net = tiny_dit()
    cond = cond_for_cfg().map(lambda v: v[:1]).repeat_interleave(3)
    out = sample(net, a, cond, steps=2, sampler="euler")
    again = sample(net, b, cond, steps=2, sampler="euler")
    assert torch.equal(out, again)
    assert (out[0] - out[1]).abs().max() > 1e-3
    with pytest.raises(ConfigError, match="seed"):
        sample_seeds(-1, 2)
    with pytest.raises(ConfigError, match="samples"):
        sample_seeds(0, 0)


def test_bad_timesteps() -> None:
    with pytest.raises(ConfigError, match="strictly decreasing"):
        sample_euler(gaussian_velocity, torch.randn(2, 2), torch.tensor([0.0, 1.0]))
