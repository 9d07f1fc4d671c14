"""Entropy coding of DV token indices (tokenizers/entropy.py) and compressed latents files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tokenizer_helpers import tiny_model

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers import EncodedVideo, TilingConfig, Tokenizer
from worldfm.tokenizers.entropy import (
    coded_bits,
    decode_indices,
    digits_to_indices,
    encode_indices,
    fsq_digits,
)
from worldfm.tokenizers.fsq import FSQ

LEVELS = (8, 8, 8, 5, 5, 5)


def test_digits_are_the_fsq_quantiser_layout() -> None:
    indices = torch.arange(0, 64000, 7)
    codes = FSQ(LEVELS).indices_to_codes(indices, dim=-1)  # (n, 6) in [-1, 1]
    half = torch.tensor([v // 2 for v in LEVELS])
    expected = (codes * half + half).round().long().numpy()
    assert np.array_equal(fsq_digits(indices.numpy(), LEVELS), expected)
    assert np.array_equal(digits_to_indices(expected, LEVELS), indices.numpy())


@pytest.mark.parametrize(
    ("shape", "levels"),
    [((1, 1, 1), LEVELS), ((3, 5, 7), LEVELS), ((9, 16, 16), (8, 5, 5, 5)), ((2, 4, 3), (2, 2))],
)
def test_random_indices_round_trip_at_about_their_fixed_length_cost(
    shape: tuple[int, int, int], levels: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(sum(shape))
    indices = rng.integers(0, math.prod(levels), shape)
    data = encode_indices(indices, levels)
    assert len(data) % 4 == 0
    decoded = decode_indices(data, shape, levels)
    assert decoded.dtype == np.int64 and np.array_equal(decoded, indices)
    raw_bits = indices.size * math.log2(math.prod(levels))
    assert 8 * len(data) <= 1.25 * raw_bits + 64  # incompressible input costs little more than raw


def test_video_like_tokens_compress_far_below_their_fixed_length() -> None:
    """A static background with one moving block: the coder should spend bits on the block only."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 64000, (16, 16))
    frames = np.repeat(background[None], 9, axis=0)
    for f in range(9):
        frames[f, 4:8, f : f + 4] = rng.integers(0, 64000, (4, 4))
    bits = coded_bits(frames, LEVELS)
    raw_bits = frames.size * math.log2(64000)
    assert bits < 0.35 * raw_bits
    assert np.array_equal(decode_indices(encode_indices(frames, LEVELS), frames.shape, LEVELS), frames)
    # The same tokens with no repetition in time cost about raw.
    shuffled = rng.permutation(frames.reshape(-1)).reshape(frames.shape)
    assert coded_bits(shuffled, LEVELS) > 0.8 * raw_bits


def test_encoding_is_deterministic() -> None:
    indices = np.random.default_rng(3).integers(0, 64000, (4, 6, 6))
    assert encode_indices(indices, LEVELS) == encode_indices(indices.astype(np.int32), LEVELS)


def test_bad_input_is_refused() -> None:
    good = np.zeros((2, 3, 3), dtype=np.int64)
    with pytest.raises(ConfigError, match=r"lie in \[0, 64000\), got \[0, 64000\]"):
        encode_indices(good + np.array(64000) * (np.arange(18).reshape(2, 3, 3) == 5), LEVELS)
    with pytest.raises(ConfigError, match="got \\[-1, 0\\]"):
        encode_indices(good - (np.arange(18).reshape(2, 3, 3) == 0), LEVELS)
    with pytest.raises(ConfigError, match="must be integers"):
        encode_indices(good.astype(np.float32), LEVELS)
    with pytest.raises(ConfigError, match=r"shape \(frames, height, width\)"):
        encode_indices(good[0], LEVELS)
    with pytest.raises(ConfigError, match="levels must all be >= 2"):
        encode_indices(good, (8, 1))
    with pytest.raises(ConfigError, match="whole 32-bit words"):
        decode_indices(b"abc", (2, 3, 3), LEVELS)


def _dv_encoding(t: int = 33, size: int = 32) -> EncodedVideo:
    rng = np.random.default_rng(1)
    still = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    frames = np.repeat(still, t, axis=0)  # a still scene: its tokens repeat over time
    frames[:, :4, :4] = rng.integers(0, 256, (t, 4, 4, 3), dtype=np.uint8)
    return Tokenizer(tiny_model("discrete"), tiling=TilingConfig(tile=16, overlap=8, chunk_frames=9)).encode(
        frames, fps=10.0
    )


def test_compressed_file_round_trips_exactly_and_is_smaller(tmp_path: Path) -> None:
    encoded = _dv_encoding()
    raw = encoded.save(tmp_path / "raw.safetensors")
    packed = encoded.save(tmp_path / "packed.safetensors", compress=True)
    loaded = EncodedVideo.load(packed)
    assert torch.equal(loaded.indices, encoded.indices)
    assert (loaded.num_frames, loaded.height, loaded.width, loaded.fps) == (33, 32, 32, 10.0)
    coded_bytes = len(encode_indices(encoded.indices.numpy(), encoded.config.fsq_levels))
    with safe_open(str(packed), framework="pt") as f:
        meta = f.metadata()
        assert list(f.keys()) == ["indices_coded"]
        assert f.get_tensor("indices_coded").numel() == coded_bytes
    assert meta["format_version"] == "2" and meta["indices_coding"] == "fsq-context-range-v1"
    with safe_open(str(raw), framework="pt") as f:
        assert f.metadata()["format_version"] == "1"  # uncompressed files stay readable by older worldfm
    assert encoded.coded_bits_per_pixel() == pytest.approx(8 * coded_bytes / encoded.num_pixels)
    assert encoded.coded_bits_per_pixel() < 0.4 * encoded.bits_per_pixel  # a still scene repeats its tokens


def test_coding_pass_is_shared_and_follows_the_indices(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`save(compress=True)` and `coded_bits_per_pixel` share one coding pass; changed indices are coded anew."""
    import worldfm.tokenizers.container as container

    encoded = _dv_encoding()
    calls = []
    real = container.entropy.encode_indices
    monkeypatch.setattr(container.entropy, "encode_indices", lambda *a: calls.append(1) or real(*a))
    encoded.save(tmp_path / "packed.safetensors", compress=True)
    bpp = encoded.coded_bits_per_pixel()
    assert len(calls) == 1 and encoded.coded_indices() == real(
        encoded.indices.numpy(), encoded.config.fsq_levels
    )
    encoded.indices[0, 0, 0] = (encoded.indices[0, 0, 0] + 1) % encoded.config.codebook_size  # in place
    assert encoded.coded_bits_per_pixel() > 0 and len(calls) == 2
    assert bpp > 0


def test_compress_is_ignored_for_continuous_latents(tmp_path: Path) -> None:
    frames = np.random.default_rng(2).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    cv = Tokenizer(tiny_model("continuous"), tiling=TilingConfig(tile=16, overlap=8, chunk_frames=9)).encode(
        frames
    )
    loaded = EncodedVideo.load(cv.save(tmp_path / "cv.safetensors", compress=True))
    assert torch.equal(loaded.latents, cv.latents) and cv.coded_bits_per_pixel() is None
    with pytest.raises(ConfigError, match="only DV"):
        cv.coded_indices()


def test_damaged_compressed_files_are_refused(tmp_path: Path) -> None:
    encoded = _dv_encoding()
    packed = encoded.save(tmp_path / "packed.safetensors", compress=True)
    with safe_open(str(packed), framework="pt") as f:
        meta, coded = dict(f.metadata()), f.get_tensor("indices_coded")
    flipped = coded.clone()
    flipped[len(flipped) // 2] ^= 0xFF
    save_file({"indices_coded": flipped}, str(tmp_path / "flipped.safetensors"), metadata=meta)
    with pytest.raises(WorldfmError, match=r"flipped\.safetensors: corrupt latents file \(compressed"):
        EncodedVideo.load(tmp_path / "flipped.safetensors")
    save_file(
        {"indices_coded": coded},
        str(tmp_path / "coding.safetensors"),
        metadata=meta | {"indices_coding": "zip"},
    )
    with pytest.raises(WorldfmError, match="unknown indices coding 'zip'"):
        EncodedVideo.load(tmp_path / "coding.safetensors")
    config = json.loads(meta["config"])
    assert config["fsq_levels"]  # the levels that decode it travel in the file
    newer = meta | {"format_version": "3"}
    save_file({"indices_coded": coded}, str(tmp_path / "newer.safetensors"), metadata=newer)
    with pytest.raises(WorldfmError, match="latents format 3 is newer than this worldfm reads \\(2\\)"):
        EncodedVideo.load(tmp_path / "newer.safetensors")
