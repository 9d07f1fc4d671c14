"""DiT: shapes, identity blocks at init, frame conditioning, text/action masking, save/load, tiers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from predict_helpers import randomize, tiny_dit, tiny_dit_config

from worldfm.errors import ConfigError, UnknownNameError, WorldfmError
from worldfm.world.diffusion.conditioning import Condition, frame_mask_from_counts
from worldfm.world.diffusion.config import DiTConfig
from worldfm.world.diffusion.dit import DiT
from worldfm.world.diffusion.registry import PREDICT_TIERS, TIER_TOKENIZERS, get_dit_config


def full_cond(b: int = 2, t: int = 3, h: int = 2, w: int = 2, k: int = 1, seed: int = 0) -> Condition:
    g = torch.Generator().manual_seed(seed)
    return Condition(
        text=torch.randn(b, 5, 384, generator=g),
        text_mask=torch.tensor([[True] * 5, [True, True, False, False, False]])[:b],
        actions=torch.randn(b, (t - 1) * 4, 3, generator=g),
        latents=torch.randn(b, 4, t, h, w, generator=g),
        frame_mask=frame_mask_from_counts([k] * b, t),
    )


@pytest.mark.parametrize("patch", [1, 2])
def test_shapes_and_zero_output_at_init(patch: int) -> None:
    net = tiny_dit(random=False, patch_size=patch, sample_size=2)
    x = torch.randn(2, 4, 3, 4, 6)
    out = net(x, torch.tensor([0.3, 0.9]), full_cond(h=4, w=6))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.equal(out, torch.zeros_like(out))  # zero-initialised output projection


def test_blocks_are_identity_at_init() -> None:
    net = tiny_dit(random=False, adaln_lora_rank=0)
    net_lora = tiny_dit(random=False, adaln_lora_rank=8)
    for model in (net, net_lora):
        x = torch.randn(2, 12, 32)
        emb = torch.randn(2, 32)
        shared = model.shared(emb) if model.shared is not None else None
        rope = model.rope(3, 2, 2)
        text = torch.randn(2, 3, 32)
        mask = torch.ones(2, 1, 1, 3, dtype=torch.bool)
        for blk in model.blocks:
            assert torch.equal(blk(x, emb, shared, rope, text, mask), x)


def test_conditioned_frames_are_read_from_the_condition() -> None:
    net = tiny_dit()
    cond = full_cond(k=2)
    x = torch.randn(2, 4, 3, 2, 2)
    y = x.clone()
    y[:, :, :2] = torch.randn(2, 4, 2, 2, 2)  # change only the conditioned frames of x
    assert torch.equal(net(x, 0.5, cond), net(y, 0.5, cond))
    free = Condition(**{**cond.__dict__, "frame_mask": frame_mask_from_counts([0, 0], 3)})
    assert not torch.allclose(net(x, 0.5, free), net(y, 0.5, free))


def test_dropped_text_and_actions_equal_absent_ones() -> None:
    net = tiny_dit()
    cond = full_cond()
    x = torch.randn(2, 4, 3, 2, 2)
    none = torch.zeros(2, dtype=torch.bool)
    dropped = cond.drop(keep_text=none, keep_actions=none)
    absent = Condition(latents=cond.latents, frame_mask=cond.frame_mask)
    assert torch.allclose(net(x, 0.4, dropped), net(x, 0.4, absent), atol=1e-5)
    assert not torch.allclose(net(x, 0.4, cond), net(x, 0.4, absent), atol=1e-3)
    # Per-sample: dropping only sample 1's text leaves sample 0 unchanged.
    one = cond.drop(keep_text=torch.tensor([True, False]))
    assert torch.allclose(net(x, 0.4, one)[0], net(x, 0.4, cond)[0], atol=1e-6)


def test_actions_are_grouped_per_latent_frame() -> None:
    net = tiny_dit()
    cond = full_cond()
    x = torch.randn(2, 4, 3, 2, 2)
    base = net(x, 0.5, cond)
    later = Condition(**{**cond.__dict__, "actions": cond.actions.clone()})
    later.actions[:, 4:] += 1.0  # the actions into latent frame 2 only
    assert not torch.allclose(base, net(x, 0.5, later))


def test_action_modulation_starts_as_the_model_without_it() -> None:
    """A model grown with per-frame action modulation (zero-initialised) reproduces the model it was
    warm-started from (up to float rounding: the modulation is computed per frame); once trained, the actions change every frame's modulation."""
    from worldfm.train.recipes.run import warm_start

    base = tiny_dit()
    grown = DiT(tiny_dit_config(action_modulation=True)).eval()
    assert {k for k in grown.state_dict() if k not in base.state_dict()} == {
        "action_mod.0.weight",
        "action_mod.0.bias",
        "action_mod.2.weight",
        "action_mod.2.bias",
        "no_action_mod",
    }
    warm_start(grown, base.state_dict(), "base", new_prefixes=DiT.WARM_START_NEW)
    x, cond = torch.randn(2, 4, 3, 2, 2), full_cond()
    absent = Condition(latents=cond.latents, frame_mask=cond.frame_mask)
    for c in (cond, absent):
        assert torch.allclose(grown(x, 0.5, c), base(x, 0.5, c), atol=1e-5)
    randomize(grown.action_mod, 1)
    torch.nn.init.normal_(grown.no_action_mod)
    assert not torch.allclose(grown(x, 0.5, absent), base(x, 0.5, absent))  # the learned "no action" row
    later = Condition(**{**cond.__dict__, "actions": cond.actions.clone()})
    later.actions[:, 4:] += 1.0  # the actions into latent frame 2 only
    plain = tiny_dit()
    plain.action_proj[2].weight.data.zero_()  # token embedding silenced: only the modulation sees actions
    grown.load_state_dict({**grown.state_dict(), "action_proj.2.weight": plain.action_proj[2].weight})
    assert not torch.allclose(grown(x, 0.5, cond), grown(x, 0.5, later))
    # Without action_dim the flag builds nothing (tiers may set it for models trained on action data).
    assert not any(
        "action" in k for k in DiT(tiny_dit_config(action_dim=0, action_modulation=True)).state_dict()
    )


def test_action_modulation_save_load_and_old_configs(tmp_path: Path) -> None:
    net = tiny_dit(action_modulation=True)
    x, cond = torch.randn(2, 4, 3, 2, 2), full_cond()
    net.save_pretrained(tmp_path / "m", dtype="float32")
    assert torch.equal(DiT.from_pretrained(tmp_path / "m")(x, 0.7, cond), net(x, 0.7, cond))
    data = tiny_dit_config().to_dict()
    data.pop("action_modulation")  # a config.json written before the field existed
    assert DiTConfig.from_dict(data).action_modulation is False
    data.pop("flow_prior")
    assert DiTConfig.from_dict(data).flow_prior == "noise"


def test_bf16_autocast_forward() -> None:
    net = tiny_dit()
    x, cond = torch.randn(2, 4, 3, 2, 2), full_cond()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x, 0.5, cond)
    assert out.dtype == torch.float32
    ref = net(x, 0.5, cond)
    assert (out - ref).abs().mean() < 0.05 * ref.abs().mean()


def test_input_errors() -> None:
    net = tiny_dit()
    x = torch.randn(2, 4, 3, 2, 2)
    with pytest.raises(ConfigError, match=r"actions must be \(B, 8, 3\)"):
        net(x, 0.5, Condition(actions=torch.randn(2, 7, 3)))
    with pytest.raises(ConfigError, match="text states have width 10"):
        net(x, 0.5, Condition(text=torch.randn(2, 4, 10), text_mask=torch.ones(2, 4, dtype=torch.bool)))
    with pytest.raises(ConfigError, match=r"x must be \(B, 4, T, h, w\)"):
        net(torch.randn(2, 5, 3, 2, 2), 0.5)
    with pytest.raises(ConfigError, match="batch size 3"):
        net(x, 0.5, Condition(actions=torch.randn(3, 8, 3)))
    with pytest.raises(ConfigError, match="no action conditioning"):
        tiny_dit(action_dim=0)(x, 0.5, Condition(actions=torch.randn(2, 8, 3)))
    with pytest.raises(ConfigError, match="multiple of patch_size 2"):
        tiny_dit(patch_size=2)(torch.randn(1, 4, 3, 3, 2), 0.5)


@pytest.mark.slow  # the first non-reentrant checkpoint costs ~3 s of one-time torch imports
@pytest.mark.parametrize("modulation", [False, True])
def test_gradient_checkpointing_matches(modulation: bool) -> None:
    net = tiny_dit(action_modulation=modulation).train()
    x, cond = torch.randn(2, 4, 3, 2, 2), full_cond()
    net(x, 0.3, cond).square().mean().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    net.gradient_checkpointing = True
    net(x, 0.3, cond).square().mean().backward()
    for a, p in zip(grads, net.parameters(), strict=True):
        assert torch.allclose(a, p.grad, atol=1e-6)


def test_save_load_identical(tmp_path: Path) -> None:
    net = tiny_dit()
    x, cond = torch.randn(2, 4, 3, 2, 2), full_cond()
    net.save_pretrained(tmp_path / "fp32", dtype="float32")
    assert torch.equal(DiT.from_pretrained(tmp_path / "fp32")(x, 0.7, cond), net(x, 0.7, cond))
    net.save_pretrained(tmp_path / "bf16")  # bfloat16 by default: loading rounds once, exactly
    a = DiT.from_pretrained(tmp_path / "bf16")
    a.save_pretrained(tmp_path / "bf16b")
    assert torch.equal(DiT.from_pretrained(tmp_path / "bf16b")(x, 0.7, cond), a(x, 0.7, cond))
    assert (tmp_path / "bf16" / "model.safetensors").stat().st_size < (
        tmp_path / "fp32" / "model.safetensors"
    ).stat().st_size
    (tmp_path / "bf16" / "config.json").write_text('{"_class_name": "Other"}')
    with pytest.raises(WorldfmError, match="expected 'DiT'"):
        DiT.from_pretrained(tmp_path / "bf16")


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="patch_size must be 1 or 2"):
        tiny_dit_config(patch_size=3)
    with pytest.raises(ConfigError, match="does not split into 3 heads"):
        tiny_dit_config(heads=3)
    with pytest.raises(ConfigError, match="head dimension"):
        tiny_dit_config(width=8, heads=2)
    with pytest.raises(ConfigError, match=r"flow_prior must be one of \['noise', 'last_frame'\]"):
        tiny_dit_config(flow_prior="copy")
    with pytest.raises(ConfigError, match="unknown DiT config keys"):
        DiTConfig.from_dict({"widht": 3})
    cfg = tiny_dit_config()
    assert DiTConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.window_frames == 9 and cfg.resolution == 16


def test_tiers() -> None:
    nano = get_dit_config("predict-nano")
    assert nano.window_frames == 17 and nano.resolution == 64 and nano.sample_frames == 5
    assert set(TIER_TOKENIZERS) == set(PREDICT_TIERS)
    n_nano = DiT(get_dit_config("predict-nano", action_dim=4)).num_parameters()
    assert 5e6 < n_nano < 20e6  # 10.85M: 21.7 MB in bf16
    plain = DiT(get_dit_config("predict-nano", action_dim=4, adaln_lora_rank=0)).num_parameters()
    assert n_nano < 0.85 * plain  # AdaLN-LoRA saves parameters
    sup = get_dit_config("predict-super")
    assert (sup.window_frames, sup.resolution, sup.tokens()) == (33, 128, 576)
    with pytest.raises(UnknownNameError, match="unknown world model 'predict-huge'"):
        get_dit_config("predict-huge")


def test_randomize_helper_changes_outputs() -> None:
    net = randomize(tiny_dit(random=False))
    assert net(torch.randn(1, 4, 3, 2, 2), 0.5).abs().sum() > 0
