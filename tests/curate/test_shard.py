"""Shard stage on hand-made tasks with real mp4 clips: the curated dataset opens with worldfm's
loader (open_dataset, ClipDataset, a plain WebDataset reader), shards are bucketed, the index holds
the curation columns, output is byte-identical across runs, and replacement is atomic and safe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from worldfm.curate.stage import build_stage
from worldfm.curate.stages.shard import Shard, bucket_for
from worldfm.curate.task import Clip, StageError, VideoTask
from worldfm.data import ClipDataset, open_dataset
from worldfm.errors import ConfigError, DatasetError
from worldfm.sim.registry import generate_episode
from worldfm.video.io import read_video, write_video


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real source videos (sim episodes): 64x64 at 15 fps and 48x64 (cropped) at 10 fps."""
    root = tmp_path_factory.mktemp("sources")
    objects = generate_episode("objects", 0, 20, 64)
    robot = generate_episode("robot", 1, 16, 64)
    return {
        "a": write_video(root / "a.mp4", objects.frames, fps=objects.fps),
        "b": write_video(root / "b.mp4", robot.frames[:, 8:56], fps=robot.fps),
    }


def _tasks(sources: dict[str, Path], work: Path) -> list[VideoTask]:
    """Video a: two transcoded clips (one filtered); video b: one clip without a file (cut from the
    source by the shard stage); video c: quarantined."""
    work.mkdir(parents=True, exist_ok=True)
    frames = read_video(sources["a"])
    clip0 = write_video(work / "a-0000.mp4", frames[:12], fps=15.0)
    clip1 = write_video(work / "a-0001.mp4", frames[12:20], fps=15.0)
    a = VideoTask("a", str(sources["a"]), str(work), info={"fps": 15.0})
    a.clips = [
        Clip(
            "a-0000",
            0,
            12,
            0.0,
            0.8,
            path=str(clip0),
            scores={"motion": 0.5, "quality": 0.9},
            caption="cubes",
        ),
        Clip("a-0001", 12, 20, 0.8, 1.3333, path=str(clip1), scores={"motion": 0.0}),
        Clip("a-0002", 12, 20, 0.8, 1.3333, path=str(clip1), scores={"motion": 0.0}, caption="dup"),
    ]
    a.clips[1].drop("motion", "0.0 < 0.001")
    b = VideoTask("b", str(sources["b"]), str(work), info={"fps": 10.0})
    b.clips = [Clip("b-0000", 2, 14, 0.2, 1.4, scores={"quality": 0.4, "text": 0.0}, caption="an arm")]
    c = VideoTask("c", "broken.mp4", str(work), error=StageError("probe", "VideoError: corrupt"))
    c.clips = [Clip("c-0000", 0, 5, 0.0, 0.5, path=str(clip0))]
    return [a, b, c]


def test_bucket_names() -> None:
    assert bucket_for(64, 64, 12, 64) == "resolution_64/aspect_1_1/frames_0_63"
    assert bucket_for(1280, 720, 64, 64) == "resolution_720/aspect_16_9/frames_64_127"
    assert bucket_for(480, 640, 300, 100) == "resolution_480/aspect_3_4/frames_300_399"
    assert bucket_for(64, 48, 8, 64) == "resolution_48/aspect_4_3/frames_0_63"


def test_curated_dataset_reads_with_the_loader(sources: dict[str, Path], tmp_path: Path) -> None:
    tasks = _tasks(sources, tmp_path / "work")
    report = build_stage({"stage": "shard", "clips_per_shard": 1}).run(tasks, tmp_path / "out")
    ds = open_dataset(tmp_path / "out" / "dataset")
    assert report["clips"] == 3 and report["dropped"] == 0 and report["shards"] == 3
    # Sorted by (bucket, clip id): the 48-px bucket sorts before the 64-px one.
    assert ds.keys == ["b-0000", "a-0000", "a-0002"]
    rows = ds.rows()
    assert [r["shard"] for r in rows] == [
        "resolution_48/aspect_4_3/frames_0_63/part-000000.tar",
        "resolution_64/aspect_1_1/frames_0_63/part-000000.tar",
        "resolution_64/aspect_1_1/frames_0_63/part-000001.tar",
    ]
    assert report["buckets"] == {
        "resolution_48/aspect_4_3/frames_0_63": 1,
        "resolution_64/aspect_1_1/frames_0_63": 2,
    }
    a0 = rows[1]
    assert a0["clip_id"] == "a-0000" and a0["source"] == str(sources["a"]) and a0["video_id"] == "a"
    assert (a0["start_s"], a0["end_s"], a0["start_frame"], a0["end_frame"]) == (0.0, 0.8, 0, 12)
    assert (a0["caption"], a0["score_motion"], a0["score_quality"], a0["score_text"]) == (
        "cubes",
        0.5,
        0.9,
        None,
    )
    assert a0["bucket"] == "resolution_64/aspect_1_1/frames_0_63" and a0["scenario"] == "curated"
    assert (rows[0]["num_frames"], rows[0]["height"], rows[0]["width"], rows[0]["fps"]) == (12, 48, 64, 10.0)
    assert rows[0]["depth_offset"] is None and not ds.has_depth
    # The transcoded clip is stored byte for byte; the fileless clip is cut from its source.
    assert ds.read_member(1, "mp4") == Path(tasks[0].clips[0].path).read_bytes()
    source_b = read_video(sources["b"])[2:14]
    got_b = ds.read_clip(0, 0, 12).frames
    assert got_b.shape == (12, 48, 64, 3) and np.abs(got_b.astype(int) - source_b).mean() < 4
    meta = ds.metadata(1)
    assert meta["scores"] == {"motion": 0.5, "quality": 0.9} and meta["clip_id"] == "a-0000"
    with pytest.raises(DatasetError, match="video-only episode"):
        ds[0]
    with pytest.raises(DatasetError, match=r"has no 'depth\.npz' member"):
        ds.read_member(0, "depth.npz")
    info = ds.info()
    assert info["num_episodes"] == 3 and info["storage"]["depth"].startswith("none")
    # The training loader iterates it: 4-frame clips with captions.
    clips = list(ClipDataset(ds, clip_length=4))
    assert len(clips) == 3 + 3 + 2
    assert clips[0]["video"].shape == (3, 4, 48, 64) and clips[0]["caption"] == "an arm"
    assert {c["key"] for c in clips} == {"a-0000", "a-0002", "b-0000"}
    assert float(clips[0]["video"].min()) >= -1 and float(clips[0]["video"].max()) <= 1
    with pytest.raises(ConfigError, match="no depth"):
        ClipDataset(ds, clip_length=4, with_depth=True)


def test_webdataset_reads_bucketed_shards(sources: dict[str, Path], tmp_path: Path) -> None:
    import webdataset as wds

    Shard().run(_tasks(sources, tmp_path / "work"), tmp_path / "out")
    ds = open_dataset(tmp_path / "out" / "dataset")
    samples = list(wds.WebDataset([str(p) for p in ds.shard_paths], shardshuffle=False))
    assert [s["__key__"] for s in samples] == ["b-0000", "a-0000", "a-0002"]
    assert {k for k in samples[0] if not k.startswith("__")} == {"json", "mp4"}


def test_same_tasks_give_identical_output(sources: dict[str, Path], tmp_path: Path) -> None:
    tasks = _tasks(sources, tmp_path / "work")
    for name in ("one", "two"):
        Shard(clips_per_shard=2).run(tasks, tmp_path / name)
    one, two = (tmp_path / n / "dataset" for n in ("one", "two"))
    assert pq.read_table(one / "index.parquet").equals(pq.read_table(two / "index.parquet"))
    shards = sorted(p.relative_to(one) for p in one.rglob("*.tar"))
    assert shards == sorted(p.relative_to(two) for p in two.rglob("*.tar")) and len(shards) == 2
    assert all((one / s).read_bytes() == (two / s).read_bytes() for s in shards)


def test_flat_layout_and_rerun_replaces(sources: dict[str, Path], tmp_path: Path) -> None:
    tasks = _tasks(sources, tmp_path / "work")
    out = tmp_path / "out"
    Shard().run(tasks, out)
    report = Shard(buckets=False).run(tasks, out)  # replaces the earlier dataset
    ds = open_dataset(out / "dataset")
    assert [r["shard"] for r in ds.rows()] == ["shard-000000.tar"] * 3 and report["shards"] == 1
    assert ds.keys == ["a-0000", "a-0002", "b-0000"]  # flat: by clip id
    assert ds.rows()[2]["bucket"] == "resolution_48/aspect_4_3/frames_0_63"
    assert sorted(p.name for p in out.iterdir()) == ["dataset"]  # no build or old folders left
    for clip in tasks[0].clips + tasks[1].clips:
        clip.drop("test", "all gone")
    assert Shard().run(tasks, out)["clips"] == 0 and not (out / "dataset").exists()


def test_bad_clip_file_is_dropped_and_foreign_folder_refused(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    tasks = _tasks(sources, tmp_path / "work")
    tasks[0].clips[2].path = str(tmp_path / "missing.mp4")
    report = Shard().run(tasks, tmp_path / "out")
    assert report["clips"] == 2 and report["dropped"] == 1
    assert tasks[0].clips[2].filtered.startswith("shard: ") and "missing.mp4" in tasks[0].clips[2].filtered
    precious = tmp_path / "mine" / "dataset"
    precious.mkdir(parents=True)
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a worldfm dataset; refusing"):
        Shard().run(tasks, tmp_path / "mine")
    assert (precious / "notes.txt").read_text() == "keep me"
    for params, match in [
        ({"clips_per_shard": 0}, "clips_per_shard must be an integer >= 1"),
        ({"folder": "../x"}, "folder must be a plain folder name"),
        ({"crf": 99}, r"crf must be an integer in \[0, 51\]"),
    ]:
        with pytest.raises(ConfigError, match=match):
            build_stage({"stage": "shard", **params})
