"""worldfm.video.io on real files: exact frame ranges, probe, in-memory codec, bad input, atomic writes."""

import io
import itertools
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from worldfm.errors import VideoError
from worldfm.video.io import (
    atomic_output,
    decode_video_bytes,
    encode_video_bytes,
    iter_frames,
    probe_video,
    probe_video_bytes,
    read_video,
    write_video,
)
from worldfm.video.metrics import psnr

T, H, W = 12, 32, 48
LEVELS = 10 + 20 * np.arange(T)  # frame k is flat grey LEVELS[k]: 10, 30, ..., 230


def grey_frames() -> np.ndarray:
    return np.broadcast_to(LEVELS[:, None, None, None], (T, H, W, 3)).astype(np.uint8)


def gradient_frames(t: int = 8, size: int = 32) -> np.ndarray:
    """Smooth moving colour gradient, no saturation: (t, size, size, 3) uint8."""
    y, x = np.mgrid[0:size, 0:size]
    frames = [np.stack([x * 4 + k * 2, y * 4 + k, (x + y) * 2 + k * 3], axis=-1) for k in range(t)]
    return np.clip(frames, 0, 255).astype(np.uint8)


def frame_ids(video: np.ndarray) -> list[int]:
    """Which grey level each decoded frame is closest to (its index in the written video)."""
    means = video.reshape(len(video), -1).mean(axis=1)
    return [int(np.argmin(np.abs(LEVELS - m))) for m in means]


@pytest.fixture(scope="module", params=[".mp4", ".webm"])
def grey_video(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / f"grey{request.param}", grey_frames(), fps=10)


def test_probe_reports_what_was_written(grey_video: Path) -> None:
    info = probe_video(grey_video)
    expected = {".mp4": ("h264", "mp4"), ".webm": ("vp9", "webm")}[grey_video.suffix]
    assert (info.codec, info.container) == expected
    assert (info.width, info.height, info.num_frames) == (W, H, T)
    assert info.fps == pytest.approx(10.0)
    assert info.duration == pytest.approx(T / 10, abs=0.01)
    assert info.path == str(grey_video)
    assert set(info.to_json()) == {
        "path",
        "codec",
        "width",
        "height",
        "fps",
        "num_frames",
        "duration",
        "container",
    }


def test_read_all_frames_in_order(grey_video: Path) -> None:
    video = read_video(grey_video)
    assert video.shape == (T, H, W, 3) and video.dtype == np.uint8
    assert frame_ids(video) == list(range(T))
    # Flat grey survives the codec within a few levels.
    assert np.abs(video.astype(int) - grey_frames()).max() <= 4


@pytest.mark.parametrize(
    ("start", "end"), [(0, 1), (3, 4), (5, 9), (10, 12), (11, 12), (11, None), (0, None)]
)
def test_read_range_is_exact(grey_video: Path, start: int, end: int | None) -> None:
    video = read_video(grey_video, start, end)
    assert frame_ids(video) == list(range(start, T if end is None else end))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (11, 13, "asked for frames [11, 13) but the video has only 12 frames"),
        (0, 100, "has only 12 frames"),
        (12, None, "asked for frames from index 12 but the video has at most 12 frames"),
        (13, 15, "asked for frames [13, 15) but the video has at most 13 frames"),
        (-1, 3, "bad frame range [-1, 3)"),
        (4, 4, "bad frame range [4, 4)"),
        (5, 2, "bad frame range [5, 2)"),
    ],
)
def test_read_range_past_the_end_or_invalid_fails(
    grey_video: Path, start: int, end: int | None, message: str
) -> None:
    with pytest.raises(VideoError, match=None) as err:
        read_video(grey_video, start, end)
    assert message in str(err.value)
    assert str(grey_video) in str(err.value)


def test_iter_frames_stops_early_and_matches_read(grey_video: Path) -> None:
    first = list(itertools.islice(iter_frames(grey_video, 2), 3))
    np.testing.assert_array_equal(np.stack(first), read_video(grey_video, 2, 5))


def test_bytes_round_trip_matches_files(grey_video: Path) -> None:
    data = grey_video.read_bytes()
    np.testing.assert_array_equal(decode_video_bytes(data, grey_video.suffix), read_video(grey_video))
    np.testing.assert_array_equal(
        decode_video_bytes(data, grey_video.suffix, 4, 7), read_video(grey_video, 4, 7)
    )
    info = probe_video_bytes(data, grey_video.suffix)
    assert (info.num_frames, info.width, info.height) == (T, W, H)
    assert info.path.startswith("<memory")


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mkv"])
def test_encode_bytes_in_memory(suffix: str) -> None:
    data = encode_video_bytes(grey_frames(), fps=5, suffix=suffix)
    assert probe_video_bytes(data, suffix).fps == pytest.approx(5.0)
    assert frame_ids(decode_video_bytes(data, suffix)) == list(range(T))
    assert frame_ids(decode_video_bytes(data, suffix, T - 2)) == [T - 2, T - 1]


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_quality_round_trip(tmp_path: Path, suffix: str) -> None:
    frames = gradient_frames()
    # crf 0 is lossless in YUV; what remains is the RGB <-> yuv420p conversion.
    assert psnr(frames, read_video(write_video(tmp_path / f"hq{suffix}", frames, crf=0))).per_video > 40
    assert psnr(frames, read_video(write_video(tmp_path / f"default{suffix}", frames))).per_video > 30


def _write(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    return make


def _truncated(suffix: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        rng = np.random.default_rng(0)
        data = encode_video_bytes(rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), suffix=suffix)
        path = folder / f"cut{suffix}"
        path.write_bytes(data[: len(data) // 2])
        return path

    return make


def _truncated_faststart(folder: Path) -> Path:
    """An mp4 with its index first (as many tools write it), cut in half: opens, then fails to decode."""
    rng = np.random.default_rng(0)
    full = folder / "faststart.mp4"
    with av.open(str(full), mode="w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for frame in rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    data = full.read_bytes()
    path = folder / "faststart_cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


def _png_named_mp4(folder: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buffer, format="PNG")
    return _write("image.mp4", buffer.getvalue())(folder)


def _directory(folder: Path) -> Path:
    path = folder / "folder.mp4"
    path.mkdir()
    return path


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda folder: folder / "missing.mp4", "does not exist"),
    "empty": (_write("empty.mp4", b""), "file is empty"),
    "directory": (_directory, "is a directory"),
    "text": (_write("notes.mp4", b"this is not a video\n" * 20), "not a readable video"),
    "random": (_write("noise.mp4", np.random.default_rng(1).bytes(4096)), "not a readable video"),
    "png": (_png_named_mp4, "still image"),
    "truncated mp4": (_truncated(".mp4"), "not a readable video"),
    "truncated webm": (_truncated(".webm"), "truncated video"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("reader", [probe_video, read_video])
def test_bad_input_raises_video_error_naming_path(tmp_path: Path, case: str, reader: Callable) -> None:
    make, reason = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(VideoError) as err:
        reader(path)
    assert err.value.path == str(path)
    assert str(path) in str(err.value)
    assert reason in err.value.reason


@pytest.mark.parametrize("reader", [probe_video, read_video])
def test_truncated_faststart_mp4(tmp_path: Path, reader: Callable) -> None:
    path = _truncated_faststart(tmp_path)
    with pytest.raises(VideoError, match=r"truncated video|corrupt video") as err:
        reader(path)
    assert err.value.path == str(path)


def test_variable_frame_rate_webm_is_not_mistaken_for_truncated(tmp_path: Path) -> None:
    """Gaps in the timestamps (7 frames over 1.1 s at a nominal 10 fps) are not missing data."""
    path = tmp_path / "vfr.webm"
    ms = Fraction(1, 1000)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        stream.codec_context.time_base = ms
        for k, pts in enumerate([0, 100, 150, 400, 450, 900, 1000]):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), LEVELS[k], np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, ms
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    assert probe_video(path).num_frames == 7
    assert frame_ids(read_video(path)) == list(range(7))


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty bytes"), (b"hello" * 100, "not a readable video")],
)
def test_bad_bytes_raise_video_error(data: bytes, reason: str) -> None:
    with pytest.raises(VideoError, match=reason) as err:
        decode_video_bytes(data)
    assert err.value.path.startswith("<memory .mp4")


def test_write_creates_parents_and_normal_permissions(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a" / "b" / "clip.mp4", grey_frames())
    assert probe_video(path).num_frames == T
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.mp4"]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"frames": np.zeros((2, 15, 16, 3), np.uint8)}, "must be even"),
        ({"frames": np.zeros((2, 16, 16, 3), np.float32)}, "uint8"),
        ({"frames": np.zeros((16, 16, 3), np.uint8)}, "(T, H, W, 3)"),
        ({"frames": np.zeros((0, 16, 16, 3), np.uint8)}, "no frames"),
        ({"fps": 0}, "fps must be positive"),
        ({"crf": 52}, "crf must be an integer in [0, 51]"),
        ({"codec": "no-such-codec"}, "encoding with no-such-codec failed"),
        ({"options": {"preset": "no-such-preset"}}, "encoding with libx264 failed"),
    ],
)
def test_failed_write_leaves_target_untouched_and_no_temp(tmp_path: Path, kwargs: dict, reason: str) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"previous content")
    args = {"frames": np.zeros((2, 16, 16, 3), np.uint8), **kwargs}
    with pytest.raises(VideoError) as err:
        write_video(target, **args)
    assert reason in str(err.value) and str(target) in str(err.value)
    assert target.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_failed_write_to_new_path_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(VideoError):
        write_video(tmp_path / "new.mp4", grey_frames(), options={"preset": "no-such-preset"})
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_unknown_container_and_directory_target(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"unknown container '\.avi'"):
        write_video(tmp_path / "clip.avi", grey_frames())
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(VideoError, match="is a directory"):
        write_video(tmp_path / "dir.mp4", grey_frames())


def test_atomic_output_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".file.")
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_h264_output_repeats_exactly(tmp_path: Path) -> None:
    """The same frames encode to the same bytes every time (libx264's AVX-512 kernels did not, on an
    AMD EPYC: 3-8 of 100 encodes of this clip differed; see io._x264_deterministic)."""
    frames = np.random.default_rng(0).integers(0, 255, (11, 18, 26, 3), dtype=np.uint8)
    digests = {write_video(tmp_path / f"{i}.mp4", frames, fps=15).read_bytes() for i in range(25)}
    assert len(digests) == 1
