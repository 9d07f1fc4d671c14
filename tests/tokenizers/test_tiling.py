"""Spatial tiling with overlap blending: exact for pointwise models, close for real ones, any size."""

import itertools

import pytest
import torch
from tokenizer_helpers import smooth_video, tiny_model

from worldfm.errors import ConfigError
from worldfm.tokenizers import TilingConfig, VideoTokenizer, decode_tiled, encode_tiled
from worldfm.tokenizers.tiling import blend_ramp, tile_spans


@pytest.mark.parametrize(
    ("size", "tile", "overlap"), [(5, 8, 2), (8, 8, 2), (20, 8, 2), (33, 8, 4), (16, 4, 0)]
)
def test_spans_cover_with_equal_tiles(size: int, tile: int, overlap: int) -> None:
    spans = tile_spans(size, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == size
    assert len({b - a for a, b in spans}) == 1
    for (_, a1), (b0, _) in itertools.pairwise(spans):
        assert b0 <= a1 - overlap  # neighbours overlap by at least `overlap`
    weight = torch.zeros(size)
    for a, b in spans:
        weight[a:b] += blend_ramp(a, b, size, overlap)
    assert (weight > 0).all()
    if size > tile and (size - tile) % (tile - overlap) == 0:
        assert torch.allclose(weight, torch.ones(size))  # regular grid: ramps sum to exactly one


def _pointwise(model: VideoTokenizer) -> VideoTokenizer:
    """Keep only the centre tap of every 3x3 conv: each latent cell then sees only its own pixels."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3):
                centre = m.weight[:, :, 1, 1].clone()
                m.weight.zero_()
                m.weight[:, :, 1, 1] = centre
    return model


def test_tiling_is_exact_for_a_pointwise_model(kind: str) -> None:
    model = _pointwise(tiny_model(kind, temporal_kernel=1))
    video = torch.rand(2, 3, 5, 40, 56) * 2 - 1
    with torch.no_grad():
        z = model.encode_continuous(video)
        zt = encode_tiled(model, video, tile=24, overlap=8, batch_size=3)
        assert torch.allclose(zt, z, atol=1e-5)
        latents, _ = model.quantize(z)
        assert torch.allclose(
            decode_tiled(model, latents, tile=24, overlap=8, batch_size=5), model.decode(latents), atol=1e-5
        )


def test_single_tile_equals_untiled(kind: str) -> None:
    model = tiny_model(kind)
    video = smooth_video(1, 9, 16, 24)
    with torch.no_grad():
        z = model.encode_continuous(video)
        assert torch.allclose(encode_tiled(model, video, tile=32, overlap=8), z, atol=1e-6)
        assert torch.allclose(decode_tiled(model, z, tile=32, overlap=8), model.decoder(z), atol=1e-5)


def test_uint8_input_matches_float_input() -> None:
    model = tiny_model()
    pixels = torch.randint(0, 256, (1, 5, 16, 16, 3), dtype=torch.uint8)
    video = pixels.permute(0, 4, 1, 2, 3).float() / 127.5 - 1
    with torch.no_grad():
        assert torch.allclose(
            encode_tiled(model, pixels, tile=8, overlap=0), encode_tiled(model, video, tile=8, overlap=0)
        )


def test_tiled_close_to_untiled_on_smooth_input(kind: str) -> None:
    """A real (random, untrained) model: per-pixel norms keep tiles consistent; what differs comes
    from zero padding at tile borders, and overlap blending cuts it well below unblended tiling."""
    model = tiny_model(kind)
    video = smooth_video(1, 5, 64, 128)

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).abs().mean() / b.std())

    with torch.no_grad():
        z = model.encode_continuous(video)
        r = model.decoder(z)
        enc = {ov: rel(encode_tiled(model, video, tile=64, overlap=ov), z) for ov in (0, 32)}
        dec = {ov: rel(decode_tiled(model, z, tile=64, overlap=ov), r) for ov in (0, 32)}
    assert enc[32] < 0.15 and dec[32] < 0.1
    assert enc[32] < 0.85 * enc[0] and dec[32] < 0.7 * dec[0]


def test_tiling_errors() -> None:
    model = tiny_model()
    video = torch.zeros(1, 3, 1, 16, 16)
    with pytest.raises(ConfigError, match="multiple of the spatial factor 8"):
        encode_tiled(model, video, tile=12)
    with pytest.raises(ConfigError, match="overlap must be"):
        encode_tiled(model, video, tile=16, overlap=16)
    with pytest.raises(ConfigError, match=r"1 \+ k\*4"):
        TilingConfig(chunk_frames=8).check(4, 8)
    with pytest.raises(ConfigError, match=r"1 \+ k\*4 frames"):
        encode_tiled(model, torch.zeros(1, 3, 3, 16, 16))
