"""Transcode stage: real clips cut from a real mp4, checked for frame rate, size, frame count and content."""

from pathlib import Path

import numpy as np
import pytest

from worldfm.curate.stage import build_stage
from worldfm.curate.stages.probe import Probe
from worldfm.curate.stages.transcode import Transcode, target_size
from worldfm.curate.task import Clip, VideoTask, video_id_for
from worldfm.errors import ConfigError, VideoError
from worldfm.video.io import probe_video, read_video, write_video

FPS = 10.0
T, H, W = 30, 48, 64


def level(t: int) -> int:
    return 10 + 8 * t  # frame t is (mostly) this grey level: tells frames apart after H.264


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames, 64x48: a flat grey level per frame plus a fixed gradient (so resizing shows)."""
    xx = np.linspace(0, 40, W, dtype=np.float32)[None, :, None]
    frames = np.stack([np.clip(level(t) + xx + np.zeros((H, W, 3)), 0, 255) for t in range(T)]).astype(
        np.uint8
    )
    return write_video(tmp_path_factory.mktemp("transcode") / "src.mp4", frames, FPS, crf=10)


def task_with_clips(source: Path, work: Path, ranges: list[tuple[int, int]]) -> VideoTask:
    task = Probe().process(VideoTask(video_id=video_id_for(source), source=str(source), work_dir=str(work)))
    assert task is not None
    task.clips = [Clip(f"{task.video_id}-{i:04d}", a, b, a / FPS, b / FPS) for i, (a, b) in enumerate(ranges)]
    return task


def mean_levels(frames: np.ndarray) -> list[float]:
    return [float(f[:, : W // 8].mean()) for f in frames]  # the gradient's dark edge: ~ the frame's level


def test_transcode_keeps_rate_size_and_frames(source: Path, tmp_path: Path) -> None:
    task = Transcode().process(task_with_clips(source, tmp_path, [(0, 10), (12, 30)]))
    for clip in task.clips:
        assert clip.path == str(tmp_path / "clips" / f"{clip.clip_id}.mp4")
        info = probe_video(clip.path)
        assert (info.codec, info.container, info.fps, info.width, info.height) == ("h264", "mp4", FPS, W, H)
        assert info.num_frames == clip.num_frames
        assert (clip.width, clip.height, clip.fps) == (W, H, FPS)
        # Each clip holds exactly its source frames (frame by frame, within H.264 error).
        got = read_video(clip.path)
        want = read_video(source, clip.start_frame, clip.end_frame)
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 2.0
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == [f"{c.clip_id}.mp4" for c in task.clips]


def test_transcode_fps_and_resolution(source: Path, tmp_path: Path) -> None:
    stage = build_stage({"stage": "transcode", "fps": 5, "resolution": 32, "crf": 18})
    task = stage.process(task_with_clips(source, tmp_path, [(0, 10), (11, 30)]))
    first, second = task.clips
    # 30 -> ... 10 fps to 5 fps: every other source frame; 19 frames -> round(9.5) = 10 frames.
    for clip, count in ((first, 5), (second, 10)):
        info = probe_video(clip.path)
        assert (info.fps, info.num_frames, info.width, info.height) == (5.0, count, 42, 32)
        assert (clip.fps, clip.width, clip.height) == (5.0, 42, 32)
    levels = mean_levels(read_video(second.path))
    want = [level(11 + 2 * k) for k in range(10)]
    np.testing.assert_allclose(levels, want, atol=4)
    # Raising the rate repeats frames: 10 -> 20 fps doubles the count.
    task = Transcode(fps=20.0).process(task_with_clips(source, tmp_path / "up", [(4, 9)]))
    frames = read_video(task.clips[0].path)
    assert len(frames) == 10 and probe_video(task.clips[0].path).fps == 20.0
    np.testing.assert_allclose(mean_levels(frames), [level(4 + k // 2) for k in range(10)], atol=4)


def test_transcode_skips_dropped_clips_and_is_deterministic(source: Path, tmp_path: Path) -> None:
    task = task_with_clips(source, tmp_path / "a", [(0, 10), (10, 20)])
    task.clips[0].drop("split", "too short")
    task = Transcode(resolution=[40, 40]).process(task)
    assert task.clips[0].path is None and task.clips[1].path is not None
    assert (task.clips[1].width, task.clips[1].height) == (40, 30)  # fitted into a 40x40 box
    again = Transcode(resolution=[40, 40]).process(task_with_clips(source, tmp_path / "b", [(10, 20)]))
    assert Path(again.clips[0].path).read_bytes() == Path(task.clips[1].path).read_bytes()
    # No temp files left behind.
    assert [p.name for p in (tmp_path / "a" / "clips").iterdir()] == [Path(task.clips[1].path).name]


def test_target_size_rules() -> None:
    assert target_size(1280, 720, None) == (1280, 720)
    assert target_size(1280, 720, 360) == (640, 360)
    assert target_size(720, 1280, 256) == (256, 456)  # portrait: short side is the width
    assert target_size(1280, 720, [320, 320]) == (320, 180)
    assert target_size(64, 48, 128) == (64, 48)  # never upscaled by default
    assert target_size(64, 48, 96, upscale=True) == (128, 96)
    assert target_size(65, 49, None) == (64, 48)  # odd sides rounded down to even (H.264 4:2:0)


def test_transcode_errors(source: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="crf"):
        Transcode(crf=60)
    with pytest.raises(ConfigError, match="resolution"):
        Transcode(resolution=[320])
    with pytest.raises(ConfigError, match="fps"):
        Transcode(fps=0)
    with pytest.raises(ConfigError, match="preset"):
        Transcode(preset="warp")
    # A clip past the end of the video: a clear error, and no clip file left behind.
    task = task_with_clips(source, tmp_path, [(25, 40)])
    with pytest.raises(VideoError, match="before the end of clips"):
        Transcode().process(task)
    assert not any((tmp_path / "clips").iterdir())
