"""Shared fixtures for the data tests: hand-built episodes (fast, known values) and tiny datasets."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from worldfm.data import DatasetWriter, episode_to_sample
from worldfm.sim.episode import Camera, Episode

EpisodeFactory = Callable[..., Episode]


def make_episode(
    seed: int = 0, t: int = 9, h: int = 16, w: int = 24, actions: bool = True, scenario: str = "synthetic"
) -> Episode:
    """A smooth synthetic episode (so H.264 keeps it close) whose arrays encode (seed, frame).

    frames: gradient background plus a coloured square moving one pixel per frame;
    depth: metres in [0.5, 20]; segmentation: ids 0, 1 and 300 (needs more than 8 bits);
    actions[k] = [seed, k, -k] (so tests can check which rows a clip got).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((t, h, w, 3), np.uint8)
    seg = np.zeros((t, h, w), np.int32)
    for k in range(t):
        frames[k, ..., 0] = (40 + 4 * xx + 10 * seed) % 256
        frames[k, ..., 1] = 60 + 3 * yy
        frames[k, ..., 2] = 90 + 8 * k
        top, left = 2 + k % (h - 6), 2 + (k + seed) % (w - 6)
        frames[k, top : top + 4, left : left + 4] = (230, 40, 40)
        seg[k, top : top + 4, left : left + 4] = 1
        seg[k, -2:, :3] = 300
    depth = (0.5 + 19.5 * rng.random((t, h, w))).astype(np.float32)
    acts = np.stack([np.full(t - 1, seed), np.arange(t - 1), -np.arange(t - 1)], 1).astype(np.float32)
    return Episode(
        frames=frames,
        depth=depth,
        segmentation=seg,
        states={"square": np.stack([np.arange(t), np.arange(t) * 0.5], 1).astype(np.float32)},
        actions=acts if actions else None,
        action_names=["seed", "step", "minus_step"] if actions else [],
        camera=Camera(np.eye(3), np.tile(np.eye(4), (t, 1, 1))),
        caption=f"a red square moves right, episode {seed}",
        instances=[
            {"id": 1, "name": "square", "category": "box"},
            {"id": 300, "name": "corner", "category": "x"},
        ],
        scenario=scenario,
        seed=seed,
        params={"speed": 1.0},
        fps=10.0,
    )


@pytest.fixture
def episode_factory() -> EpisodeFactory:
    return make_episode


def write_dataset(out: Path, episodes: list[Episode], episodes_per_shard: int = 2) -> Path:
    with DatasetWriter(out, episodes_per_shard=episodes_per_shard) as writer:
        for i, ep in enumerate(episodes):
            writer.write(episode_to_sample(ep, f"{ep.scenario}-{i:06d}"))
    return out


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 synthetic episodes of 9 frames (16x24), with actions, 2 per shard (3 shards)."""
    episodes = [make_episode(seed) for seed in range(5)]
    return write_dataset(tmp_path_factory.mktemp("data") / "synthetic", episodes)


@pytest.fixture(scope="session")
def objects_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 real `objects` simulator episodes of 6 frames at 32 px."""
    import worldfm.sim  # sets MUJOCO_GL before the simulator loads

    episodes = [worldfm.sim.generate_episode("objects", seed, num_frames=6, size=32) for seed in (1, 2)]
    return write_dataset(tmp_path_factory.mktemp("data") / "objects", episodes)
