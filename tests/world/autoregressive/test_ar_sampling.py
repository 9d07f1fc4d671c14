"""Token sampling: top-k / top-p masks, draws, seed determinism (sample i == seed + i alone), cached
== uncached generation, classifier-free guidance, and rolling windows."""

from __future__ import annotations

import pytest
import torch
from ar_helpers import tiny_ar

from worldfm.errors import ConfigError
from worldfm.world.autoregressive.sampling import (
    ARSamplingConfig,
    draw,
    generate_window,
    plan_windows,
    rolling_generate,
    sample_tokens,
    top_k_filter,
    top_p_filter,
)
from worldfm.world.diffusion.conditioning import Condition


def test_top_k_mask() -> None:
    logits = torch.tensor([[0.1, 2.0, -1.0, 3.0, 0.5], [5.0, 4.0, 3.0, 2.0, 1.0]])
    out = top_k_filter(logits, 2)
    assert torch.equal(
        torch.isfinite(out), torch.tensor([[0, 1, 0, 1, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    )
    assert torch.equal(out[torch.isfinite(out)], logits[torch.isfinite(out)])  # kept values unchanged
    assert torch.equal(top_k_filter(logits, 0), logits) and torch.equal(top_k_filter(logits, 9), logits)


def test_top_p_mask() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    keep = lambda p: torch.isfinite(top_p_filter(logits, p))[0].tolist()  # noqa: E731
    assert keep(0.5) == [True, False, False, False]  # 0.5 reached by the first
    assert keep(0.6) == [True, True, False, False]
    assert keep(0.81) == [True, True, True, False]
    assert keep(0.01) == [True, False, False, False]  # the likeliest always stays
    assert keep(1.0) == [True] * 4
    shuffled = logits[:, [2, 0, 3, 1]]
    assert torch.isfinite(top_p_filter(shuffled, 0.6))[0].tolist() == [False, True, False, True]


def test_draw_inverse_cdf_and_masks() -> None:
    logits = torch.tensor([[0.0, 0.0, float("-inf"), 0.0]]).expand(5, -1)
    u = torch.tensor([0.0, 0.3, 0.34, 0.7, 0.9999])
    assert draw(logits, u, 1.0).tolist() == [0, 0, 1, 3, 3]  # never the masked value
    assert draw(torch.tensor([[1.0, 3.0, 2.0]]), torch.tensor([0.0]), 0.0).tolist() == [1]  # greedy
    # empirical frequencies follow the softmax
    g = torch.Generator().manual_seed(0)
    probs = torch.tensor([0.1, 0.6, 0.3])
    picks = draw(probs.log().expand(20000, -1), torch.rand(20000, generator=g), 1.0)
    freq = torch.bincount(picks, minlength=3).float() / 20000
    torch.testing.assert_close(freq, probs, atol=0.02, rtol=0)


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [
        (1.0, 0, 1.0),
        (0.7, 3, 1.0),
        (1.0, 6, 0.9),
        (1.0, 0, 0.5),
        (1.3, 7, 0.95),
        (0.0, 0, 1.0),
        (1.0, 9, 0.8),
    ],
)
def test_all_levels_at_once_equal_level_by_level(temperature: float, top_k: int, top_p: float) -> None:
    # The padded, all-levels sampler against the plain per-level loop it replaces.
    model = tiny_ar()
    gen = torch.Generator().manual_seed(1)
    logits = 3 * torch.randn(64, sum(model.config.fsq_levels), generator=gen)
    u = torch.rand(64, len(model.config.fsq_levels), generator=gen)
    settings = ARSamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p)
    digits = []
    for lvl, part in enumerate(model.split_levels(logits)):
        part = top_p_filter(top_k_filter(part, top_k), top_p)
        digits.append(draw(part, u[:, lvl], temperature))
    expected = model.indices(torch.stack(digits, dim=-1))
    assert torch.equal(sample_tokens(model, logits, settings, u), expected)
    # u close to 1 never draws a padded value of a small level
    edge = sample_tokens(model, logits, settings, torch.full_like(u, 1 - 2**-24))
    assert torch.equal(
        model.digits(edge) < model.level_sizes, torch.ones_like(model.digits(edge), dtype=torch.bool)
    )


def test_config_checks() -> None:
    for bad in (dict(temperature=-1.0), dict(top_k=-2), dict(top_p=0.0), dict(top_p=1.5), dict(guidance=-1)):
        with pytest.raises(ConfigError):
            ARSamplingConfig(**bad)


def _ctx(net, k: int, frames: int, text_seed: int = 0):
    g = torch.Generator().manual_seed(text_seed)
    cond = Condition(
        text=torch.randn(1, 4, 384, generator=g).expand(k, -1, -1).contiguous(),
        text_mask=torch.ones(k, 4, dtype=torch.bool),
    )
    return net.context(cond, k, frames), net.context(cond.unconditional(), k, frames)


def gens(seed: int, k: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(k)]


def test_seed_determinism_and_sample_i_alone() -> None:
    net = tiny_ar()
    settings = ARSamplingConfig(temperature=1.0, top_k=3, top_p=0.9, guidance=1.5)
    ctx, unc = _ctx(net, 3, 3)
    prefix = torch.randint(0, 36, (3, 1, 2, 2), generator=torch.Generator().manual_seed(1))
    prefix[1:] = prefix[0]
    a = generate_window(net, prefix, 3, (2, 2), ctx, settings, gens(10, 3), uncond=unc)
    b = generate_window(net, prefix, 3, (2, 2), ctx, settings, gens(10, 3), uncond=unc)
    assert torch.equal(a, b) and torch.equal(a[:, :1], prefix)
    assert not torch.equal(a[0], a[1])  # different futures of the same condition
    ctx1, unc1 = _ctx(net, 1, 3)
    one = generate_window(net, prefix[:1], 3, (2, 2), ctx1, settings, gens(11, 1), uncond=unc1)
    assert torch.equal(one[0], a[1])  # sample 1 of seed 10 == seed 11 alone


def test_cache_and_no_cache_generate_the_same_tokens() -> None:
    net = tiny_ar()
    settings = ARSamplingConfig(temperature=0.8, guidance=2.0)
    ctx, unc = _ctx(net, 2, 3)
    with_cache = generate_window(net, None, 3, (2, 2), ctx, settings, gens(0, 2), uncond=unc)
    without = generate_window(net, None, 3, (2, 2), ctx, settings, gens(0, 2), uncond=unc, use_cache=False)
    assert torch.equal(with_cache, without)


def test_guidance_changes_the_samples_and_greedy_is_seed_free() -> None:
    net = tiny_ar()
    ctx, unc = _ctx(net, 2, 3)
    plain = generate_window(net, None, 3, (2, 2), ctx, ARSamplingConfig(guidance=1.0), gens(0, 2), uncond=unc)
    guided = generate_window(
        net, None, 3, (2, 2), ctx, ARSamplingConfig(guidance=4.0), gens(0, 2), uncond=unc
    )
    assert not torch.equal(plain, guided)
    greedy = ARSamplingConfig(temperature=0.0)
    g1 = generate_window(net, None, 3, (2, 2), ctx, greedy, gens(0, 2))
    g2 = generate_window(net, None, 3, (2, 2), ctx, greedy, gens(99, 2))
    assert torch.equal(g1, g2) and torch.equal(g1[0], g1[1])


def test_rolling_windows_keep_the_last_frames() -> None:
    net = tiny_ar(sample_frames=3)
    assert plan_windows(1, 6, 3, 1) == [(0, 3, 1), (2, 3, 1), (4, 2, 1)]
    assert plan_windows(0, 2, 3, 2) == [(0, 2, 0)]
    with pytest.raises(ConfigError, match="roll_frames"):
        plan_windows(1, 6, 3, 3)
    seen: list[tuple[int, int]] = []

    def context(start: int, n: int):
        seen.append((start, n))
        return _ctx(net, 2, n)[0], None

    prefix = torch.randint(0, 36, (2, 1, 2, 2), generator=torch.Generator().manual_seed(3))
    ticks: list[tuple[int, int]] = []
    out = rolling_generate(
        net,
        prefix,
        6,
        (2, 2),
        context,
        ARSamplingConfig(),
        gens(0, 2),
        1,
        progress=lambda d, t: ticks.append((d, t)),
    )
    assert out.shape == (2, 6, 2, 2) and torch.equal(out[:, :1], prefix)
    assert seen == [(0, 3), (2, 3), (4, 2)]
    assert ticks[-1] == (20, 20) and len(ticks) == 20
    # the second window only saw frame 2 of the first (tokens before it cannot matter)
    again = rolling_generate(net, prefix, 6, (2, 2), context, ARSamplingConfig(), gens(0, 2), 1)
    assert torch.equal(out, again)
