"""SemDeDup stage on hand-made tasks: planted near-duplicates are dropped with the reason naming the
kept copy, the rest kept; deterministic; keep-first vs keep-best; clusters auto and explicit; bad
embeddings and parameters are clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worldfm.curate.stage import build_stage
from worldfm.curate.stages.dedup import SemDedup, auto_clusters, kmeans_labels
from worldfm.curate.task import Clip, StageError, VideoTask
from worldfm.errors import ConfigError, WorldfmError


def _unit(v: np.ndarray) -> list[float]:
    return (v / np.linalg.norm(v)).tolist()


def _corpus(n: int, dups: dict[int, int], dim: int = 32, seed: int = 0) -> list[VideoTask]:
    """Two videos holding `n` clips with random embeddings; clip j in `dups` is a near-copy
    (cos about 0.995) of clip dups[j]. Clips alternate between the videos."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, dim))
    for j, i in dups.items():
        base[j] = base[i] / np.linalg.norm(base[i]) + 0.1 * rng.standard_normal(dim) / np.sqrt(dim)
    tasks = [VideoTask(f"v{k}", f"v{k}.mp4") for k in range(2)]
    for j in range(n):
        clip = Clip(f"v{j % 2}-{j:04d}", 0, 10, 0.0, 1.0, embedding=_unit(base[j]), scores={"quality": j / n})
        tasks[j % 2].clips.append(clip)
    return tasks


def _dropped(tasks: list[VideoTask]) -> dict[str, str]:
    return {c.clip_id: c.filtered for t in tasks for c in t.clips if not c.kept}


def test_planted_duplicates_are_dropped(tmp_path: Path) -> None:
    tasks = _corpus(10, {7: 2, 9: 4})
    report = build_stage({"stage": "dedup", "eps": 0.01}).run(tasks, tmp_path)
    dropped = _dropped(tasks)
    assert sorted(dropped) == ["v1-0007", "v1-0009"]
    assert dropped["v1-0007"].startswith("dedup: duplicate of v0-0002 (cos 0.99")
    assert dropped["v1-0009"].startswith("dedup: duplicate of v0-0004 (cos 0.99")
    assert report == {"clips": 10, "clusters": 1, "duplicates": 2, "kept": 8, "eps": 0.01}


def test_deterministic_with_auto_clusters(tmp_path: Path) -> None:
    dups = {20 + i: 2 * i for i in range(10)}  # 10 planted pairs among 40 clips
    runs = []
    for _ in range(2):
        tasks = _corpus(40, dups, seed=3)
        report = SemDedup(clusters="auto", seed=7).run(tasks, tmp_path)
        runs.append(_dropped(tasks))
    assert runs[0] == runs[1]
    assert report["clusters"] == auto_clusters(40) == 6
    assert sorted(runs[0]) == sorted(f"v{j % 2}-{j:04d}" for j in dups)  # all found, nothing else


def test_keep_best_keeps_the_higher_score(tmp_path: Path) -> None:
    tasks = _corpus(6, {5: 1})  # clip 5 has quality 5/6 > clip 1's 1/6
    SemDedup(keep="best", score="quality").run(tasks, tmp_path)
    assert list(_dropped(tasks)) == ["v1-0001"]
    assert _dropped(tasks)["v1-0001"].startswith("dedup: duplicate of v1-0005")


def test_eps_zero_keeps_near_copies_and_skips_dropped_and_quarantined(tmp_path: Path) -> None:
    tasks = _corpus(6, {3: 0})
    assert SemDedup(eps=0.0).run(tasks, tmp_path)["duplicates"] == 0
    tasks = _corpus(6, {3: 0, 5: 0})
    tasks[0].clips[0].drop("quality", "too dark")  # the original is gone: 3 and 5 are copies of each other
    report = SemDedup(eps=0.05).run(tasks, tmp_path)  # two copies of one clip: cos about 0.99
    assert _dropped(tasks) == {"v0-0000": "quality: too dark", "v1-0005": _dropped(tasks)["v1-0005"]}
    assert "duplicate of v1-0003" in _dropped(tasks)["v1-0005"] and report["clips"] == 5
    tasks[1].error = StageError("split", "boom")  # quarantined videos are not deduplicated
    assert SemDedup(eps=0.05).run(tasks, tmp_path)["clips"] == 2
    assert SemDedup().run([], tmp_path) == {"clips": 0, "clusters": 0, "duplicates": 0, "eps": 0.01}


def test_explicit_clusters_and_kmeans() -> None:
    rng = np.random.default_rng(0)
    centers = np.eye(4)[:3] * 1.0
    x = np.concatenate([c + 0.05 * rng.standard_normal((8, 4)) for c in centers])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = kmeans_labels(x, 3, seed=0, iterations=20)
    assert np.array_equal(labels, kmeans_labels(x, 3, seed=0, iterations=20))
    assert all(len(set(labels[i * 8 : (i + 1) * 8])) == 1 for i in range(3))  # each blob one cluster
    assert len(set(labels)) == 3
    assert SemDedup(clusters=50).run(_corpus(5, {}), Path("."))["clusters"] == 5  # at most one per clip


def test_bad_embeddings_and_params(tmp_path: Path) -> None:
    tasks = _corpus(3, {})
    tasks[0].clips[0].embedding = None
    with pytest.raises(WorldfmError, match="v0-0000 has no embedding"):
        SemDedup().run(tasks, tmp_path)
    tasks[0].clips[0].embedding = [2.0] + [0.0] * 31
    with pytest.raises(WorldfmError, match=r"norm 2\.0000, expected unit norm"):
        SemDedup().run(tasks, tmp_path)
    tasks[0].clips[0].embedding = [1.0] + [0.0] * 31
    tasks[1].clips[0].embedding = [1.0, 0.0]
    with pytest.raises(WorldfmError, match="v1-0001 embedding has 2 dimensions, others have 32"):
        SemDedup().run(tasks, tmp_path)
    for params, match in [
        ({"eps": 1.0}, r"eps must be a number in \[0, 1\)"),
        ({"clusters": 0}, "clusters must be 'auto' or an integer"),
        ({"clusters": "many"}, "clusters must be 'auto' or an integer"),
        ({"iterations": 0}, "iterations must be an integer >= 1"),
        ({"keep": "last"}, "keep must be one of"),
    ]:
        with pytest.raises(ConfigError, match=match):
            build_stage({"stage": "dedup", **params})
