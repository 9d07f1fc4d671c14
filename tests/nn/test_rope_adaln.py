"""3D RoPE (relative positions only, axis split, norms kept) and AdaLN / AdaLN-LoRA (neutral at init)."""

from __future__ import annotations

import pytest
import torch

from worldfm.errors import ConfigError
from worldfm.nn.adaln import AdaLN, AdaLNShared, modulate
from worldfm.nn.rope import RoPE3D, apply_rope, rope_3d_angles, rope_axis_dims


def test_axis_dims() -> None:
    assert rope_axis_dims(32) == (12, 10, 10)
    assert rope_axis_dims(64) == (24, 20, 20)
    assert sum(rope_axis_dims(48)) == 48
    for bad in (5, 7, 0, True):
        with pytest.raises(ConfigError, match="even head dimension"):
            rope_axis_dims(bad)


def test_scores_depend_only_on_offsets() -> None:
    g = torch.Generator().manual_seed(0)
    d, (t, h, w) = 24, (4, 5, 6)
    rope = RoPE3D(d)
    cos, sin = rope(t, h, w)
    q, k = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    n = t * h * w
    qs = apply_rope(q.expand(n, d), cos.double(), sin.double())  # the same vector at every position
    ks = apply_rope(k.expand(n, d), cos.double(), sin.double())
    scores = (qs @ ks.T).view(t, h, w, t, h, w)

    def s(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
        return float(scores[a + b])

    # Same offset (dt, dh, dw) = (1, 2, -1) at different absolute positions: same score.
    assert s((0, 0, 1), (1, 2, 0)) == pytest.approx(s((2, 1, 4), (3, 3, 3)), abs=1e-4)
    assert s((1, 1, 1), (1, 1, 1)) == pytest.approx(s((3, 4, 5), (3, 4, 5)), abs=1e-4)
    # Different offsets along each axis give different scores.
    base = s((0, 0, 0), (0, 0, 0))
    for other in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
        assert abs(s((0, 0, 0), other) - base) > 1e-3


def test_rotation_keeps_norms_and_is_identity_at_origin() -> None:
    x = torch.randn(2, 3, 2 * 3 * 4, 18)
    cos, sin = RoPE3D(18)(2, 3, 4)
    y = apply_rope(x, cos, sin)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.equal(y[..., 0, :], x[..., 0, :])  # position (0, 0, 0): angle 0
    assert rope_3d_angles(2, 3, 4, 18).shape == (24, 9)


def test_rope_cache_and_bad_theta() -> None:
    rope = RoPE3D(12)
    a = rope(2, 2, 2)
    assert rope(2, 2, 2)[0] is a[0]
    with pytest.raises(ConfigError, match="theta"):
        RoPE3D(12, theta=1.0)


@pytest.mark.parametrize("rank", [0, 4])
def test_adaln_neutral_at_init_and_trainable(rank: int) -> None:
    ada = AdaLN(emb_dim=8, width=6, chunks=3, lora_rank=rank)
    shared = AdaLNShared(8, 6, 3)
    emb = torch.randn(2, 8)
    shift, scale, gate = ada(emb, shared(emb) if rank else None)
    assert shift.shape == (2, 1, 6)
    for t in (shift, scale, gate):
        assert torch.equal(t, torch.zeros_like(t))
    x = torch.randn(2, 5, 6)
    assert torch.equal(modulate(x, shift, scale), x)
    # Gradients reach the zero-initialised output layer, so the modulation can learn.
    sum(c.sum() for c in ada(emb)).backward()
    last = ada.up.weight if rank else ada.proj.weight
    assert last.grad is not None and last.grad.abs().sum() > 0


@pytest.mark.parametrize("rank", [0, 4])
def test_adaln_per_frame_rows_repeat_over_their_tokens(rank: int) -> None:
    torch.manual_seed(0)
    ada = AdaLN(emb_dim=8, width=6, chunks=3, lora_rank=rank)
    shared = AdaLNShared(8, 6, 3)
    for m in (ada, shared):
        for p in m.parameters():
            torch.nn.init.normal_(p)
    emb = torch.randn(2, 3, 8)  # 3 frames
    per_frame = ada(emb, shared(emb) if rank else None, tokens_per_frame=4)
    assert [t.shape for t in per_frame] == [(2, 12, 6)] * 3
    for f in range(3):  # frame f's tokens get exactly the per-sample modulation of its own row
        alone = ada(emb[:, f], shared(emb[:, f]) if rank else None)
        for got, want in zip(per_frame, alone, strict=True):
            assert torch.allclose(got[:, 4 * f : 4 * f + 4], want.expand(2, 4, 6), atol=1e-6)
    with pytest.raises(ConfigError, match=r"\(B, D\) or \(B, T, D\)"):
        ada(torch.randn(2, 3, 4, 8))


def test_adaln_lora_saves_parameters() -> None:
    full = sum(p.numel() for p in AdaLN(256, 256, 9).parameters())
    lora = sum(p.numel() for p in AdaLN(256, 256, 9, lora_rank=64).parameters())
    assert lora < full / 3
    with pytest.raises(ConfigError, match="lora_rank"):
        AdaLN(4, 4, 3, lora_rank=-1)
