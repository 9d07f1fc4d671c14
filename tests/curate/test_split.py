"""Split stage and shot detectors on a real mp4 made of three different simulator scenes."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from worldfm.curate.stage import build_stage
from worldfm.curate.stages.probe import Probe
from worldfm.curate.stages.shot_detectors import DETECTORS, detect_shots, split_evenly
from worldfm.curate.stages.split import Split
from worldfm.curate.task import VideoTask, video_id_for
from worldfm.errors import ConfigError, UnknownNameError, VideoError
from worldfm.video.io import write_video

FPS = 10.0
SCENE = 16  # frames per scene: 3 scenes = 48 frames = one TransNetV2 window
CUTS = (SCENE, 2 * SCENE)  # first frame of scenes 2 and 3


@pytest.fixture(scope="module")
def three_scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """objects, robot and another objects episode (64 px) joined with hard cuts, as an mp4."""
    import worldfm.sim  # sets MUJOCO_GL before the simulator loads

    scenes = [("objects", 0), ("robot", 1), ("objects", 7)]
    frames = np.concatenate(
        [worldfm.sim.generate_episode(name, seed, num_frames=SCENE, size=64).frames for name, seed in scenes]
    )
    path = write_video(tmp_path_factory.mktemp("split") / "three.mp4", frames, FPS)
    return path, frames


def probed(path: Path, tmp_path: Path, **meta: object) -> VideoTask:
    task = VideoTask(video_id=video_id_for(path), source=str(path), work_dir=str(tmp_path), meta=dict(meta))
    out = Probe().process(task)
    assert out is not None
    return out


def starts(shots: list[tuple[int, int]]) -> list[int]:
    return [a for a, _ in shots[1:]]


@pytest.mark.parametrize("detector", ["transnetv2", "adaptive", "content"])
def test_detectors_find_planted_hard_cuts(three_scenes: tuple[Path, np.ndarray], detector: str) -> None:
    path, frames = three_scenes
    shots = detect_shots(path, detector)
    assert len(shots) == 3, shots
    for found, planted in zip(starts(shots), CUTS, strict=True):
        assert abs(found - planted) <= 1, (detector, shots)
    # Shots are ordered, non-overlapping and inside the video.
    assert shots[0][0] >= 0 and shots[-1][1] == len(frames)
    assert all(a < b <= c for (a, b), (c, _) in itertools.pairwise(shots))
    if detector != "transnetv2":  # (one TransNetV2 window costs about a second on CPU: once is enough)
        # The same frames given as an array find the same cuts.
        assert starts(detect_shots(frames, detector, fps=FPS)) == starts(shots)


def test_detect_shots_subrange_and_stride(three_scenes: tuple[Path, np.ndarray]) -> None:
    path, frames = three_scenes
    # Only frames [10, 40) are looked at; indices stay source indices.
    shots = detect_shots(path, "content", start=10, end=40, min_scene_len=5)
    assert shots[0][0] == 10 and shots[-1][1] == 40 and starts(shots) == list(CUTS)
    assert detect_shots(path, "stride", stride_s=2.0) == [(0, 20), (20, 40), (40, 48)]
    assert detect_shots(frames, "stride", fps=FPS, stride_s=2.5) == [(0, 25), (25, 48)]
    with pytest.raises(ConfigError, match="needs fps"):
        detect_shots(frames, "stride")
    with pytest.raises(UnknownNameError, match="shot detector 'nope'"):
        detect_shots(path, "nope")
    with pytest.raises(ConfigError, match="uint8"):
        detect_shots(frames.astype(np.float32), "content")
    with pytest.raises(VideoError, match="does not exist"):
        detect_shots(path.with_name("missing.mp4"), "content")


def test_split_stage_clips(three_scenes: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = three_scenes
    task = probed(path, tmp_path)
    split = build_stage({"stage": "split", "detector": "content", "min_clip_s": 1.0, "trim_s": 0.2})
    task = split.process(task)
    # Cuts at 16 and 32, 2 frames trimmed at each cut, none at the video's own ends.
    assert [(c.start_frame, c.end_frame) for c in task.clips] == [(0, 14), (18, 30), (34, 48)]
    assert [c.clip_id for c in task.clips] == [f"{task.video_id}-{i:04d}" for i in range(3)]
    assert task.clips[1].start_s == pytest.approx(1.8) and task.clips[1].end_s == pytest.approx(3.0)
    assert all(c.kept and c.meta == {"detector": "content", "shot": i} for i, c in enumerate(task.clips))
    # Deterministic: the same input and parameters give the same clips.
    again = split.process(probed(path, tmp_path))
    assert [c.__dict__ for c in again.clips] == [c.__dict__ for c in task.clips]


def test_split_min_and_max_clip_rules(three_scenes: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = three_scenes
    # Shots of 1.6 s: with min 1.7 s every clip is dropped, with the reason recorded.
    task = Split(detector="adaptive", min_clip_s=1.7, trim_s=0.0).process(probed(path, tmp_path))
    assert len(task.clips) == 3 and not task.kept_clips
    assert task.clips[0].filtered == "split: shot of 1.60 s after trim < min_clip_s 1.7"
    # max 0.7 s: each 16-frame shot becomes 3 windows of 5-6 frames (near-equal, none over 7).
    task = Split(detector="adaptive", min_clip_s=0.5, max_clip_s=0.7, trim_s=0.0).process(
        probed(path, tmp_path)
    )
    ranges = [(c.start_frame, c.end_frame) for c in task.clips]
    assert ranges[:3] == [(0, 5), (5, 11), (11, 16)] and len(ranges) == 9
    assert all(c.kept and c.num_frames <= 7 for c in task.clips)
    assert [c.meta.get("window") for c in task.clips[:3]] == [0, 1, 2]


def test_clips_for_rules_without_video() -> None:
    split = Split(detector="content", min_clip_s=1.0, max_clip_s=3.0, trim_s=0.5)
    clips = split.clips_for("v", [(0, 8), (8, 100), (100, 112)], 0, 112, FPS)
    got = [(c.start_frame, c.end_frame, c.kept) for c in clips]
    # (0, 8): trimmed to 3 frames at its cut end -> dropped; (8, 100): trimmed to (13, 95), 82
    # frames -> 3 windows; (100, 112): trimmed to (105, 112), 7 frames -> dropped.
    assert got == [(0, 3, False), (13, 40, True), (40, 68, True), (68, 95, True), (105, 112, False)]
    # A shot that trimming empties keeps its untrimmed range in the dropped record.
    clips = Split(detector="content", min_clip_s=0.0, trim_s=1.0).clips_for(
        "v", [(0, 50), (50, 60), (60, 99)], 0, 99, FPS
    )
    assert (clips[1].start_frame, clips[1].end_frame, clips[1].kept) == (50, 60, False)
    assert split_evenly(0, 10, 4) == [(0, 3), (3, 7), (7, 10)]


def test_split_stride_and_range(three_scenes: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = three_scenes
    task = Split(detector="stride", stride_s=1.0, min_clip_s=1.0, trim_s=0.5).process(probed(path, tmp_path))
    # No trim at stride windows; the 8-frame tail is shorter than 1 s and dropped.
    assert [(c.start_frame, c.end_frame, c.kept) for c in task.clips] == [
        (0, 10, True),
        (10, 20, True),
        (20, 30, True),
        (30, 40, True),
        (40, 48, False),
    ]
    # meta["range"] (a LeRobot episode inside a longer file): only frames [16, 48) are split, and
    # clip frames and seconds stay those of the source file.
    task = Split(detector="content", min_clip_s=0.5, trim_s=0.0).process(
        probed(path, tmp_path, range=[1.6, 4.8])
    )
    assert [(c.start_frame, c.end_frame) for c in task.clips] == [(16, 32), (32, 48)]
    assert task.clips[0].start_s == pytest.approx(1.6)


def test_split_config_errors() -> None:
    with pytest.raises(UnknownNameError, match="expected one of: adaptive, content, stride, transnetv2"):
        build_stage({"stage": "split", "detector": "magic"})
    with pytest.raises(ConfigError, match="probability"):
        Split(detector="transnetv2", threshold=1.5)
    with pytest.raises(ConfigError, match="below min_clip_s"):
        Split(min_clip_s=5.0, max_clip_s=2.0)
    with pytest.raises(ConfigError, match="trim_s"):
        Split(trim_s=-1)
    with pytest.raises(ConfigError, match="downscale"):
        Split(downscale=4)
    with pytest.raises(ConfigError, match="run the 'probe' stage first"):
        Split().process(VideoTask(video_id="v", source="x.mp4"))
    assert set(DETECTORS) == {"transnetv2", "adaptive", "content", "stride"}


def test_transnet_fade_through_black_is_one_boundary() -> None:
    from worldfm.curate.stages.shot_detectors import shots_from_predictions

    p = np.zeros(60, np.float32)
    p[20:24] = 0.9  # fade out
    p[27:31] = 0.9  # fade in, after 3 black frames
    p[45] = 0.95  # a hard cut
    assert shots_from_predictions(p, 0.4) == [(0, 20), (31, 45), (46, 60)]
    assert shots_from_predictions(p, 0.4, min_shot_frames=1) == [(0, 20), (24, 27), (31, 45), (46, 60)]
