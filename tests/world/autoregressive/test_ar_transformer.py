"""ARTransformer: KV-cache equivalence, causality, conditioning, digits round trip, loss, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ar_helpers import tiny_ar, tiny_ar_config

from worldfm.errors import ConfigError, UnknownNameError, WorldfmError
from worldfm.world.autoregressive.config import ARConfig
from worldfm.world.autoregressive.registry import (
    AR_TIERS,
    get_ar_config,
    is_ar_model,
    resolve_ar_pipeline_path,
)
from worldfm.world.autoregressive.transformer import ARTransformer
from worldfm.world.diffusion.conditioning import Condition


def random_tokens(b: int, t: int, h: int, w: int, codebook: int = 36, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, codebook, (b, t, h, w), generator=torch.Generator().manual_seed(seed))


def cond_for(b: int, t: int, seed: int = 0) -> Condition:
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(b, 5, 384, generator=g)
    mask = torch.ones(b, 5, dtype=torch.bool)
    mask[0, 3:] = False
    actions = torch.randn(b, (t - 1) * 4, 3, generator=g)
    return Condition(text=text, text_mask=mask, actions=actions)


def test_cached_logits_equal_uncached() -> None:
    net = tiny_ar()
    idx = random_tokens(2, 3, 2, 2)
    cond = cond_for(2, 3)
    full = net(idx, cond)  # (2, 12, 10)
    assert full.shape == (2, 12, 10)
    flat = idx.reshape(2, -1)
    prev = torch.cat([torch.full((2, 1), -1), flat[:, :-1]], dim=1)
    ctx = net.context(cond, 2, 3)
    cache = net.new_cache(2, 12)
    # A prefill of 5 slots, then one slot at a time, then a chunk of 3: same logits as one pass.
    parts = [net.forward_slots(prev[:, :5], 0, (3, 2, 2), ctx, cache)]
    for i in range(5, 9):
        parts.append(net.forward_slots(prev[:, i : i + 1], i, (3, 2, 2), ctx, cache))
    parts.append(net.forward_slots(prev[:, 9:], 9, (3, 2, 2), ctx, cache))
    assert cache.length == 12
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match="must start there"):
        net.forward_slots(prev[:, :1], 3, (3, 2, 2), ctx, cache)
    with pytest.raises(ConfigError, match="outside"):
        net.forward_slots(prev[:, :1], 12, (3, 2, 2), ctx, net.new_cache(2, 13))


def test_causality_later_tokens_never_change_earlier_logits() -> None:
    net = tiny_ar()
    idx = random_tokens(1, 3, 2, 2, seed=1)
    cond = cond_for(1, 3)
    base = net(idx, cond)[0]
    for k in (0, 4, 7, 11):
        changed = idx.clone().reshape(-1)
        changed[k] = (changed[k] + 5) % 36
        out = net(changed.reshape(idx.shape), cond)[0]
        # slot i sees tokens < i: slots <= k unchanged, slot k + 1 (which reads token k) changes
        torch.testing.assert_close(out[: k + 1], base[: k + 1], atol=1e-6, rtol=0)
        if k + 1 < 12:
            assert not torch.allclose(out[k + 1], base[k + 1])


def test_actions_act_on_their_frame_only_and_text_matters() -> None:
    net = tiny_ar()
    idx = random_tokens(1, 3, 2, 2, seed=2)
    cond = cond_for(1, 3)
    base = net(idx, cond)[0]
    acts = cond.actions.clone()
    acts[:, 4:] += 1.0  # the actions reaching latent frame 2 (rows 4..7)
    out = net(idx, Condition(text=cond.text, text_mask=cond.text_mask, actions=acts))[0]
    torch.testing.assert_close(out[:8], base[:8], atol=1e-6, rtol=0)
    assert not torch.allclose(out[8:], base[8:])
    no_text = net(idx, Condition(actions=cond.actions))[0]
    assert not torch.allclose(no_text, base)
    # a fully masked text equals no text (the null token alone is attended)
    dropped = cond.drop(keep_text=torch.zeros(1, dtype=torch.bool))
    torch.testing.assert_close(
        net(idx, Condition(actions=cond.actions))[0],
        net(idx, Condition(text=dropped.text, text_mask=dropped.text_mask, actions=cond.actions))[0],
        atol=1e-6,
        rtol=0,
    )


def test_digits_round_trip_and_loss() -> None:
    net = tiny_ar()
    idx = torch.arange(36).reshape(1, 1, 6, 6)
    digits = net.digits(idx)
    assert (
        digits.shape == (1, 1, 6, 6, 3) and int(digits[..., 0].max()) == 3 and int(digits[..., 2].max()) == 2
    )
    assert torch.equal(net.indices(digits), idx)
    idx = random_tokens(2, 3, 2, 2)
    logits = net(idx)
    loss = net.loss(logits, idx)
    assert loss.shape == (2,) and torch.isfinite(loss).all()
    # a perfect prediction has (near) zero loss
    perfect = torch.full_like(logits, -30.0)
    for lvl, off in enumerate((0, 4, 7)):
        perfect.scatter_(-1, net.digits(idx.reshape(2, -1))[..., lvl : lvl + 1] + off, 30.0)
    assert float(net.loss(perfect, idx).max()) < 1e-6


def test_bad_inputs_raise_clear_errors() -> None:
    net = tiny_ar()
    with pytest.raises(ConfigError, match=r"must lie in \[0, 36\)"):
        net(torch.full((1, 1, 2, 2), 36))
    with pytest.raises(ConfigError, match="integer tensor"):
        net(torch.zeros(1, 1, 2, 2))
    with pytest.raises(ConfigError, match=r"actions must be \(B, 8, 3\)"):
        net(random_tokens(1, 3, 2, 2), Condition(actions=torch.zeros(1, 4, 3)))
    with pytest.raises(ConfigError, match="action_dim 0"):
        tiny_ar(action_dim=0)(random_tokens(1, 3, 2, 2), Condition(actions=torch.zeros(1, 8, 3)))
    with pytest.raises(ConfigError, match="head dimension"):
        tiny_ar_config(width=20, heads=4)
    with pytest.raises(ConfigError, match="fsq_levels"):
        tiny_ar_config(fsq_levels=(8, 1))
    with pytest.raises(ConfigError, match="unknown AR config keys"):
        ARConfig.from_dict({"widht": 3})


def test_save_load_equality(tmp_path: Path) -> None:
    net = tiny_ar()
    folder = net.save_pretrained(tmp_path / "ar", dtype="float32")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["_class_name"] == "ARTransformer" and meta["fsq_levels"] == [4, 3, 3]
    loaded = ARTransformer.from_pretrained(folder)
    assert loaded.config == net.config
    idx = random_tokens(2, 3, 2, 2)
    cond = cond_for(2, 3)
    assert torch.equal(loaded(idx, cond), net(idx, cond))
    bad = tmp_path / "bad"
    tiny_ar(depth=1).save_pretrained(bad, dtype="float32")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["depth"] = 2
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WorldfmError, match="do not match the config"):
        ARTransformer.from_pretrained(bad)
    with pytest.raises(WorldfmError, match="not an ARTransformer folder"):
        ARTransformer.from_pretrained(tmp_path)


def test_tiers_and_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nano = get_ar_config("ar-nano")
    assert nano.resolution == 64 and nano.window_frames == 17 and nano.tokens() == 320
    assert 3e6 < ARTransformer(nano).num_parameters() < 10e6
    assert set(AR_TIERS) == {"ar-nano", "ar-super"}
    with pytest.raises(UnknownNameError):
        get_ar_config("ar-huge")
    assert is_ar_model("ar-nano") and not is_ar_model("predict-nano") and not is_ar_model(tmp_path)
    assert resolve_ar_pipeline_path("ar-nano").name == "ar-nano"  # shipped in the package
    import worldfm.tokenizers.pretrained as pretrained

    monkeypatch.setattr(pretrained, "SHIPPED_WEIGHTS_DIR", tmp_path / "weights")
    with pytest.raises(WorldfmError, match=r"'ar-nano' are not shipped yet.*worldfm train ar"):
        resolve_ar_pipeline_path("ar-nano")
    monkeypatch.undo()
    with pytest.raises(WorldfmError, match="GPUs and ship no weights"):
        resolve_ar_pipeline_path("ar-super")
    with pytest.raises(WorldfmError, match="unknown autoregressive world model 'nope'"):
        resolve_ar_pipeline_path("nope")
    with pytest.raises(WorldfmError, match=r"no model_index\.json"):
        resolve_ar_pipeline_path(tmp_path)
