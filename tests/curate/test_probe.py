"""Probe stage: real mp4 files written here, corrupt ones quarantined with the reason."""

from pathlib import Path

import numpy as np
import pytest

from worldfm.curate.stage import build_stage
from worldfm.curate.stages.probe import Probe, frame_range, video_path
from worldfm.curate.task import VideoTask, video_id_for
from worldfm.curate.worker import TASK_FILE, process_video
from worldfm.errors import ConfigError, VideoError
from worldfm.video.io import write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """25 frames at 10 fps, 32x24."""
    frames = np.random.default_rng(0).integers(0, 255, (25, 24, 32, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("probe") / "ok.mp4", frames, 10.0)


def make_task(path: Path, work: Path, **meta: object) -> VideoTask:
    return VideoTask(video_id=video_id_for(path), source=str(path), work_dir=str(work), meta=dict(meta))


def test_probe_fills_info(video: Path, tmp_path: Path) -> None:
    task = Probe().process(make_task(video, tmp_path))
    assert task is not None
    assert task.info == {
        "path": str(video),
        "codec": "h264",
        "container": "mp4",
        "width": 32,
        "height": 24,
        "fps": 10.0,
        "start_frame": 0,
        "end_frame": 25,
        "num_frames": 25,
        "duration_s": pytest.approx(2.5),
        "source_num_frames": 25,
    }
    assert video_path(task) == video and frame_range(task) == (0, 25)


def test_probe_honours_range(video: Path, tmp_path: Path) -> None:
    task = Probe().process(make_task(video, tmp_path, range=[0.5, 1.8]))
    assert task is not None
    assert (task.info["start_frame"], task.info["end_frame"], task.info["num_frames"]) == (5, 18, 13)
    assert task.info["duration_s"] == pytest.approx(1.3) and task.info["source_num_frames"] == 25
    with pytest.raises(VideoError, match=r"outside the video's 25 frames"):
        Probe().process(make_task(video, tmp_path, range=[1.0, 3.0]))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (b"\x00\x01garbage" * 500, "not a readable video"),
        (b"just some text, not a video\n" * 20, "not a readable video"),
    ],
)
def test_probe_quarantines_bad_files(tmp_path: Path, content: bytes, reason: str) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    task = process_video([Probe()], make_task(bad, tmp_path / "work"), "fp")
    assert task.error is not None and task.error.stage == "probe"
    assert "VideoError" in task.error.error and reason in task.error.error and str(bad) in task.error.error
    assert (tmp_path / "work" / TASK_FILE).is_file()  # the quarantine is recorded, the run goes on


def test_probe_quarantines_truncated_video(video: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    data = video.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    task = process_video([Probe()], make_task(cut, tmp_path / "work"), "fp")
    assert task.error is not None and "cut.mp4" in task.error.error


def test_probe_drops_short_videos(video: Path, tmp_path: Path) -> None:
    stage = build_stage({"stage": "probe", "min_duration_s": 3.0})
    task = process_video([stage], make_task(video, tmp_path), "fp")
    assert task.error is None
    assert task.meta["dropped"] == "probe: 2.500 s < min_duration_s 3.0"
    assert Probe(min_duration_s=2.5).process(make_task(video, tmp_path)) is not None


def test_probe_config_errors() -> None:
    with pytest.raises(ConfigError, match="min_duration_s must be >= 0"):
        Probe(min_duration_s=-1)
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_stage({"stage": "probe", "min_seconds": 1})


def test_decode_range_seeks_to_the_same_frames(tmp_path: Path) -> None:
    """Seeking (keyframes every 25 frames) yields exactly the frames that counting from the start does."""
    import av

    from worldfm.curate.stages.probe import decode_range

    t = 120
    frames = np.zeros((t, 16, 16, 3), np.uint8)
    frames[..., 0] = (np.arange(t) * 2)[:, None, None]  # frame k is told apart by its red level
    path = write_video(tmp_path / "gop.mp4", frames, 10.0, options={"g": "25", "bf": "2"})

    def levels(start: int, end: int | None, seek_min: int) -> list[tuple[int, int]]:
        with av.open(str(path)) as container:
            got = decode_range(container, container.streams.video[0], start, end, seek_min=seek_min)
            return [(i, round(float(f.to_ndarray(format="rgb24")[..., 0].mean()))) for i, f in got]

    for start, end in [(37, 52), (100, None), (0, 3), (119, 120)]:
        counted = levels(start, end, seek_min=10_000)
        assert [i for i, _ in counted] == list(range(start, end or t))
        assert levels(start, end, seek_min=1) == counted
        assert all(abs(v - 2 * i) <= 2 for i, v in counted)
