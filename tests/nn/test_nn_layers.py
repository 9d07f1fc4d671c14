"""Shared layers: Haar patching, causal resampling, causal temporal conv, per-frame norm and attention."""

import pytest
import torch
import torch.nn.functional as F

from worldfm.errors import ConfigError
from worldfm.nn import (
    CausalDownsample,
    CausalResBlock,
    CausalTemporalConv,
    CausalUpsample,
    FrameAttention,
    FrameGroupNorm,
    HaarPatcher,
    SpatialConv,
    depth_to_space,
    haar_matrix,
    space_to_depth,
)

torch.manual_seed(0)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_haar_matrix_inverse_and_mean_row(n: int) -> None:
    fwd, inv = haar_matrix(n), haar_matrix(n, inverse=True)
    assert torch.allclose(inv @ fwd, torch.eye(n, dtype=torch.float64))
    assert torch.allclose(fwd @ fwd.T, torch.eye(n, dtype=torch.float64))  # orthogonal
    assert torch.allclose(fwd[0], torch.full((n,), n**-0.5, dtype=torch.float64))  # low band = mean * sqrt(n)


@pytest.mark.parametrize(("ps", "pt", "t"), [(1, 1, 3), (2, 1, 2), (2, 2, 5), (4, 4, 9), (4, 2, 1)])
def test_haar_patch_roundtrip(ps: int, pt: int, t: int) -> None:
    patcher = HaarPatcher(ps, pt)
    x = torch.randn(2, 3, t, 4 * ps, 2 * ps)
    y = patcher.patch(x)
    assert y.shape == (2, 1 + (t - 1) // pt, 3 * pt * ps * ps, 4, 2)
    assert torch.allclose(patcher.unpatch(y), x, atol=1e-6)
    # Band 0 of each colour is the block mean times sqrt(block); frame 0 is padded with copies of itself.
    block = pt * ps * ps
    assert torch.allclose(y[:, 0, ::block], F.avg_pool2d(x[:, :, 0], ps) * block**0.5, atol=1e-5)
    # Orthogonal: the energy of the (padded) video equals the energy of the coefficients.
    padded = torch.cat([x[:, :, :1].expand(-1, -1, pt - 1, -1, -1), x], dim=2)
    assert torch.allclose(y.square().sum(), padded.square().sum(), rtol=1e-5)


def test_haar_rejects_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="powers of two"):
        HaarPatcher(3, 1)
    with pytest.raises(ConfigError, match="T = 1 \\+ k\\*4"):
        HaarPatcher(2, 4).patch(torch.zeros(1, 3, 4, 4, 4))


def test_space_to_depth_is_causal_grouping() -> None:
    x = torch.arange(9, dtype=torch.float32).view(1, 9, 1, 1, 1).expand(1, 9, 1, 2, 2).contiguous()
    y = space_to_depth(x, 2, 4)  # (1, 3, 16, 1, 1): frame 0 alone, then frames 1-4 and 5-8
    assert y.shape == (1, 3, 16, 1, 1)
    assert y[0, 0].unique().tolist() == [0.0]
    assert y[0, 1].unique().tolist() == [1.0, 2.0, 3.0, 4.0]
    assert y[0, 2].unique().tolist() == [5.0, 6.0, 7.0, 8.0]
    assert torch.equal(depth_to_space(y, 2, 4), x)


def test_temporal_conv_matches_conv3d_with_replicate_padding() -> None:
    conv = CausalTemporalConv(4, 5, kernel_size=3)
    x = torch.randn(2, 6, 4, 3, 5)  # (B, T, C, H, W)
    w3d = conv.weight.view(5, 3, 4).permute(0, 2, 1)[..., None, None]  # (Cout, Cin, k, 1, 1)
    xp = x.transpose(1, 2)
    xp = torch.cat([xp[:, :, :1].expand(-1, -1, 2, -1, -1), xp], dim=2)
    ref = F.conv3d(xp, w3d, conv.bias).transpose(1, 2)
    assert torch.allclose(conv(x), ref, atol=1e-5)


def test_spatial_conv_is_per_frame() -> None:
    conv = SpatialConv(3, 4, 3)
    x = torch.randn(2, 5, 3, 8, 8)
    y = conv(x)
    assert y.shape == (2, 5, 4, 8, 8)
    assert torch.allclose(y[1, 3], F.conv2d(x[1, 3:4], conv.weight, conv.bias, padding=1)[0], atol=1e-6)


def _assert_causal(layer: torch.nn.Module, x: torch.Tensor, t_in: int, t_out: int) -> None:
    """Changing input frames >= t_in leaves output frames < t_out unchanged and changes later ones."""
    y = layer(x)
    x2 = x.clone()
    x2[:, t_in:] += torch.randn_like(x2[:, t_in:])
    y2 = layer(x2)
    assert torch.allclose(y[:, :t_out], y2[:, :t_out], atol=1e-6)
    assert not torch.allclose(y[:, t_out:], y2[:, t_out:], atol=1e-3)


def test_blocks_are_causal() -> None:
    x = torch.randn(2, 9, 8, 4, 4)
    for norm in ("rms", "group"):
        block = CausalResBlock(8, 8, groups=4, norm=norm)
        torch.nn.init.normal_(block.conv2.weight, std=0.1)  # zero at init; make the branch count
        _assert_causal(block, x, 5, 5)
        # Frame 4 depends on frames 2..4 only (temporal kernel 3), not on frames 0..1.
        y, x2 = block(x), x.clone()
        x2[:, :2] += 1.0
        assert torch.allclose(block(x2)[:, 4:], y[:, 4:], atol=1e-6)
    _assert_causal(CausalDownsample(8, 16, fs=2, ft=2), x, 5, 3)  # frames 5.. feed output frames 3..
    _assert_causal(CausalUpsample(8, 8, fs=2, ft=2), x, 5, 1 + 4 * 2)
    _assert_causal(FrameGroupNorm(4, 8), x, 5, 5)
    attn = FrameAttention(8, heads=2, groups=4)
    torch.nn.init.normal_(attn.out.weight)
    _assert_causal(attn, x, 5, 5)


def test_resample_shapes_and_shortcuts() -> None:
    x = torch.randn(1, 5, 8, 8, 8)
    down, up = CausalDownsample(8, 16, fs=2, ft=2), CausalUpsample(16, 8, fs=2, ft=2)
    assert down(x).shape == (1, 3, 16, 4, 4)
    assert up(down(x)).shape == (1, 5, 8, 8, 8)
    # With the convs zeroed the blocks are parameter-free: average pooling per frame and channel
    # (channel 2c + dt holds frame dt of the pair for channel c) and nearest-neighbour upsampling.
    for block in (down, up):
        torch.nn.init.zeros_(block.conv.weight)
        torch.nn.init.zeros_(block.conv.bias)
    y = down(x)
    for c in range(8):
        assert torch.allclose(y[0, 0, 2 * c], F.avg_pool2d(x[0, 0, c : c + 1], 2)[0], atol=1e-6)
        assert torch.allclose(y[0, 1, 2 * c], F.avg_pool2d(x[0, 1, c : c + 1], 2)[0], atol=1e-6)
        assert torch.allclose(y[0, 1, 2 * c + 1], F.avg_pool2d(x[0, 2, c : c + 1], 2)[0], atol=1e-6)
    z = up(y)
    nearest = F.interpolate(y[0, 1:2, 1::2], scale_factor=2, mode="nearest")[0]  # frames 1, 2 from latent 1
    assert torch.allclose(z[0, 1], F.interpolate(y[0, 1:2, 0::2], scale_factor=2, mode="nearest")[0])
    assert torch.allclose(z[0, 2], nearest)


def test_down_then_up_constant_video_is_preserved_by_shortcuts() -> None:
    down, up = CausalDownsample(4, 8, fs=2, ft=2), CausalUpsample(8, 4, fs=2, ft=2)
    for block in (down, up):
        torch.nn.init.zeros_(block.conv.weight)
        torch.nn.init.zeros_(block.conv.bias)
    x = torch.full((1, 5, 4, 4, 4), 0.25)
    assert torch.allclose(up(down(x)), x)


def test_res_block_starts_as_identity() -> None:
    block = CausalResBlock(8, 8, groups=4)
    x = torch.randn(1, 3, 8, 4, 4)
    assert torch.equal(block(x), x)


def test_layer_errors() -> None:
    with pytest.raises(ConfigError, match="groups"):
        FrameGroupNorm(3, 8)
    with pytest.raises(ConfigError, match="multiple of 8"):
        CausalDownsample(4, 12, fs=2, ft=2)
    with pytest.raises(ConfigError, match="odd"):
        SpatialConv(1, 1, 2)


def test_channel_rms_norm_matches_reference_and_its_gradients() -> None:
    from worldfm.nn import ChannelRMSNorm

    norm = ChannelRMSNorm(4).double()
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 1.0, 1.5, -2.0]))
    x = torch.randn(2, 3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    ref = x * torch.rsqrt(x.square().mean(dim=2, keepdim=True) + norm.eps) * norm.weight[:, None, None]
    assert torch.allclose(norm(x), ref)
    # The hand-written backward equals autograd through the reference formula.
    g = torch.randn_like(x)
    got = torch.autograd.grad((norm(x) * g).sum(), (x, norm.weight))
    want = torch.autograd.grad((ref * g).sum(), (x, norm.weight))
    assert all(torch.allclose(a, b) for a, b in zip(got, want, strict=True))
    # Per pixel: one pixel's output depends on that pixel's channels only.
    y = norm(x)
    x2 = x.detach().clone()
    x2[..., 0, 0] += 1
    assert torch.allclose(norm(x2)[..., 1:, :], y[..., 1:, :])
