"""Consensus sampling: return, for each requested sample, the most typical of several drawn futures.

A world model's single sampled future is one draw from its distribution; at nano scale a draw often
moves the arm or an object where it did not go. With `consensus` C > 1 a pipeline draws C candidate
futures per requested sample and returns the candidate with the least total squared distance (over
the generated frames, in pixels) to the other C - 1: the medoid, the minimum-Bayes-risk choice under
the mean squared error. It is a real future the model drew (not a blurred average of several), the
one the others agree with most. It costs C times the sampling work; C = 1 is plain sampling, and
C = 2 cannot choose (each candidate is as far from the other) and returns the plain sample: use 3 or more.

Seeds: sample i of a request with seed s and K samples has candidates with seeds
`s + i, s + i + K, s + i + 2K, ...` (candidate 0 is the plain sample's seed, so consensus 1 is
unchanged); the pipeline reports the seed of the candidate it returned.
"""

from __future__ import annotations

import numpy as np
import torch

from worldfm.errors import ConfigError

MAX_CONSENSUS = 64  # candidates per sample; beyond it the cost is out of proportion to the gain


def check_consensus(value: object) -> int:
    """`value` as an integer in [1, MAX_CONSENSUS] (1 = plain sampling), or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"consensus must be an integer >= 1 (1 = off), got {value!r}")
    if not 1 <= value <= MAX_CONSENSUS:
        raise ConfigError(f"consensus must be between 1 (off) and {MAX_CONSENSUS}, got {value!r}")
    return int(value)


def candidate_seeds(seeds: list[int], consensus: int) -> list[int]:
    """The seeds of every candidate row, `consensus` rounds of the K sample seeds `seeds`
    (`seed, seed + 1, ...`): row `j * K + i` is candidate j of sample i, seed `seeds[i] + j * K`."""
    consensus = check_consensus(consensus)
    k = len(seeds)
    return [s + j * k for j in range(consensus) for s in seeds]


def pairwise_sq_distances(candidates: np.ndarray, chunk_frames: int = 16) -> np.ndarray:
    """Squared L2 distances `(C, C)` float64 between videos `candidates` `(C, F, H, W, 3)` uint8.

    Accumulated over chunks of `chunk_frames` frames through Gram matrices (float64), so memory stays
    bounded for long, large videos; exact up to float64 rounding, symmetric, zero diagonal."""
    if candidates.ndim != 5 or candidates.dtype != np.uint8:
        raise ConfigError(
            f"candidates must be (C, F, H, W, 3) uint8 videos, got {candidates.shape} {candidates.dtype}"
        )
    c = candidates.shape[0]
    gram = torch.zeros(c, c, dtype=torch.float64)
    for lo in range(0, candidates.shape[1], chunk_frames):
        x = torch.from_numpy(np.ascontiguousarray(candidates[:, lo : lo + chunk_frames])).reshape(c, -1)
        x = x.to(torch.float64)
        gram += x @ x.T
    norms = gram.diagonal()
    dist = (norms[:, None] + norms[None, :] - 2 * gram).clamp_min(0)
    dist.fill_diagonal_(0)
    return dist.numpy()


def select_consensus(videos: np.ndarray, samples: int, start: int = 0) -> list[int]:
    """Row indices into `videos` of the medoid of each sample's candidates.

    videos: `(samples * C, F, H, W, 3)` uint8 laid out as `candidate_seeds` lays out the seeds (row
        `j * samples + i` is candidate j of sample i). start: first frame that counts (the generated
        ones; the conditioning frames are the same in every candidate).
    Returns `samples` row indices; ties go to the lower candidate, so the choice is deterministic.
    """
    rows = videos.shape[0]
    if samples < 1 or rows % samples:
        raise ConfigError(f"{rows} candidate videos do not split into {samples} samples")
    consensus = rows // samples
    if consensus == 1:
        return list(range(samples))
    chosen = []
    for i in range(samples):
        # sample i's candidates are every `samples`-th row from i: a strided view, no copy of the videos
        dist = pairwise_sq_distances(videos[i::samples, start:])
        chosen.append(i + samples * int(np.argmin(dist.sum(axis=1))))
    return chosen
