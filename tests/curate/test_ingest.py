"""Ingest: folders, globs, list files, single files, LeRobot (v2.1, v3.0) and worldfm datasets."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worldfm.curate.ingest import ingest
from worldfm.curate.stages.probe import Probe
from worldfm.curate.stages.split import Split
from worldfm.curate.task import video_id_for
from worldfm.errors import DatasetError, WorldfmError
from worldfm.video.io import read_video, write_video

FPS = 10
LENGTHS = (12, 15)  # frames of the two LeRobot episodes
TASKS = ("pick up the cube", "open the drawer")
CAMERA = "observation.images.top"


def tiny_video(path: Path, t: int = 4, value: int = 100) -> Path:
    return write_video(path, np.full((t, 16, 16, 3), value, np.uint8), FPS)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    tiny_video(root / "b.mp4")
    tiny_video(root / "sub" / "a.webm")
    tiny_video(root / "sub" / "deeper" / "c.mkv")
    tiny_video(root / ".hidden" / "d.mp4")  # hidden folders (e.g. a run's .work) are skipped
    (root / "notes.txt").write_text("not a video")
    (root / "sub" / "x.json").write_text("{}")
    return root


def test_folder_is_recursive_sorted_and_stable(folder: Path) -> None:
    tasks = ingest(folder)
    names = sorted(Path(t.source).name for t in tasks)
    assert names == ["a.webm", "b.mp4", "c.mkv"]
    assert [t.video_id for t in tasks] == sorted(t.video_id for t in tasks)
    assert {t.video_id for t in tasks} == {video_id_for(t.source, folder) for t in tasks}
    assert [t.video_id for t in ingest(str(folder))] == [t.video_id for t in tasks]  # same ids every run
    assert all(t.work_dir == "" and t.meta == {} and t.info == {} for t in tasks)


def test_glob_list_file_and_single_file(folder: Path, tmp_path: Path) -> None:
    assert sorted(Path(t.source).name for t in ingest(f"{folder}/**/*.mkv")) == ["c.mkv"]
    assert len(ingest(f"{folder}/**/*")) == 3  # only video files, hidden folders not matched
    # The glob's fixed prefix is the id root, so ids match those of the folder spec.
    assert {t.video_id for t in ingest(f"{folder}/**/*")} == {t.video_id for t in ingest(folder)}

    listing = folder / "list.txt"
    listing.write_text("# my videos\nb.mp4\n\n  sub/a.webm  \n" + f"{folder / 'sub' / 'deeper' / 'c.mkv'}\n")
    tasks = ingest(listing)
    assert sorted(Path(t.source).name for t in tasks) == ["a.webm", "b.mp4", "c.mkv"]

    (folder / "missing.txt").write_text("b.mp4\nnope.mp4\n")
    with pytest.raises(WorldfmError, match=r"missing.txt:2: 'nope.mp4' is not a file"):
        ingest(folder / "missing.txt")
    (folder / "twice.txt").write_text("b.mp4\n./b.mp4\n")
    with pytest.raises(WorldfmError, match="listed twice"):
        ingest(folder / "twice.txt")
    (folder / "empty.txt").write_text("# nothing\n")
    with pytest.raises(WorldfmError, match="names no videos"):
        ingest(folder / "empty.txt")

    single = ingest(folder / "b.mp4")
    assert len(single) == 1 and single[0].source == str(folder / "b.mp4")


def test_ingest_errors(tmp_path: Path) -> None:
    with pytest.raises(WorldfmError, match="does not exist"):
        ingest(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorldfmError, match="no video files"):
        ingest(tmp_path / "empty")
    with pytest.raises(WorldfmError, match="matches no video files"):
        ingest(f"{tmp_path}/*.mp4")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(WorldfmError, match="not a video"):
        ingest(tmp_path / "data.csv")
    with pytest.raises(WorldfmError, match="empty input spec"):
        ingest("")


# ---- LeRobot ---------------------------------------------------------------------------------------


def _episode_frames(e: int) -> np.ndarray:
    return np.full((LENGTHS[e], 16, 24, 3), 40 + 120 * e, np.uint8)


def _info(version: str) -> dict:
    video = {"dtype": "video", "shape": [16, 24, 3], "names": ["height", "width", "channels"]}
    return {
        "codebase_version": version,
        "fps": FPS,
        "chunks_size": 1000,
        "features": {CAMERA: video, "action": {"dtype": "float32", "shape": [2]}},
    }


def build_lerobot(root: Path, version: str) -> Path:
    """A minimal LeRobot dataset: v2.1 (one mp4 per episode) or v3.0 (both episodes in one mp4)."""
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(_info(version)))
    if version == "v2.1":
        rows = [{"episode_index": e, "tasks": [TASKS[e]], "length": LENGTHS[e]} for e in range(2)]
        (root / "meta" / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        for e in range(2):
            write_video(root / f"videos/chunk-000/{CAMERA}/episode_{e:06d}.mp4", _episode_frames(e), FPS)
    else:
        (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
        table = {
            "episode_index": [0, 1],
            "tasks": [[t] for t in TASKS],
            "length": list(LENGTHS),
            "data/chunk_index": [0, 0],
            "data/file_index": [0, 0],
            f"videos/{CAMERA}/chunk_index": [0, 0],
            f"videos/{CAMERA}/file_index": [0, 0],
            f"videos/{CAMERA}/from_timestamp": [0.0, LENGTHS[0] / FPS],
        }
        pq.write_table(pa.table(table), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
        frames = np.concatenate([_episode_frames(0), _episode_frames(1)])
        write_video(root / f"videos/{CAMERA}/chunk-000/file-000.mp4", frames, FPS)
    return root


@pytest.mark.parametrize("version", ["v2.1", "v3.0"])
def test_lerobot_dataset(tmp_path: Path, version: str) -> None:
    root = build_lerobot(tmp_path / "lerobot", version)
    tasks = ingest(root)
    assert len(tasks) == 2
    by_episode = {t.meta["episode_index"]: t for t in tasks}
    for e, task in by_episode.items():
        assert task.meta["task"] == task.meta["caption"] == TASKS[e]
        assert task.meta["kind"] == "lerobot" and task.meta["camera"] == CAMERA
        assert task.video_id.endswith(f"-ep{e:06d}")
        start = sum(LENGTHS[:e]) / FPS if version == "v3.0" else 0.0
        assert task.meta["range"] == pytest.approx([start, start + LENGTHS[e] / FPS])
        # Probe counts only the episode's frames; split cuts only inside them, in source frames.
        task.work_dir = str(tmp_path / "work" / task.video_id)
        probed = Probe().process(task)
        assert probed is not None
        first = sum(LENGTHS[:e]) if version == "v3.0" else 0
        assert (probed.info["start_frame"], probed.info["end_frame"]) == (first, first + LENGTHS[e])
        clips = Split(detector="content", min_clip_s=0.5, trim_s=0.0).process(probed).clips
        assert [(c.start_frame, c.end_frame) for c in clips] == [(first, first + LENGTHS[e])]
        frames = read_video(probed.info["path"], clips[0].start_frame, clips[0].end_frame)
        assert abs(float(frames.mean()) - (40 + 120 * e)) < 3  # the episode's own frames
    if version == "v3.0":
        assert len({t.source for t in tasks}) == 1  # one file, two episodes, two ids
    assert len({t.video_id for t in tasks}) == 2


def test_lerobot_malformed(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(
        json.dumps({"codebase_version": "v2.1", "fps": FPS, "features": {}})
    )
    with pytest.raises(DatasetError, match="no video features"):
        ingest(root)


# ---- worldfm dataset ---------------------------------------------------------------------------------


def test_worldfm_dataset(tmp_path: Path) -> None:
    import worldfm.sim  # sets MUJOCO_GL before the simulator loads
    from worldfm.data import DatasetWriter, EpisodeDataset

    out = tmp_path / "sim"
    with DatasetWriter(out, episodes_per_shard=1) as writer:
        for seed in (1, 2):
            writer.write(worldfm.sim.generate_episode("objects", seed, num_frames=6, size=32))
    dataset = EpisodeDataset(out)
    tasks = ingest(out)
    assert len(tasks) == 2 and len({t.video_id for t in tasks}) == 2
    for task in tasks:
        i = task.meta["episode"]
        assert task.meta["kind"] == "worldfm" and task.meta["episode_key"] == dataset.keys[i]
        assert task.meta["caption"] == dataset.records()[i].caption != ""
        task.work_dir = str(tmp_path / "work" / task.video_id)
        probed = Probe().process(task)
        assert probed is not None
        assert Path(probed.info["path"]) == Path(task.work_dir) / "source.mp4"
        assert (probed.info["num_frames"], probed.info["width"], probed.info["height"]) == (6, 32, 32)
        assert Path(probed.info["path"]).read_bytes() == dataset.read_member(i, "mp4")
