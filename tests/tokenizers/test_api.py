"""Tokenizer (any size and length) and EncodedVideo files."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from tokenizer_helpers import tiny_model

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers import EncodedVideo, TilingConfig, Tokenizer
from worldfm.tokenizers.api import roundtrip_metrics

SMALL_TILES = TilingConfig(tile=16, overlap=8, chunk_frames=9, batch_size=3)


def _frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("t", "h", "w"), [(1, 1, 1), (2, 7, 9), (5, 8, 8), (6, 17, 33), (23, 21, 37), (10, 40, 24)]
)
def test_any_size_and_length_round_trips_to_the_same_shape(kind: str, t: int, h: int, w: int) -> None:
    tok = Tokenizer(tiny_model(kind), tiling=SMALL_TILES)
    frames = _frames(t, h, w)
    encoded = tok.encode(frames, fps=7.5)
    assert encoded.padded_height == math.ceil(h / 8) * 8 and encoded.padded_width == math.ceil(w / 8) * 8
    assert encoded.num_latent_frames == sum(1 + math.ceil((min(9, t - s) - 1) / 4) for s in range(0, t, 9))
    decoded = tok.decode(encoded)
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8


def test_one_chunk_equals_the_model_on_the_padded_clip(kind: str) -> None:
    model = tiny_model(kind)
    tok = Tokenizer(model, tiling=TilingConfig(tile=64, overlap=0, chunk_frames=9))
    frames = _frames(9, 13, 16)  # height padded 13 -> 16 by edge replication
    padded = np.pad(frames, ((0, 0), (0, 3), (0, 0), (0, 0)), mode="edge")
    video = torch.from_numpy(padded).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    with torch.no_grad():
        ref = model.encode(video)[0]
    encoded = tok.encode(frames)
    got = encoded.indices if kind == "discrete" else encoded.latents
    if kind == "discrete":
        assert torch.equal(got, ref)
    else:
        assert torch.allclose(got, ref, atol=1e-5)


def test_chunks_are_independent_and_the_last_is_padded_with_its_last_frame() -> None:
    tok = Tokenizer(tiny_model("discrete"), tiling=TilingConfig(tile=64, overlap=0, chunk_frames=5))
    frames = _frames(12, 16, 16)
    full = tok.encode(frames).indices
    assert [c[1:] for c in tok.encode(frames).chunks] == [(5, 2), (5, 2), (2, 2)]
    assert torch.equal(full[2:4], tok.encode(frames[5:10]).indices)
    last = np.concatenate([frames[10:12], np.repeat(frames[11:12], 3, axis=0)])  # 2 frames -> 1 + 4
    assert torch.equal(full[4:6], tok.encode(last).indices)


def test_file_round_trip(kind: str, tmp_path: Path) -> None:
    tok = Tokenizer(tiny_model(kind), name="tiny", tiling=SMALL_TILES)
    frames = _frames(11, 18, 26)
    encoded = tok.encode(frames, fps=12.5)
    path = encoded.save(tmp_path / "clip.safetensors")
    loaded = EncodedVideo.load(path)
    assert (loaded.model, loaded.num_frames, loaded.height, loaded.width, loaded.fps) == (
        "tiny",
        11,
        18,
        26,
        12.5,
    )
    assert loaded.config == encoded.config and loaded.chunk_frames == 9
    if kind == "discrete":
        assert torch.equal(loaded.indices, encoded.indices)
    else:
        assert torch.equal(loaded.latents, encoded.latents)
    assert np.array_equal(tok.decode(loaded), tok.decode(encoded))


def test_half_precision_latents_file(tmp_path: Path) -> None:
    encoded = Tokenizer(tiny_model(), tiling=SMALL_TILES).encode(_frames(5, 16, 16))
    path = encoded.save(tmp_path / "clip.safetensors", latent_dtype="float16")
    loaded = EncodedVideo.load(path)
    assert torch.allclose(loaded.latents, encoded.latents, rtol=1e-3, atol=1e-3)
    assert path.stat().st_size < encoded.save(tmp_path / "f32.safetensors").stat().st_size


def test_rates() -> None:
    frames = _frames(5, 16, 16)
    dv = Tokenizer(tiny_model("discrete"), tiling=SMALL_TILES).encode(frames)
    tokens = 2 * 2 * 2
    assert dv.bits_per_pixel == pytest.approx(tokens * math.log2(200) / (5 * 16 * 16))
    assert dv.compression_ratio == pytest.approx(5 * 16 * 16 * 24 / (tokens * math.log2(200)))
    cv = Tokenizer(tiny_model(), tiling=SMALL_TILES).encode(frames)
    assert cv.bits_per_pixel is None
    assert cv.compression_ratio == pytest.approx(5 * 16 * 16 * 3 / (4 * tokens))
    scores = roundtrip_metrics(frames, frames, cv)
    assert scores["psnr"] is None and scores["ssim"] == pytest.approx(1.0)
    assert set(scores) == {"psnr", "ssim", "compression_ratio", "bits_per_pixel", "coded_bits_per_pixel"}
    assert scores["coded_bits_per_pixel"] is None
    dv_scores = roundtrip_metrics(frames, frames, dv)
    assert dv_scores["coded_bits_per_pixel"] == pytest.approx(dv.coded_bits_per_pixel())


def test_decoding_with_another_kind_of_tokenizer_fails() -> None:
    encoded = Tokenizer(tiny_model("discrete"), name="dv").encode(_frames(5, 8, 8))
    with pytest.raises(WorldfmError, match=r"made by 'dv'.*differs.*kind"):
        Tokenizer(tiny_model("continuous")).decode(encoded)


def test_from_pretrained_records_the_folder(tmp_path: Path) -> None:
    tiny_model().save_pretrained(tmp_path / "m")
    tok = Tokenizer.from_pretrained(tmp_path / "m")
    assert tok.name == str((tmp_path / "m").resolve())
    assert tok.encode(_frames(1, 8, 8)).model == tok.name


def test_bad_frames() -> None:
    tok = Tokenizer(tiny_model())
    with pytest.raises(ConfigError, match="uint8"):
        tok.encode(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ConfigError, match=r"\(T, H, W, 3\)"):
        tok.encode(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="at least one"):
        tok.encode(np.zeros((0, 8, 8, 3), np.uint8))


def _write(path: Path, tensors: dict, metadata: dict) -> Path:
    save_file(tensors, str(path), metadata=metadata)
    return path


def test_corrupt_latents_files(tmp_path: Path) -> None:
    good = Tokenizer(tiny_model()).encode(_frames(5, 8, 8))
    meta = good.metadata()
    latents = good.latents
    cases = {
        "missing.safetensors": (None, "does not exist"),
        "garbage.safetensors": (b"not a safetensors file at all", "not a readable latents file"),
        "other.safetensors": (({"x": torch.zeros(1)}, {"format": "pt"}), "not a worldfm latents file"),
        "nokey.safetensors": (
            ({"latents": latents}, {k: v for k, v in meta.items() if k != "num_frames"}),
            "missing 'num_frames'",
        ),
        "shape.safetensors": (({"latents": latents[:, :1].contiguous()}, meta), "latents must be float"),
        "config.safetensors": (({"latents": latents}, {**meta, "config": "{"}), "corrupt latents file"),
        "newer.safetensors": (({"latents": latents}, {**meta, "format_version": "9"}), "newer"),
        "fps.safetensors": (({"latents": latents}, {**meta, "fps": "abc"}), "corrupt latents file"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            _write(path, *content)
        with pytest.raises(WorldfmError, match=message):
            EncodedVideo.load(path)
    with pytest.raises(ConfigError, match=r"must end in .safetensors"):
        good.save(tmp_path / "x.pt")


def test_batching_chunks_and_tiles_changes_nothing(kind: str) -> None:
    frames = _frames(30, 24, 40)
    one = Tokenizer(tiny_model(kind), tiling=TilingConfig(tile=16, overlap=8, chunk_frames=9, batch_size=1))
    many = Tokenizer(tiny_model(kind), tiling=TilingConfig(tile=16, overlap=8, chunk_frames=9, batch_size=64))
    a, b = one.encode(frames), many.encode(frames)
    if kind == "discrete":
        assert torch.equal(a.indices, b.indices)
    else:
        assert torch.allclose(a.latents, b.latents, atol=1e-5)
    assert np.abs(one.decode(a).astype(int) - many.decode(a).astype(int)).max() <= 1
