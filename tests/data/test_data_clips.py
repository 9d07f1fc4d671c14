"""ClipDataset: enumeration, tensors, stride/resize/depth, shuffling, and exact sharding over ranks and workers."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from worldfm.data import ClipDataset, open_dataset
from worldfm.errors import ConfigError, DatasetError
from worldfm.video.transforms import frames_to_tensor, resize_frames

KEYS = {
    "video",
    "caption",
    "actions",
    "has_actions",
    "action_dim",
    "key",
    "source",
    "episode",
    "start",
    "fps",
}


def _ids(items) -> list[tuple[int, int, int]]:
    return [(int(c["source"]), int(c["episode"]), int(c["start"])) for c in items]


def test_counts_shapes_and_values(synthetic_dataset: Path) -> None:
    ds = ClipDataset(synthetic_dataset, clip_length=4)  # default step = span: back-to-back clips
    clips = list(ds)
    assert len(clips) == len(ds) == 10  # starts 0 and 4 in each 9-frame episode
    assert _ids(clips) == [(0, e, s) for e in range(5) for s in (0, 4)]
    episodes = open_dataset(synthetic_dataset)
    for clip in clips[3:5]:
        assert set(clip) == KEYS
        video = clip["video"]
        assert video.shape == (3, 4, 16, 24) and video.dtype == torch.float32
        assert float(video.min()) >= -1.0 and float(video.max()) <= 1.0
        ep = episodes[clip["episode"]]
        want = frames_to_tensor(ep.frames[clip["start"] : clip["start"] + 4])[0]
        np.testing.assert_array_equal(video.numpy(), want.numpy())  # the same decoded frames
        assert clip["caption"] == ep.caption and clip["key"] == f"synthetic-{clip['episode']:06d}"
        assert clip["has_actions"] and clip["action_dim"] == 3 and clip["fps"] == 10.0
        np.testing.assert_array_equal(clip["actions"].numpy(), ep.actions[clip["start"] : clip["start"] + 3])
    assert len(ClipDataset(synthetic_dataset, clip_length=4, clip_step=1)) == 5 * 6


def test_stride_takes_every_kth_frame_and_concatenates_actions(synthetic_dataset: Path) -> None:
    ds = ClipDataset(synthetic_dataset, clip_length=3, stride=2, clip_step=2)  # span 5: starts 0, 2, 4
    clips = list(ds)
    assert _ids(clips)[:3] == [(0, 0, 0), (0, 0, 2), (0, 0, 4)] and len(clips) == 15
    clip = clips[4]  # episode 1, start 2: frames 2, 4, 6
    ep = open_dataset(synthetic_dataset)[1]
    np.testing.assert_array_equal(clip["video"].numpy(), frames_to_tensor(ep.frames[2:7:2])[0].numpy())
    assert clip["fps"] == 5.0
    # actions[k] = [seed, k, -k]; kept step 0 spans raw actions 2 and 3, step 1 spans 4 and 5
    expected = np.array([[1, 2, -2, 1, 3, -3], [1, 4, -4, 1, 5, -5]], np.float32)
    np.testing.assert_array_equal(clip["actions"].numpy(), expected)


def test_resize_and_depth(synthetic_dataset: Path) -> None:
    episodes = open_dataset(synthetic_dataset)
    clip = next(iter(ClipDataset(synthetic_dataset, clip_length=2, size=8, with_depth=True)))
    assert clip["video"].shape == (3, 2, 8, 12)  # shorter side 16 -> 8, aspect kept
    np.testing.assert_array_equal(
        clip["video"].numpy(), frames_to_tensor(resize_frames(episodes[0].frames[:2], 8))[0].numpy()
    )
    assert clip["depth"].shape == (1, 2, 8, 12) and clip["depth"].dtype == torch.float32
    assert set(clip) == KEYS | {"depth"}
    depth = next(iter(ClipDataset(synthetic_dataset, clip_length=2, with_depth=True)))["depth"]
    np.testing.assert_allclose(depth[0].numpy(), episodes[0].depth[:2], rtol=2**-11)
    exact = next(iter(ClipDataset(synthetic_dataset, clip_length=2, size=(10, 6))))
    assert exact["video"].shape == (3, 2, 10, 6)


def test_batches_collate(synthetic_dataset: Path) -> None:
    loader = DataLoader(ClipDataset(synthetic_dataset, clip_length=4), batch_size=4)
    batch = next(iter(loader))
    assert batch["video"].shape == (4, 3, 4, 16, 24) and batch["actions"].shape == (4, 3, 3)
    assert len(batch["caption"]) == 4 and batch["start"].tolist() == [0, 4, 0, 4]


def test_shuffle_is_deterministic_per_seed_and_epoch(synthetic_dataset: Path) -> None:
    def order(seed: int, epoch: int) -> list[tuple[int, int, int]]:
        ds = ClipDataset(synthetic_dataset, clip_length=2, clip_step=2, shuffle=True, seed=seed)
        ds.set_epoch(epoch)
        return [tuple(int(v) for v in ds.clips[p]) for p in ds.assigned()]

    plain = _ids(ClipDataset(synthetic_dataset, clip_length=2, clip_step=2).clip(p) for p in range(20))
    first = order(0, 0)
    assert first == order(0, 0)  # reproducible
    assert first != order(0, 1) and first != order(1, 0)  # epochs and seeds differ
    assert sorted(first) == sorted(order(0, 1)) == sorted(plain)  # always the same clips
    assert first != sorted(first)
    # what iteration yields follows that order
    ds = ClipDataset(synthetic_dataset, clip_length=2, clip_step=2, shuffle=True, seed=0)
    ds.set_epoch(1)
    assert _ids(ds) == order(0, 1)


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_and_workers_cover_every_clip_once(synthetic_dataset: Path, world_size: int) -> None:
    seen = []
    per_rank = []
    for rank in range(world_size):
        ds = ClipDataset(
            synthetic_dataset,
            clip_length=2,
            clip_step=1,
            shuffle=True,
            seed=5,
            rank=rank,
            world_size=world_size,
        )
        ds.set_epoch(3)
        got = _ids(DataLoader(ds, batch_size=None, num_workers=2))  # real worker processes
        assert len(got) == len(ds)
        per_rank.append(len(got))
        seen += got
    everything = _ids(ClipDataset(synthetic_dataset, clip_length=2, clip_step=1))
    assert len(everything) == 5 * 8
    assert sorted(seen) == sorted(everything)  # complete and disjoint
    assert max(per_rank) - min(per_rank) <= 1


def test_rank_defaults_and_checks(synthetic_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    ds = ClipDataset(synthetic_dataset, clip_length=4)
    assert (ds.rank, ds.world_size) == (1, 4) and len(ds) == 3  # clips 2..4 of 10
    assert ClipDataset(synthetic_dataset, clip_length=4, rank=0, world_size=1).world_size == 1
    with pytest.raises(ConfigError, match=r"rank must be an integer in \[0, 4\), got 4"):
        ClipDataset(synthetic_dataset, clip_length=4, rank=4)
    monkeypatch.setenv("WORLD_SIZE", "many")
    with pytest.raises(ConfigError, match="RANK and WORLD_SIZE must be integers"):
        ClipDataset(synthetic_dataset, clip_length=4)


def test_bad_arguments(synthetic_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="clip_length must be a positive integer"):
        ClipDataset(synthetic_dataset, clip_length=0)
    with pytest.raises(ConfigError, match="stride"):
        ClipDataset(synthetic_dataset, clip_length=2, stride=0)
    with pytest.raises(ConfigError, match="size"):
        ClipDataset(synthetic_dataset, clip_length=2, size=(0, 4))
    with pytest.raises(DatasetError, match="spans 17 frames, but the longest episode has 9"):
        ClipDataset(synthetic_dataset, clip_length=9, stride=2)
    with pytest.raises(DatasetError, match=r"neither a worldfm dataset .* pass VideoFolderSource"):
        ClipDataset(tmp_path, clip_length=2)
    with pytest.raises(DatasetError, match="does not exist"):
        ClipDataset(tmp_path / "missing", clip_length=2)
    with pytest.raises(ConfigError, match="source list is empty"):
        ClipDataset([], clip_length=2)


def test_simulated_dataset(objects_dataset: Path) -> None:
    clips = list(ClipDataset(objects_dataset, clip_length=4, clip_step=2, with_depth=True))
    assert len(clips) == 4
    assert clips[0]["video"].shape == (3, 4, 32, 32) and clips[0]["depth"].shape == (1, 4, 32, 32)
    assert all(c["caption"] and not c["has_actions"] and c["actions"].shape == (3, 0) for c in clips)


def _same_items(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], torch.Tensor):
                np.testing.assert_array_equal(x[k].numpy(), y[k].numpy())
            else:
                assert x[k] == y[k]


def test_runs_of_clips_read_like_single_clips(
    synthetic_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consecutive clips of an episode are decoded together; the items are exactly the single-clip ones."""
    from worldfm.data import clips as clips_module

    ds = ClipDataset(synthetic_dataset, clip_length=3, stride=2, clip_step=1, with_depth=True)
    singles = [ds.clip(p) for p in range(len(ds.clips))]
    runs = list(ds._runs(ds.assigned()))
    assert [(s, e, lo, hi, len(r)) for s, e, lo, hi, r in runs] == [(0, e, 0, 9, 5) for e in range(5)]
    _same_items(list(ds), singles)
    monkeypatch.setattr(clips_module, "RUN_BYTES", 16 * 24 * 3 * 6)  # at most 6 frames per read
    assert [len(r) for *_, r in ds._runs(ds.assigned())] == [2, 2, 1] * 5
    _same_items(list(ds), singles)
