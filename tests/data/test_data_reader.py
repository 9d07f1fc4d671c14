"""open_dataset / EpisodeDataset: random access through the index, summaries, and clear errors."""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from worldfm.data import EpisodeDataset, open_dataset
from worldfm.errors import DatasetError


def test_random_access_matches_the_written_episodes(synthetic_dataset: Path, episode_factory) -> None:
    ds = open_dataset(synthetic_dataset)
    assert isinstance(ds, EpisodeDataset) and len(ds) == 5
    for i in (3, 0, 4, -1):  # any order, negative indices too
        ep, want = ds[i], episode_factory(seed=i % 5)
        np.testing.assert_array_equal(ep.segmentation, want.segmentation)
        np.testing.assert_array_equal(ep.actions, want.actions)
        np.testing.assert_allclose(ep.depth, want.depth, rtol=2**-11)
        assert np.abs(ep.frames.astype(int) - want.frames).mean() < 6
        assert ep.caption == want.caption and ep.seed == want.seed
    assert [ep.seed for ep in ds] == [0, 1, 2, 3, 4]
    with pytest.raises(IndexError, match="out of range for 5 episodes"):
        ds[5]
    assert ds.read_member(1, "mp4")[4:8] == b"ftyp"
    assert ds.metadata(2)["key"] == "synthetic-000002"


def test_index_and_info(synthetic_dataset: Path) -> None:
    ds = open_dataset(synthetic_dataset)
    assert isinstance(ds.index, pa.Table) and ds.index.num_rows == 5
    assert ds.rows()[4]["shard"] == "shard-000002.tar"
    assert [p.name for p in ds.shard_paths] == [f"shard-00000{i}.tar" for i in range(3)]
    info = ds.info()
    assert info["num_episodes"] == 5 and info["num_frames"] == 45
    assert info["frames_per_episode"] == {"min": 9, "max": 9, "mean": 9.0}
    assert info["frame_sizes"] == {"16x24": 5} and info["fps"] == [10.0]
    assert info["scenarios"] == {"synthetic": 5} and info["num_shards"] == 3
    assert info["episodes_with_actions"] == 5 and info["action_dims"] == [3]
    assert info["bytes_on_disk"] == sum(p.stat().st_size for p in synthetic_dataset.iterdir())
    assert info["example_captions"][0] == "a red square moves right, episode 0"
    json.dumps(info)  # JSON-ready


def test_missing_or_foreign_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"{tmp_path / 'nope'}: dataset folder does not exist"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: not a worldfm dataset \(no dataset.json\)$"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "empty.partial").mkdir()
    with pytest.raises(DatasetError, match=r"empty\.partial exists, so a write may still be running"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="is not a folder"):
        open_dataset(tmp_path / "file")


@pytest.fixture
def copy(synthetic_dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(synthetic_dataset, tmp_path / "copy"))


def test_newer_or_broken_metadata(copy: Path) -> None:
    info = json.loads((copy / "dataset.json").read_text())
    (copy / "dataset.json").write_text(json.dumps({**info, "format_version": 99}))
    with pytest.raises(DatasetError, match="format_version 99 is not supported"):
        open_dataset(copy)
    (copy / "dataset.json").write_text("{")
    with pytest.raises(DatasetError, match=r"dataset.json: not valid JSON"):
        open_dataset(copy)
    (copy / "dataset.json").write_text(json.dumps(info))
    (copy / "index.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(DatasetError, match=r"index.parquet: cannot read index"):
        open_dataset(copy)


def test_missing_and_truncated_shards(copy: Path) -> None:
    shard = copy / "shard-000001.tar"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 3])
    with pytest.raises(DatasetError, match=rf"{shard}: corrupt shard: truncated to \d+ bytes"):
        open_dataset(copy)
    shard.unlink()
    with pytest.raises(DatasetError, match=rf"{shard}: shard is missing"):
        open_dataset(copy)


def test_damage_inside_a_shard_is_found_on_read(copy: Path) -> None:
    shard = copy / "shard-000001.tar"
    ds = open_dataset(copy)
    original = shard.read_bytes()
    offset = ds.rows()[3]["mp4_offset"]
    data = bytearray(original)
    data[offset - 512 : offset - 500] = b"x" * 12  # the mp4 member's tar header (its name)
    shard.write_bytes(bytes(data))
    ds[2]  # the other episode of this shard still reads
    with pytest.raises(DatasetError, match=rf"{shard}: corrupt shard: .*'synthetic-000003.mp4'"):
        ds[3]
    data = bytearray(original)
    offset = ds.rows()[2]["mp4_offset"]
    data[offset : offset + 400] = bytes(400)  # the video data itself
    shard.write_bytes(bytes(data))
    ds[3]
    with pytest.raises(DatasetError, match=rf"{shard}: episode 'synthetic-000002': cannot decode video"):
        ds[2]
