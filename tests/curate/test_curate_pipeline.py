"""End to end: a folder of real short videos (panned photos, one with a hard cut, a re-encoded
copy, a simulator episode, a corrupt file) curated with configs/curate/fast.yaml.

The dataset opens with worldfm's loader, the corrupt file is quarantined with its reason, the copy
is dropped by dedup; an interrupted or partly deleted run, resumed, gives byte-identical shards and
the same index, reusing finished videos; the process pool and a local Ray instance give the same
output as the in-process run."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from worldfm.curate.pipeline import REPORT_FILE, SUMMARY_FILE, WORK_DIR, load_curate_config, run_curation
from worldfm.curate.worker import TASK_FILE
from worldfm.data import ClipDataset, open_dataset
from worldfm.video.io import probe_video, write_video

FAST = Path(__file__).resolve().parents[2] / "configs" / "curate" / "fast.yaml"


def panned(photo: str, frames: int, h: int = 64, w: int = 96, step: int = 2) -> np.ndarray:
    """(frames, h, w, 3) uint8: a window sliding `step` px per frame across a scikit-image photo."""
    from skimage import data, transform

    img = getattr(data, photo)()
    img = np.stack([img] * 3, -1) if img.ndim == 2 else img[..., :3]
    scale = max((h + 16) / img.shape[0], (w + step * frames) / img.shape[1])
    small = (
        (transform.rescale(img, scale, channel_axis=-1, anti_aliasing=True) * 255).round().astype(np.uint8)
    )
    return np.stack([small[8 : 8 + h, step * k : step * k + w] for k in range(frames)])


def write_corpus(root: Path) -> Path:
    """Six inputs: astronaut (3 s pan), its re-encoded copy, coffee (3 s pan), cut (chelsea then
    rocket: a hard cut, two clips), robot (a simulator episode with a caption file), broken (a
    truncated mp4)."""
    from worldfm.sim.registry import generate_episode

    root.mkdir(parents=True, exist_ok=True)
    astronaut = panned("astronaut", 30)
    write_video(root / "astronaut.mp4", astronaut, fps=10)
    write_video(root / "astronaut_copy.mp4", astronaut, fps=10, crf=35)
    write_video(root / "coffee.mp4", panned("coffee", 30), fps=10)
    write_video(root / "cut.mp4", np.concatenate([panned("chelsea", 25), panned("rocket", 25)]), fps=10)
    episode = generate_episode("robot", 1, 30, 64)
    write_video(root / "robot.mp4", episode.frames, fps=episode.fps)
    (root / "robot.txt").write_text(episode.caption)
    (root / "broken.mp4").write_bytes((root / "coffee.mp4").read_bytes()[:2000])
    return root


def curate(inputs: Path, out: Path, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("workers", 1)  # in-process: no worker start-up cost
    return run_curation(inputs, out, load_curate_config(FAST), **kwargs)


def dataset_state(out: Path) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """(index rows, shard path -> bytes) of a run's dataset: what must not depend on how it ran."""
    root = out / "dataset"
    rows = pq.read_table(root / "index.parquet").to_pylist()
    shards = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.tar"))}
    return rows, shards


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("curate") / "raw")


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One uninterrupted in-process run: (output folder, summary)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    return out, curate(corpus, out)


def test_run_output(corpus: Path, reference: tuple[Path, dict[str, Any]]) -> None:
    out, summary = reference
    assert summary["videos"] == {"total": 6, "processed": 6, "reused": 0, "quarantined": 1, "dropped": 0}
    (bad,) = summary["quarantined"]
    assert bad["source"] == str(corpus / "broken.mp4") and bad["stage"] == "probe"
    assert "VideoError" in bad["error"] and "broken.mp4" in bad["error"]
    # The re-encoded copy is the only duplicate and names the clip it copies.
    dedup = [f for f in summary["filtered"] if f["reason"].startswith("dedup:")]
    assert len(dedup) == 1 and dedup[0]["source"] == str(corpus / "astronaut_copy.mp4")
    assert "duplicate of astronaut-" in dedup[0]["reason"]
    assert all(f["reason"] for f in summary["filtered"])  # every filtered clip says why
    kept = summary["clips"]["kept"]
    assert summary["clips"]["found"] == kept + len(summary["filtered"]) and kept >= 4
    assert summary["corpus_stages"]["shard"]["clips"] == kept
    assert (out / SUMMARY_FILE).is_file() and "broken.mp4" in (out / REPORT_FILE).read_text()

    ds = open_dataset(out / "dataset")
    rows = ds.rows()
    assert len(ds) == kept and {r["key"] for r in rows} == {r["clip_id"] for r in rows}
    sources = {Path(r["source"]).name for r in rows}
    assert {"astronaut.mp4", "coffee.mp4", "cut.mp4"} <= sources and "astronaut_copy.mp4" not in sources
    cut = sorted((r for r in rows if r["source"].endswith("cut.mp4")), key=lambda r: r["start_s"])
    assert len(cut) == 2 and cut[0]["end_s"] <= 2.5 <= cut[1]["start_s"]  # split at the hard cut
    for r in rows:
        duration = probe_video(r["source"]).duration
        assert 0 <= r["start_s"] < r["end_s"] <= duration + 1e-6
        assert r["score_motion"] is not None and r["score_blur"] is not None
        assert r["bucket"] == str(Path(r["shard"]).parent) and r["caption"]
    robot = [r for r in rows if r["source"].endswith("robot.mp4")]
    if robot:  # kept unless the motion filter finds the sim scene too still
        assert robot[0]["caption"] == (corpus / "robot.txt").read_text()
    clips = ClipDataset(ds, clip_length=8, size=32)
    item = next(iter(clips))
    assert item["video"].shape[:2] == (3, 8) and item["key"] in {r["key"] for r in rows}
    assert len(list(clips)) == len(clips) >= kept


def test_resume_after_deleted_markers(
    corpus: Path, reference: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    ref_out, _ = reference
    out = tmp_path / "out"
    shutil.copytree(ref_out, out)
    markers = sorted((out / WORK_DIR).glob(f"*/{TASK_FILE}"))
    assert len(markers) == 6
    for marker in markers[:2]:
        marker.unlink()
    summary = curate(corpus, out)
    assert (summary["videos"]["reused"], summary["videos"]["processed"]) == (4, 2)
    assert dataset_state(out) == dataset_state(ref_out)


class Killed(Exception):
    """Stands in for the process being killed after some videos."""


def test_resume_after_kill(corpus: Path, reference: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "out"

    def kill_after_two(done: int, total: int, task: object) -> None:
        if done == 2:
            raise Killed

    with pytest.raises(Killed):
        curate(corpus, out, progress=kill_after_two)
    assert len(list((out / WORK_DIR).glob(f"*/{TASK_FILE}"))) == 2 and not (out / "dataset").exists()
    summary = curate(corpus, out)  # the same command again
    assert (summary["videos"]["reused"], summary["videos"]["processed"]) == (2, 4)
    assert dataset_state(out) == dataset_state(reference[0])


# Worker start-up costs about 20 s (process pool) and 30 s (Ray) on 2 busy cores; kept in the default
# suite because executor equality is what makes a laptop run and a cluster run interchangeable.
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_executors_match_in_process(
    executor: str, corpus: Path, reference: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """2 worker processes or 2 Ray actors (Ray started with num_cpus=2) give the same output."""
    start = time.perf_counter()
    summary = curate(corpus, tmp_path / "out", executor=executor, workers=2)
    assert (summary["executor"], summary["workers"], summary["videos"]["processed"]) == (executor, 2, 6)
    assert summary["quarantined"] == reference[1]["quarantined"]
    assert summary["filtered"] == reference[1]["filtered"]
    assert dataset_state(tmp_path / "out") == dataset_state(reference[0])
    print(f"{executor} executor, 2 workers: {time.perf_counter() - start:.1f} s")
