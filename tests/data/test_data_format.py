"""Episode <-> shard sample codec: exact where the format promises exactness, bounded loss elsewhere."""

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from worldfm.data import episode_to_sample, sample_to_episode
from worldfm.data.format import VIDEO_CRF, VIDEO_PIX_FMT
from worldfm.errors import ConfigError, DatasetError
from worldfm.video.io import decode_video_bytes, encode_video_bytes


def _assert_same_episode(back, ep, frame_tol: float = 6.0) -> None:
    np.testing.assert_array_equal(back.segmentation, ep.segmentation)  # exact
    assert back.segmentation.dtype == np.int32
    np.testing.assert_allclose(back.depth, ep.depth, rtol=2**-11, atol=0)  # float16: 11 significant bits
    assert back.depth.dtype == np.float32
    # Frames are exactly the H.264 codec's output for the original frames, and close to them
    # (full-resolution colour at crf 14: tiny frames with sharp edges lose ~1-3 levels on average).
    coded = decode_video_bytes(encode_video_bytes(ep.frames, ep.fps, crf=VIDEO_CRF, pix_fmt=VIDEO_PIX_FMT))
    np.testing.assert_array_equal(back.frames, coded)
    assert np.abs(back.frames.astype(int) - ep.frames).mean() < frame_tol
    assert back.metadata() == json.loads(json.dumps(ep.metadata()))  # everything else exact


def test_round_trip_synthetic(episode_factory) -> None:
    ep = episode_factory(seed=3)
    sample = episode_to_sample(ep, "synthetic-000003")
    assert sample["__key__"] == "synthetic-000003"
    assert set(sample) == {"__key__", "mp4", "depth.npz", "seg.npz", "json"}
    assert all(isinstance(v, bytes) for k, v in sample.items() if k != "__key__")
    assert sample["mp4"][4:8] == b"ftyp"  # a real mp4 container
    back = sample_to_episode(pickle.loads(pickle.dumps(sample)))  # crosses process boundaries
    _assert_same_episode(back, ep)
    np.testing.assert_array_equal(back.actions, ep.actions)
    assert json.loads(sample["json"])["key"] == "synthetic-000003"


def test_round_trip_without_actions(episode_factory) -> None:
    ep = episode_factory(actions=False)
    back = sample_to_episode(episode_to_sample(ep, "a"))
    assert back.actions is None and back.action_names == []
    _assert_same_episode(back, ep)


def test_round_trip_simulated_episode() -> None:
    import worldfm.sim

    ep = worldfm.sim.generate_episode("objects", 5, num_frames=6, size=32)
    back = sample_to_episode(episode_to_sample(ep, "objects-000000"))
    _assert_same_episode(back, ep, frame_tol=8.0)
    assert back.caption == ep.caption and back.instances == ep.instances


def test_segmentation_uses_smallest_exact_type(episode_factory) -> None:
    ep = episode_factory()
    with np.load(io.BytesIO(episode_to_sample(ep, "a")["seg.npz"])) as npz:
        assert npz["segmentation"].dtype == np.uint16  # id 300 needs 16 bits
    ep.segmentation = np.minimum(ep.segmentation, 7)
    with np.load(io.BytesIO(episode_to_sample(ep, "a")["seg.npz"])) as npz:
        assert npz["segmentation"].dtype == np.uint8
    ep.segmentation = ep.segmentation - 1
    with pytest.raises(ConfigError, match=">= 0"):
        episode_to_sample(ep, "a")


@pytest.mark.parametrize("key", ["", "a.b", "dir/name", "sp ace", 7])
def test_bad_keys_are_refused(episode_factory, key) -> None:
    with pytest.raises(ConfigError, match="episode key"):
        episode_to_sample(episode_factory(t=2), key)


def test_missing_and_corrupt_members_name_the_sample(episode_factory) -> None:
    sample = episode_to_sample(episode_factory(t=3), "ep-1")
    with pytest.raises(DatasetError, match=r"'ep-1'.*no 'seg.npz' member"):
        sample_to_episode({k: v for k, v in sample.items() if k != "seg.npz"})
    with pytest.raises(DatasetError, match=r"'ep-1'.*cannot decode video"):
        sample_to_episode({**sample, "mp4": b"not a video" * 20})
    with pytest.raises(DatasetError, match=r"'ep-1'.*not valid JSON"):
        sample_to_episode({**sample, "json": b"{oops"})
    with pytest.raises(DatasetError, match=r"'ep-1'.*cannot read array 'depth'"):
        sample_to_episode({**sample, "depth.npz": b"garbage"})
    meta = json.loads(sample["json"])
    meta["num_frames"] = 4
    with pytest.raises(DatasetError, match="video has 3 frames, metadata says 4"):
        sample_to_episode({**sample, "json": json.dumps(meta).encode()})


def test_webdataset_reads_our_shards(synthetic_dataset: Path, episode_factory) -> None:
    """Shards are plain WebDataset: the library's own reader groups members into our samples."""
    import webdataset as wds

    shards = sorted(str(p) for p in synthetic_dataset.glob("shard-*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"synthetic-{i:06d}" for i in range(5)]
    back = sample_to_episode(samples[2])
    _assert_same_episode(back, episode_factory(seed=2))
    with tarfile.open(shards[0]) as tar:
        assert tar.getnames()[:4] == [
            f"synthetic-000000.{e}" for e in ("depth.npz", "json", "mp4", "seg.npz")
        ]
