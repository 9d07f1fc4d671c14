"""Semantic deduplication (SemDeDup): k-means on the clips' embeddings, then pairwise cosine
similarity within each cluster; a clip as similar as `1 - eps` to an earlier kept clip is dropped.

Clustering first keeps the pairwise work near O(n * n / k) instead of O(n^2) (two near-duplicates
almost always land in the same cluster: they sit next to each other on the sphere). The order that
decides which copy survives is deterministic: sorted clip id (`keep: first`) or best score first
(`keep: best`, e.g. the quality score), ties by clip id. k-means (faiss, spherical) runs on one
thread with a fixed seed, so the same embeddings give the same clusters and drops on any machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from worldfm.curate.stage import CorpusStage, register_stage
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError, WorldfmError

AUTO_MIN_CLIPS = 16  # below this `clusters: auto` uses one cluster (pairwise cosine is cheap anyway)
NORM_TOLERANCE = 1e-3  # embeddings must be unit-norm to this tolerance
KEEP = ("first", "best")


def auto_clusters(n: int) -> int:
    """Clusters for `clusters: auto`: about sqrt(n), and one for fewer than `AUTO_MIN_CLIPS` clips."""
    return 1 if n < AUTO_MIN_CLIPS else max(1, round(math.sqrt(n)))


def kmeans_labels(x: np.ndarray, k: int, seed: int, iterations: int) -> np.ndarray:
    """Spherical k-means of (n, d) unit vectors into `k` clusters -> (n,) int64 labels in [0, k).

    faiss on one thread (its thread count is restored after), seeded: deterministic.
    """
    n = x.shape[0]
    if k <= 1 or n <= 1:
        return np.zeros(n, np.int64)
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # same sums in the same order on every machine
    try:
        km = faiss.Kmeans(
            x.shape[1],
            k,
            niter=iterations,
            seed=seed,
            spherical=True,
            min_points_per_centroid=1,  # small corpora are fine: no "too few points" warnings
            max_points_per_centroid=1 << 30,  # train on every point, no subsampling
            verbose=False,
        )
        data = np.ascontiguousarray(x, np.float32)
        km.train(data)
        _, labels = km.index.search(data, 1)
    finally:
        faiss.omp_set_num_threads(threads)
    return labels[:, 0].astype(np.int64)


@register_stage("dedup")
@dataclass
class SemDedup(CorpusStage):
    """Drop near-duplicate clips across the whole corpus.

    eps: a clip whose cosine similarity to an earlier kept clip is >= 1 - eps is dropped, with the
        reason "duplicate of <clip_id> (cos 0.9987)"; in [0, 1).
    clusters: k-means clusters, an integer >= 1 or "auto" (about sqrt(n); one for few clips); at
        most one cluster per clip is used.
    seed, iterations: k-means seed and iterations.
    keep: "first" keeps the clip with the smallest clip id of a duplicate group; "best" keeps the
        clip with the highest `score` (clips without that score come last), then smallest id.
    score: the score name `keep: best` ranks by (e.g. "quality").
    """

    eps: float = 0.01
    clusters: int | str = "auto"
    seed: int = 0
    iterations: int = 50
    keep: str = "first"
    score: str = "quality"

    inputs: ClassVar[tuple[str, ...]] = ("clips", "clips.embedding")
    outputs: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not 0 <= self.eps < 1:
            raise ConfigError(f"dedup: eps must be a number in [0, 1), got {self.eps!r}")
        if self.clusters != "auto" and (
            isinstance(self.clusters, bool) or not isinstance(self.clusters, int) or self.clusters < 1
        ):
            raise ConfigError(f"dedup: clusters must be 'auto' or an integer >= 1, got {self.clusters!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"dedup: seed must be an integer, got {self.seed!r}")
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 1:
            raise ConfigError(f"dedup: iterations must be an integer >= 1, got {self.iterations!r}")
        if self.keep not in KEEP:
            raise ConfigError(f"dedup: keep must be one of {list(KEEP)}, got {self.keep!r}")
        if not isinstance(self.score, str) or not self.score:
            raise ConfigError(f"dedup: score must be a score name, got {self.score!r}")

    def _order(self, clips: list[Clip]) -> list[Clip]:
        """The clips in the order that decides which copy is kept (earlier wins)."""
        if self.keep == "first":
            return sorted(clips, key=lambda c: c.clip_id)

        def rank(c: Clip) -> tuple[int, float, str]:
            value = c.scores.get(self.score)
            return (1, 0.0, c.clip_id) if value is None else (0, -float(value), c.clip_id)

        return sorted(clips, key=rank)

    def run(self, tasks: list[VideoTask], out: Path) -> dict[str, Any]:
        """Drop duplicates among the kept clips of the tasks that were not quarantined or dropped."""
        clips = [c for t in tasks if t.error is None and "dropped" not in t.meta for c in t.kept_clips]
        clips = self._order(clips)
        n = len(clips)
        if n == 0:
            return {"clips": 0, "clusters": 0, "duplicates": 0, "eps": self.eps}
        x = embedding_matrix(clips)
        k = auto_clusters(n) if self.clusters == "auto" else min(int(self.clusters), n)
        labels = kmeans_labels(x, k, self.seed, self.iterations)
        threshold = 1.0 - self.eps
        duplicates = 0
        for cluster in range(k):
            members = np.flatnonzero(labels == cluster)  # ascending: keeps the priority order
            if len(members) < 2:
                continue
            sims = x[members] @ x[members].T  # (m, m) cosine similarities, float64
            kept: list[int] = []  # positions within `members` of the clips kept so far
            for j in range(len(members)):
                if kept:
                    row = sims[j, kept]
                    best = int(np.argmax(row))  # first of equal maxima: the earliest kept clip
                    if row[best] >= threshold:
                        other = clips[members[kept[best]]]
                        clips[members[j]].drop(
                            self.name, f"duplicate of {other.clip_id} (cos {float(row[best]):.4f})"
                        )
                        duplicates += 1
                        continue
                kept.append(j)
        return {"clips": n, "clusters": k, "duplicates": duplicates, "kept": n - duplicates, "eps": self.eps}


def embedding_matrix(clips: list[Clip]) -> np.ndarray:
    """(n, d) float64 matrix of the clips' embeddings; raises if any is missing, of another
    dimension, or not unit-norm (the embed stage's contract)."""
    dims = None
    rows = []
    for c in clips:
        if c.embedding is None:
            raise WorldfmError(f"dedup: kept clip {c.clip_id} has no embedding; run an embed stage first")
        v = np.asarray(c.embedding, np.float64)
        if v.ndim != 1 or v.size == 0:
            raise WorldfmError(f"dedup: clip {c.clip_id} embedding must be a non-empty vector, got {v.shape}")
        if dims is None:
            dims = v.size
        elif v.size != dims:
            raise WorldfmError(
                f"dedup: clip {c.clip_id} embedding has {v.size} dimensions, others have {dims}"
            )
        norm = float(np.linalg.norm(v))
        if abs(norm - 1.0) > NORM_TOLERANCE:
            raise WorldfmError(f"dedup: clip {c.clip_id} embedding has norm {norm:.4f}, expected unit norm")
        rows.append(v)
    return np.stack(rows)
