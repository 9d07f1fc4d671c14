"""TokenStepper: the folded one-token decode equals the model's cached forward, with text, actions
or neither, and refuses slots it cannot step."""

from __future__ import annotations

import pytest
import torch
from ar_helpers import tiny_ar

from worldfm.errors import ConfigError
from worldfm.nn.rope import apply_rope
from worldfm.world.autoregressive.decode import TokenStepper, rope_matrices
from worldfm.world.diffusion.conditioning import Condition


def test_rope_matrices_rotate_like_apply_rope() -> None:
    g = torch.Generator().manual_seed(0)
    cos, sin = torch.rand(7, 4, generator=g), torch.rand(7, 4, generator=g)
    x = torch.randn(3, 7, 8, generator=g)
    rotated = torch.einsum("bnd,nde->bne", x, rope_matrices(cos, sin))
    torch.testing.assert_close(rotated, apply_rope(x, cos, sin), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("conditioning", ["text+actions", "none", "actions"])
def test_steps_equal_the_cached_forward(conditioning: str) -> None:
    net = tiny_ar()
    g = torch.Generator().manual_seed(1)
    b, grid = 2, (3, 2, 2)
    cond = Condition()
    if conditioning == "text+actions":
        mask = torch.ones(b, 5, dtype=torch.bool)
        mask[0, 3:] = False
        cond = Condition(
            text=torch.randn(b, 5, 384, generator=g),
            text_mask=mask,
            actions=torch.randn(b, 8, 3, generator=g),
        )
    elif conditioning == "actions":
        cond = Condition(actions=torch.randn(b, 8, 3, generator=g))
    ctx = net.context(cond, b, 3)
    tokens = torch.randint(0, 36, (b, 12), generator=g)
    prev = torch.cat([torch.full((b, 1), -1), tokens[:, :-1]], dim=1)
    reference_cache, cache = net.new_cache(b, 12), net.new_cache(b, 12)
    expected = net.forward_slots(prev[:, :4], 0, grid, ctx, reference_cache)
    net.forward_slots(prev[:, :4], 0, grid, ctx, cache)  # the prefill both paths share
    stepper = TokenStepper(net, grid, ctx, cache)
    for i in range(4, 12):
        want = net.forward_slots(prev[:, i : i + 1], i, grid, ctx, reference_cache)[:, -1]
        torch.testing.assert_close(stepper.step(prev[:, i], i), want, atol=1e-5, rtol=1e-5)
    assert cache.length == 12 and expected.shape == (b, 4, 10)
    torch.testing.assert_close(cache.k[1], reference_cache.k[1], atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match=r"steps slots 1\.\.11"):
        stepper.step(prev[:, 0], 12)
    with pytest.raises(ConfigError, match="must start there"):
        TokenStepper(net, grid, ctx, net.new_cache(b, 12)).step(prev[:, 5], 5)
