"""DatasetWriter: sharding, index, dataset.json, atomic publish, refusal to clobber."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from worldfm.data import DatasetWriter, episode_to_sample, open_dataset
from worldfm.errors import ConfigError, DatasetError


def _samples(factory, n: int, t: int = 3) -> list[dict]:
    return [episode_to_sample(factory(seed=i, t=t), f"ep-{i:06d}") for i in range(n)]


def test_layout_index_and_info(tmp_path: Path, episode_factory) -> None:
    out = tmp_path / "ds"
    with DatasetWriter(out, episodes_per_shard=2) as writer:
        for sample in _samples(episode_factory, 5):
            writer.write(sample)
        assert (tmp_path / "ds.partial").is_dir() and not out.exists()  # invisible until closed
    assert sorted(p.name for p in out.iterdir()) == [
        "dataset.json",
        "index.parquet",
        "shard-000000.tar",
        "shard-000001.tar",
        "shard-000002.tar",
    ]
    assert not (tmp_path / "ds.partial").exists()
    index = pq.read_table(out / "index.parquet").to_pylist()
    assert [r["key"] for r in index] == [f"ep-{i:06d}" for i in range(5)]
    assert [r["shard"] for r in index] == ["shard-000000.tar"] * 2 + ["shard-000001.tar"] * 2 + [
        "shard-000002.tar"
    ]
    row = index[3]
    assert (row["scenario"], row["seed"], row["num_frames"], row["height"], row["width"]) == (
        "synthetic",
        3,
        3,
        16,
        24,
    )
    assert (row["fps"], row["has_actions"], row["action_dim"]) == (10.0, True, 3)
    assert row["caption"] == "a red square moves right, episode 3"
    assert row["action_names"] == ["seed", "step", "minus_step"] and row["num_instances"] == 2
    info = json.loads((out / "dataset.json").read_text())
    assert info["format"] == "worldfm-dataset" and info["format_version"] == 1
    assert (info["num_episodes"], info["num_frames"], info["num_shards"]) == (5, 15, 3)
    assert info["scenarios"] == {"synthetic": 5} and info["created_by"].startswith("worldfm ")


def test_exception_mid_write_leaves_nothing(tmp_path: Path, episode_factory) -> None:
    out = tmp_path / "ds"
    samples = _samples(episode_factory, 3)
    with (
        pytest.raises(RuntimeError, match="simulator crashed"),
        DatasetWriter(out, episodes_per_shard=1) as writer,
    ):
        writer.write(samples[0])
        writer.write(samples[1])
        raise RuntimeError("simulator crashed")
    assert list(tmp_path.iterdir()) == []  # neither `ds` nor `ds.partial`


def test_failed_write_keeps_the_previous_dataset(tmp_path: Path, episode_factory) -> None:
    out = tmp_path / "ds"
    samples = _samples(episode_factory, 3)
    with DatasetWriter(out) as writer:
        writer.write(samples[0])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(KeyboardInterrupt), DatasetWriter(out, overwrite=True) as writer:
        writer.write(samples[1])
        raise KeyboardInterrupt
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path, episode_factory) -> None:
    out = tmp_path / "ds"
    samples = _samples(episode_factory, 2)
    with DatasetWriter(out) as writer:
        writer.write(samples[0])
    with pytest.raises(DatasetError, match=rf"{out}: already exists; pass overwrite=True"):
        DatasetWriter(out)
    assert not (tmp_path / "ds.partial").exists()
    with DatasetWriter(out, overwrite=True) as writer:
        writer.write(samples[1])
    assert open_dataset(out).keys == ["ep-000001"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # the old copy is gone


def test_overwrite_only_replaces_datasets(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(DatasetError, match=r"not a worldfm dataset .*refusing to replace it"):
        DatasetWriter(precious, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="is not a folder"):
        DatasetWriter(tmp_path / "file", overwrite=True)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_write_accepts_episodes_and_checks_samples(tmp_path: Path, episode_factory) -> None:
    out = tmp_path / "ds"
    with DatasetWriter(out) as writer:
        assert writer.write(episode_factory(seed=0, t=2)) == "synthetic-000000"
        assert writer.write(episode_factory(seed=1, t=2), key="custom") == "custom"
        sample = episode_to_sample(episode_factory(t=2), "custom")
        with pytest.raises(DatasetError, match="'custom' was already written"):
            writer.write(sample)
        with pytest.raises(DatasetError, match=r"missing \['seg.npz'\]"):
            writer.write({k: v for k, v in sample.items() if k != "seg.npz"} | {"__key__": "other"})
        with pytest.raises(ConfigError, match="differs from the sample's __key__"):
            writer.write(sample, key="zzz")
        with pytest.raises(ConfigError, match="expected a sample dict or an Episode"):
            writer.write([1, 2])
    assert open_dataset(out).keys == ["synthetic-000000", "custom"]


def test_same_episodes_give_identical_bytes(tmp_path: Path, episode_factory) -> None:
    samples = _samples(episode_factory, 3)
    for name in ("a", "b"):
        with DatasetWriter(tmp_path / name, episodes_per_shard=2) as writer:
            for sample in samples:
                writer.write(sample)
    for shard in ("shard-000000.tar", "shard-000001.tar", "index.parquet"):
        assert (tmp_path / "a" / shard).read_bytes() == (tmp_path / "b" / shard).read_bytes()


def test_bad_arguments_and_empty_datasets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="episodes_per_shard"):
        DatasetWriter(tmp_path / "x", episodes_per_shard=0)
    with pytest.raises(DatasetError, match="no episodes were written"), DatasetWriter(tmp_path / "y"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_folder_is_replaced(tmp_path: Path, episode_factory) -> None:
    stale = tmp_path / "ds.partial"
    stale.mkdir()
    (stale / "shard-000000.tar").write_bytes(b"half a shard")
    with DatasetWriter(tmp_path / "ds") as writer:
        writer.write(_samples(episode_factory, 1)[0])
    assert len(open_dataset(tmp_path / "ds")) == 1 and not stale.exists()
