"""Luma QIM watermark: exact round trips, every attack of issue 5, keys, false positives, PSNR floor."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from worldfm.errors import ConfigError
from worldfm.guardrails import ecc
from worldfm.guardrails.watermark import (
    detect_watermark,
    detect_watermark_file,
    embed_watermark,
    embed_watermark_file,
    generation_payload,
    parse_payload,
    payload_from_hex,
)
from worldfm.video.io import decode_video_bytes, encode_video_bytes, probe_video, write_video

PAYLOAD = generation_payload("dit-nano", 123456789)


def pan(image: np.ndarray, size: int, frames: int) -> np.ndarray:
    """(frames, size, size, 3) uint8: a window panning diagonally over a photo."""
    big = cv2.resize(image, (int(size * 1.25), int(size * 1.25)), interpolation=cv2.INTER_AREA)
    steps = np.linspace(0, big.shape[0] - size, frames).astype(int)
    return np.stack([big[s : s + size, s : s + size] for s in steps])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def h264(frames: np.ndarray, crf: int) -> np.ndarray:
    return decode_video_bytes(encode_video_bytes(frames, fps=16, crf=crf), ".mp4")


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray]:
    clip = pan(skimage.data.astronaut(), 64, 17)
    return clip, embed_watermark(clip, PAYLOAD)


@pytest.fixture(scope="module")
def medium() -> tuple[np.ndarray, np.ndarray]:
    clip = pan(skimage.data.astronaut(), 128, 12)
    return clip, embed_watermark(clip, PAYLOAD)


@pytest.fixture(scope="module")
def large() -> tuple[np.ndarray, np.ndarray]:
    clip = pan(skimage.data.coffee(), 256, 12)
    return clip, embed_watermark(clip, PAYLOAD)


def assert_recovered(frames: np.ndarray, key: str | None = None) -> None:
    result = detect_watermark(frames, key=key)
    assert result.detected, result.to_dict()
    assert result.payload == PAYLOAD.hex()
    assert result.confidence > 1 - 1e-6


def test_payload_helpers() -> None:
    assert len(PAYLOAD) == 6
    fields = parse_payload(PAYLOAD.hex())
    assert fields["generation_id"] == 123456789 and len(fields["model_tag"]) == 4
    assert payload_from_hex("0x" + PAYLOAD.hex()) == PAYLOAD
    with pytest.raises(ConfigError, match="not valid hex"):
        payload_from_hex("zz")
    with pytest.raises(ConfigError, match="expected exactly 6 bytes"):
        payload_from_hex("00" * 7)
    with pytest.raises(ConfigError, match="generation_id"):
        generation_payload("dit-nano", 2**32)


def test_false_positive_bound_is_below_target() -> None:
    assert ecc.false_positive_bound() < 1e-9


def test_ecc_corrects_two_bytes_and_rejects_wrong_key() -> None:
    bits = ecc.encode_bits(PAYLOAD, b"k")
    soft = np.where(bits == 1, 1.0, -1.0)
    soft[3] *= -1
    soft[60] *= -1  # two wrong bytes
    assert ecc.decode_soft(soft, b"k") == (PAYLOAD, 2)
    assert ecc.decode_soft(np.where(bits == 1, 1.0, -1.0), b"other") is None


def test_round_trip_exact_and_psnr_floor(small: tuple[np.ndarray, np.ndarray]) -> None:
    clip, marked = small
    assert marked.shape == clip.shape and marked.dtype == np.uint8
    assert psnr(clip, marked) >= 40.0
    assert_recovered(marked)
    assert np.array_equal(embed_watermark(clip, PAYLOAD), marked)  # deterministic


def test_embed_rejects_bad_input(small: tuple[np.ndarray, np.ndarray]) -> None:
    clip, _ = small
    with pytest.raises(ConfigError, match="6 bytes"):
        embed_watermark(clip, b"abc")
    with pytest.raises(ConfigError, match="uint8"):
        embed_watermark(clip.astype(np.float32), PAYLOAD)
    with pytest.raises(ConfigError, match="shape"):
        embed_watermark(clip[0], PAYLOAD)


def test_unwatermarked_and_wrong_key_not_detected(small: tuple[np.ndarray, np.ndarray]) -> None:
    clip, marked = small
    assert not detect_watermark(clip).detected
    assert not detect_watermark(np.full_like(clip, 128)).detected
    assert not detect_watermark(marked, key="someone else").detected
    private = embed_watermark(clip, PAYLOAD, key="secret")
    assert_recovered(private, key="secret")
    assert not detect_watermark(private).detected


@pytest.mark.parametrize("attack", ["every_other", "random30", "bright+20", "bright-20"])
def test_frame_drops_and_brightness(small: tuple[np.ndarray, np.ndarray], attack: str) -> None:
    _, marked = small
    keep = np.random.default_rng(0).random(len(marked)) >= 0.3
    attacked = {
        "every_other": marked[::2],
        "random30": marked[keep],
        "bright+20": np.clip(marked.astype(int) + 20, 0, 255).astype(np.uint8),
        "bright-20": np.clip(marked.astype(int) - 20, 0, 255).astype(np.uint8),
    }[attack]
    assert_recovered(attacked)


@pytest.mark.parametrize("attack", ["resize_half", "crop_centre", "crop_corner"])
def test_resize_and_crop(medium: tuple[np.ndarray, np.ndarray], attack: str) -> None:
    _, marked = medium
    if attack == "resize_half":
        attacked = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in marked])
    elif attack == "crop_centre":
        attacked = marked[:, 6:121, 6:121]
    else:
        attacked = marked[:, :115, :115]
    assert_recovered(attacked)


@pytest.mark.parametrize("crf", [23, 28])
def test_h264_reencode(large: tuple[np.ndarray, np.ndarray], crf: int) -> None:
    clip, marked = large
    assert psnr(clip, marked) >= 40.0
    assert_recovered(h264(marked, crf))


def test_h264_crf35_never_gives_a_wrong_payload(large: tuple[np.ndarray, np.ndarray]) -> None:
    # CRF 35 is beyond this scheme at 40 dB (see the benchmark): it may miss, but must not lie.
    result = detect_watermark(h264(large[1], 35))
    assert result.payload in (None, PAYLOAD.hex())


def test_file_helpers_keep_fps(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    clip, _ = small
    src = write_video(tmp_path / "in.mp4", clip, fps=12, crf=10)
    dst = embed_watermark_file(src, tmp_path / "out.mp4", PAYLOAD, crf=10)
    assert probe_video(dst).fps == 12.0 and probe_video(dst).num_frames == len(clip)
    assert detect_watermark_file(dst).payload == PAYLOAD.hex()
    assert not detect_watermark_file(src).detected
