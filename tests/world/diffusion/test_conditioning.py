"""Condition: validation, dropout, concatenation, frame masks and frame-count conversions."""

from __future__ import annotations

import pytest
import torch

from worldfm.errors import ConfigError
from worldfm.world.diffusion.conditioning import (
    Condition,
    apply_frame_mask,
    centre_noise,
    conditioning_dropout,
    frame_mask_from_counts,
    last_frame_prior,
    latent_frames_for,
)


def make(b: int = 4, length: int = 3) -> Condition:
    return Condition(
        text=torch.ones(b, length, 8),
        text_mask=torch.ones(b, length, dtype=torch.bool),
        actions=torch.ones(b, 4, 2),
        latents=torch.ones(b, 2, 2, 1, 1),
        frame_mask=frame_mask_from_counts([1] * b, 2),
    )


def test_validation() -> None:
    with pytest.raises(ConfigError, match="text and text_mask"):
        Condition(text=torch.ones(1, 2, 3))
    with pytest.raises(ConfigError, match="latents and frame_mask"):
        Condition(latents=torch.ones(1, 2, 2, 1, 1))
    with pytest.raises(ConfigError, match="batch size"):
        Condition(
            actions=torch.ones(2, 4, 2),
            latents=torch.ones(3, 2, 2, 1, 1),
            frame_mask=torch.ones(3, 2, dtype=torch.bool),
        )
    c = Condition(actions=torch.ones(2, 4, 2))
    assert c.has_actions is not None and bool(c.has_actions.all())
    assert Condition().batch_size is None


def test_drop_and_unconditional() -> None:
    c = make()
    d = c.drop(
        keep_text=torch.tensor([True, False, True, False]),
        keep_actions=torch.tensor([False, True, True, True]),
    )
    assert d.text_mask.any(1).tolist() == [True, False, True, False]
    assert d.text[1].abs().sum() == 0 and d.actions[0].abs().sum() == 0
    assert d.has_actions.tolist() == [False, True, True, True]
    u = c.unconditional()
    assert not u.differs_from_unconditional() and c.differs_from_unconditional()
    assert torch.equal(u.latents, c.latents) and torch.equal(u.frame_mask, c.frame_mask)


def test_shuffled_actions_control() -> None:
    actions = torch.arange(4.0)[:, None, None].expand(4, 2, 3).clone()  # sample i's actions all equal i
    cond = Condition(actions=actions, has_actions=torch.tensor([True, False, True, True]))
    shuffled, changed = cond.with_shuffled_actions()
    assert shuffled.actions[:, 0, 0].tolist() == [2.0, 1.0, 3.0, 0.0]  # cyclic among samples with actions
    assert changed.tolist() == [True, False, True, True]
    assert torch.equal(cond.actions, actions)  # the original is untouched
    lone, changed = Condition(
        actions=actions[:2], has_actions=torch.tensor([True, False])
    ).with_shuffled_actions()
    assert torch.equal(lone.actions, actions[:2]) and not changed.any()
    text_only = Condition(text=torch.zeros(2, 1, 384), text_mask=torch.ones(2, 1, dtype=torch.bool))
    assert text_only.with_shuffled_actions()[1].tolist() == [False, False]


def test_dropout_rates() -> None:
    g = torch.Generator().manual_seed(0)
    d = conditioning_dropout(make(b=4000), 0.25, 0.5, generator=g)
    assert abs((~d.text_mask.any(1)).float().mean().item() - 0.25) < 0.03
    assert abs((~d.has_actions).float().mean().item() - 0.5) < 0.03
    assert conditioning_dropout(make(), 0.0, 0.0).text_mask.all()
    with pytest.raises(ConfigError, match="text_drop"):
        conditioning_dropout(make(), 1.5, 0.0)


def test_cat_pads_text_and_repeat() -> None:
    a, b = make(b=2, length=3), make(b=1, length=5)
    c = Condition.cat([a, b])
    assert c.text.shape == (3, 5, 8) and c.text_mask.sum(1).tolist() == [3, 3, 5]
    r = a.map(lambda v: v[:1]).repeat_interleave(3)
    assert r.batch_size == 3
    with pytest.raises(ConfigError, match="different fields"):
        Condition.cat([a, Condition(actions=torch.ones(1, 4, 2))])


def test_frame_masks() -> None:
    m = frame_mask_from_counts(torch.tensor([0, 2, 3]), 3)
    assert m.tolist() == [[False, False, False], [True, True, False], [True, True, True]]
    with pytest.raises(ConfigError, match=r"in \[0, 3\]"):
        frame_mask_from_counts([4], 3)
    x = torch.zeros(3, 1, 3, 1, 1)
    cond = Condition(latents=torch.ones(3, 1, 3, 1, 1), frame_mask=m)
    assert apply_frame_mask(x, cond)[:, 0, :, 0, 0].tolist() == [[0, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert apply_frame_mask(x, None) is x


def test_latent_frames_for() -> None:
    assert [latent_frames_for(n, 4) for n in (1, 5, 9, 17)] == [1, 2, 3, 5]
    for bad in (0, 2, 8, 16):
        with pytest.raises(ConfigError, match=r"1 \+ a multiple of the tokenizer's temporal factor 4"):
            latent_frames_for(bad, 4, "cond_frames")


def test_last_frame_prior_repeats_the_last_given_frame() -> None:
    # 3 samples given 0, 1 and 2 of 4 latent frames; frame j of the latents holds the value 10 * j + sample.
    latents = torch.tensor([[10.0 * j + i for j in range(4)] for i in range(3)])[:, None, :, None, None]
    cond = Condition(latents=latents.expand(3, 2, 4, 2, 2), frame_mask=frame_mask_from_counts([0, 1, 2], 4))
    prior = last_frame_prior(torch.zeros(3, 2, 4, 2, 2), cond)
    assert prior.shape == (3, 2, 4, 2, 2)
    assert prior[:, 1, :, 1, 0].tolist() == [[0, 0, 0, 0], [1, 1, 1, 1], [2, 12, 12, 12]]
    assert torch.equal(last_frame_prior(torch.ones(3, 2, 4, 2, 2), None), torch.zeros(3, 2, 4, 2, 2))
    with pytest.raises(ConfigError, match="do not match the frame mask"):
        last_frame_prior(torch.zeros(3, 2, 5, 2, 2), cond)


def test_centre_noise() -> None:
    cond = Condition(latents=torch.full((2, 1, 3, 1, 1), 4.0), frame_mask=frame_mask_from_counts([0, 1], 3))
    noise = torch.randn(2, 1, 3, 1, 1, generator=torch.Generator().manual_seed(0))
    assert centre_noise(noise, cond, "noise") is noise
    shifted = centre_noise(noise, cond, "last_frame") - noise
    assert shifted[:, 0, :, 0, 0].tolist() == [[0, 0, 0], [4, 4, 4]]  # Text2World keeps plain noise
    with pytest.raises(ConfigError, match="unknown flow prior 'copy'"):
        centre_noise(noise, cond, "copy")
