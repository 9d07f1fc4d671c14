"""VideoFolderSource and LeRobotSource (v2.1 and v3.0 folders built here: real parquet, real mp4), and mixtures."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from torch.utils.data import DataLoader

from worldfm.data import ClipDataset, LeRobotSource, VideoFolderSource
from worldfm.errors import ConfigError, DatasetError, UnknownNameError, VideoError
from worldfm.video.io import write_video

FPS = 10
H, W = 16, 24
CAMERAS = ("observation.images.top", "observation.images.wrist")
TASKS = ("pick up the red cube", "open the drawer")
LENGTHS = (5, 6)


def level(episode: int, frame: int, camera: int = 0) -> int:
    """Grey level of a frame: tells episode, frame and camera apart after H.264."""
    return 20 + 25 * frame + 100 * episode + 7 * camera


def frames_of(episode: int, camera: int = 0) -> np.ndarray:
    values = [level(episode, t, camera) for t in range(LENGTHS[episode])]
    return np.stack([np.full((H, W, 3), v, np.uint8) for v in values])


def actions_of(episode: int) -> list[list[float]]:
    return [[float(episode), float(t)] for t in range(LENGTHS[episode])]


def assert_levels(frames: np.ndarray, expected: list[int]) -> None:
    """Each frame is the expected grey level, within the rounding of limited-range YUV (levels differ by >= 7)."""
    np.testing.assert_allclose([float(f.mean()) for f in frames], expected, atol=2)


def _info(version: str, data_path: str, video_path: str) -> dict:
    video = {
        "dtype": "video",
        "shape": [H, W, 3],
        "names": ["height", "width", "channels"],
        "info": {"video.fps": FPS, "video.codec": "h264", "video.pix_fmt": "yuv420p"},
    }
    scalar = {"dtype": "int64", "shape": [1], "names": None}
    return {
        "codebase_version": version,
        "robot_type": "so100",
        "total_episodes": 2,
        "total_frames": sum(LENGTHS),
        "total_tasks": 2,
        "chunks_size": 1000,
        "fps": FPS,
        "splits": {"train": "0:2"},
        "data_path": data_path,
        "video_path": video_path,
        "features": {
            "action": {"dtype": "float32", "shape": [2], "names": ["x", "y"]},
            "observation.state": {"dtype": "float32", "shape": [2], "names": ["x", "y"]},
            **{camera: video for camera in CAMERAS},
            "timestamp": {"dtype": "float32", "shape": [1], "names": None},
            "frame_index": scalar,
            "episode_index": scalar,
            "index": scalar,
            "task_index": scalar,
        },
    }


def _frame_rows(episode: int, first_index: int) -> dict[str, list]:
    n = LENGTHS[episode]
    return {
        "action": actions_of(episode),
        "observation.state": actions_of(episode),
        "timestamp": [t / FPS for t in range(n)],
        "frame_index": list(range(n)),
        "episode_index": [episode] * n,
        "index": list(range(first_index, first_index + n)),
        "task_index": [episode] * n,
    }


def _table(columns: dict[str, list]) -> pa.Table:
    types = {
        "action": pa.list_(pa.float32()),
        "observation.state": pa.list_(pa.float32()),
        "timestamp": pa.float32(),
    }
    return pa.table({k: pa.array(v, type=types.get(k)) for k, v in columns.items()})


def build_lerobot_v21(root: Path) -> Path:
    """meta/{info.json, episodes.jsonl, tasks.jsonl}; one parquet and one mp4 per episode and camera."""
    data_tpl = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
    video_tpl = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(_info("v2.1", data_tpl, video_tpl), indent=4))
    episodes = [{"episode_index": e, "tasks": [TASKS[e]], "length": LENGTHS[e]} for e in range(2)]
    (root / "meta" / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in episodes))
    tasks = [{"task_index": e, "task": TASKS[e]} for e in range(2)]
    (root / "meta" / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tasks))
    for e in range(2):
        data = root / data_tpl.format(episode_chunk=0, episode_index=e)
        data.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_table(_frame_rows(e, sum(LENGTHS[:e]))), data)
        for c, camera in enumerate(CAMERAS):
            write_video(
                root / video_tpl.format(episode_chunk=0, video_key=camera, episode_index=e),
                frames_of(e, c),
                FPS,
            )
    return root


def build_lerobot_v30(root: Path) -> Path:
    """meta/{info.json, tasks.parquet, episodes/chunk-000/file-000.parquet}; both episodes in one
    data file and one video file per camera, located by from/to timestamps."""
    data_tpl = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    video_tpl = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(_info("v3.0", data_tpl, video_tpl), indent=4))
    pq.write_table(pa.table({"task_index": [0, 1], "task": list(TASKS)}), root / "meta" / "tasks.parquet")
    episodes: dict[str, list] = {
        "episode_index": [0, 1],
        "tasks": [[t] for t in TASKS],
        "length": list(LENGTHS),
    }
    episodes |= {"data/chunk_index": [0, 0], "data/file_index": [0, 0]}
    episodes |= {"dataset_from_index": [0, LENGTHS[0]], "dataset_to_index": [LENGTHS[0], sum(LENGTHS)]}
    for camera in CAMERAS:
        episodes |= {f"videos/{camera}/chunk_index": [0, 0], f"videos/{camera}/file_index": [0, 0]}
        episodes |= {f"videos/{camera}/from_timestamp": [0.0, LENGTHS[0] / FPS]}
        episodes |= {f"videos/{camera}/to_timestamp": [LENGTHS[0] / FPS, sum(LENGTHS) / FPS]}
    pq.write_table(pa.table(episodes), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    rows = [_frame_rows(e, sum(LENGTHS[:e])) for e in range(2)]
    data = root / data_tpl.format(chunk_index=0, file_index=0)
    data.parent.mkdir(parents=True)
    pq.write_table(_table({k: rows[0][k] + rows[1][k] for k in rows[0]}), data)
    for c, camera in enumerate(CAMERAS):
        video = root / video_tpl.format(video_key=camera, chunk_index=0, file_index=0)
        write_video(video, np.concatenate([frames_of(0, c), frames_of(1, c)]), FPS)
    return root


@pytest.fixture(scope="module", params=["v2.1", "v3.0"])
def lerobot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = build_lerobot_v21 if request.param == "v2.1" else build_lerobot_v30
    return build(tmp_path_factory.mktemp("lerobot") / request.param)


def test_lerobot_records_frames_and_actions(lerobot: Path) -> None:
    source = LeRobotSource(lerobot)
    assert source.camera == CAMERAS[0] and source.version == lerobot.name and len(source) == 2
    records = source.records()
    assert [r.num_frames for r in records] == list(LENGTHS)
    assert [r.caption for r in records] == list(TASKS)
    assert [(r.fps, r.height, r.width, r.has_actions, r.action_dim) for r in records] == [
        (10.0, H, W, True, 2)
    ] * 2
    clip = source.read_clip(1, 2, 5)  # episode 1, frames 2..4 (in v3 they sit after episode 0's 5 frames)
    assert clip.frames.shape == (3, H, W, 3) and clip.depth is None
    assert_levels(clip.frames, [level(1, t) for t in (2, 3, 4)])
    np.testing.assert_array_equal(clip.actions, [[1, 2], [1, 3]])  # actions between frames 2-3 and 3-4
    wrist = LeRobotSource(lerobot, camera=CAMERAS[1]).read_clip(0, 0, 5)
    assert_levels(wrist.frames, [level(0, t, camera=1) for t in range(5)])
    with pytest.raises(
        UnknownNameError, match=r"unknown camera 'observation\.images\.side'; expected one of"
    ):
        LeRobotSource(lerobot, camera="observation.images.side")


def test_lerobot_clips(lerobot: Path) -> None:
    ds = ClipDataset(lerobot, clip_length=3)  # a LeRobot folder is recognised from meta/info.json
    clips = list(ds)
    assert [(c["episode"], c["start"]) for c in clips] == [(0, 0), (1, 0), (1, 3)]
    clip = clips[2]
    assert clip["video"].shape == (3, 3, H, W) and clip["caption"] == TASKS[1]
    assert (
        clip["actions"].tolist() == [[1, 3], [1, 4]]
        and clip["has_actions"]
        and clip["key"] == "episode_000001"
    )
    decoded = ((clip["video"] + 1) * 127.5).permute(1, 2, 3, 0).numpy()  # back to (T, H, W, 3) levels
    assert_levels(decoded, [level(1, t) for t in (3, 4, 5)])


def test_lerobot_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        LeRobotSource(tmp_path / "missing")
    with pytest.raises(DatasetError, match=r"meta/info.json: missing \(not a LeRobot dataset\?\)"):
        LeRobotSource(tmp_path)
    root = build_lerobot_v21(tmp_path / "ds")
    info = json.loads((root / "meta" / "info.json").read_text())
    (root / "meta" / "info.json").write_text(json.dumps({**info, "codebase_version": "v1.6"}))
    with pytest.raises(DatasetError, match=r"unsupported LeRobot codebase_version 'v1\.6'"):
        LeRobotSource(root)
    features = {k: v for k, v in info["features"].items() if k not in CAMERAS}
    (root / "meta" / "info.json").write_text(json.dumps({**info, "features": features}))
    with pytest.raises(DatasetError, match="no video features"):
        LeRobotSource(root)
    (root / "meta" / "info.json").write_text(json.dumps(info))
    (root / "videos" / "chunk-000" / CAMERAS[0] / "episode_000001.mp4").unlink()
    with pytest.raises(DatasetError, match=r"episode 1: .*episode_000001\.mp4: file does not exist"):
        LeRobotSource(root).read_clip(1, 0, 2)


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "a.mp4", frames_of(0), FPS)
    (root / "a.txt").write_text("  a grey card brightens\n")
    write_video(root / "sub" / "b.webm", frames_of(1), FPS)
    write_video(root / "c.mkv", frames_of(1, camera=1)[:4], 5.0)
    (root / "notes.md").write_text("not a video")
    return root


def test_video_folder(video_folder: Path) -> None:
    source = VideoFolderSource(video_folder)
    records = source.records()
    assert [r.key for r in records] == ["a", "c", "sub/b"]
    assert [r.caption for r in records] == ["a grey card brightens", "", ""]
    assert [(r.num_frames, r.fps, r.height, r.width) for r in records] == [
        (5, 10.0, H, W),
        (4, 5.0, H, W),
        (6, 10.0, H, W),
    ]
    assert not any(r.has_actions for r in records)
    assert_levels(source.read_clip(2, 1, 4).frames, [level(1, t) for t in (1, 2, 3)])
    clips = list(ClipDataset(source, clip_length=2, clip_step=2))
    assert [(c["key"], c["start"]) for c in clips] == [
        ("a", 0),
        ("a", 2),
        ("c", 0),
        ("c", 2),
        ("sub/b", 0),
        ("sub/b", 2),
        ("sub/b", 4),
    ]
    assert clips[0]["actions"].shape == (1, 0) and not clips[0]["has_actions"]
    with pytest.raises(ConfigError, match="with_depth=True but these sources have no depth"):
        ClipDataset(source, clip_length=2, with_depth=True)


def test_video_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        VideoFolderSource(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no video files"):
        VideoFolderSource(tmp_path)
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match=r"broken\.mp4"):
        VideoFolderSource(tmp_path)


def test_mixture(synthetic_dataset: Path, video_folder: Path, tmp_path: Path) -> None:
    lerobot = LeRobotSource(build_lerobot_v21(tmp_path / "lerobot"))
    ds = ClipDataset(
        [synthetic_dataset, VideoFolderSource(video_folder), lerobot], clip_length=3, size=(8, 8)
    )
    clips = list(ds)
    counts = [sum(c["source"] == s for c in clips) for s in range(3)]
    assert counts == [5 * 3, 1 + 1 + 2, 1 + 2] and len(ds) == sum(counts)
    assert ds.action_dim == 3  # the widest source: synthetic episodes have 3, LeRobot 2, videos none
    by_source = {c["source"]: c for c in reversed(clips)}  # the first clip of each source
    assert by_source[2]["actions"].tolist() == [[0, 0, 0], [0, 1, 0]]  # LeRobot's 2 dims, zero-padded
    assert by_source[1]["actions"].abs().sum() == 0 and by_source[1]["action_dim"] == 0
    assert by_source[0]["action_dim"] == 3 and by_source[2]["action_dim"] == 2
    batch = next(iter(DataLoader(ds, batch_size=len(clips))))
    assert batch["video"].shape == (len(clips), 3, 3, 8, 8) and batch["actions"].shape == (len(clips), 2, 3)
    assert batch["has_actions"].tolist() == [True] * 15 + [False] * 4 + [True] * 3
