"""Consensus selection: the seeds' layout, exact pairwise distances, the medoid, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from worldfm.errors import ConfigError
from worldfm.world.consensus import (
    MAX_CONSENSUS,
    candidate_seeds,
    check_consensus,
    pairwise_sq_distances,
    select_consensus,
)


def test_candidate_seeds_keep_the_plain_seeds_first() -> None:
    assert candidate_seeds([5, 6], 1) == [5, 6]
    # row j * K + i is candidate j of sample i: sample 0 draws 5, 7, 9; sample 1 draws 6, 8, 10
    assert candidate_seeds([5, 6], 3) == [5, 6, 7, 8, 9, 10]
    assert len(set(candidate_seeds(list(range(4)), 8))) == 32  # every candidate its own seed


@pytest.mark.parametrize("bad", [0, -1, MAX_CONSENSUS + 1, 2.0, True, "3", None])
def test_check_consensus_refuses(bad: object) -> None:
    with pytest.raises(ConfigError, match="consensus must be"):
        check_consensus(bad)


def test_check_consensus_accepts_numpy_integers() -> None:
    assert check_consensus(np.int64(4)) == 4 and isinstance(check_consensus(np.int64(4)), int)


def test_pairwise_distances_equal_brute_force_over_any_chunking() -> None:
    rng = np.random.default_rng(0)
    videos = rng.integers(0, 256, size=(4, 7, 5, 6, 3), dtype=np.uint8)
    flat = videos.reshape(4, -1).astype(np.float64)
    want = ((flat[:, None] - flat[None]) ** 2).sum(-1)
    for chunk in (1, 3, 16):
        got = pairwise_sq_distances(videos, chunk_frames=chunk)
        assert np.array_equal(got, want)  # integer-valued sums well inside float64's exact range
    assert np.array_equal(got, got.T) and not got.diagonal().any()


def test_select_consensus_returns_each_samples_medoid() -> None:
    frame = np.zeros((2, 4, 4, 3), np.uint8)
    # sample 0's candidates (rows 0, 2, 4) at levels 0, 100, 60: 60 sits between the other two;
    # sample 1's (rows 1, 3, 5) at 10, 10, 200: the two that agree win, the lower row on the tie
    levels = [0, 10, 100, 10, 60, 200]
    videos = np.stack([frame + v for v in levels])
    assert select_consensus(videos, samples=2) == [4, 1]
    assert select_consensus(videos[:2], samples=2) == [0, 1]  # one candidate each: plain sampling


def test_select_consensus_scores_only_the_generated_frames() -> None:
    videos = np.zeros((3, 3, 2, 2, 3), np.uint8)
    videos[:, 0] = [[[[0]]], [[[255]]], [[[128]]]]  # the conditioning frame differs (it never does
    videos[:, 1:] = [[[[[50]]]], [[[[0]]]], [[[[60]]]]]  # in a pipeline: it is the given frame)
    assert select_consensus(videos, samples=1, start=0) == [2]
    assert select_consensus(videos, samples=1, start=1) == [0]  # 50 is nearest 0 and 60


def test_select_consensus_refuses_a_bad_layout() -> None:
    with pytest.raises(ConfigError, match="do not split into 2 samples"):
        select_consensus(np.zeros((3, 1, 2, 2, 3), np.uint8), samples=2)
    with pytest.raises(ConfigError, match="uint8 videos"):
        pairwise_sq_distances(np.zeros((3, 1, 2, 2, 3), np.float32))
