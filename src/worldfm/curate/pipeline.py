"""The curation run: ingest -> per-video stages on an executor -> corpus-wide stages -> summary.

    summary = run_curation("raw_videos/", "curated/", load_curate_config("configs/curate/default.yaml"))

Layout of `out`:

    .work/<video_id>/task.json    the finished per-video record (the resume marker), clips/ its files
    <corpus stage outputs>        e.g. dataset/ (WebDataset shards + index.parquet) from `shard`
    summary.json, report.html     counts per stage, filter reasons, quarantined videos, timings

Resume: a video whose `task.json` exists with the same config fingerprint (the per-video stages and
their parameters) is not processed again; anything else is (re)done. Corpus-wide stages always run
over all tasks sorted by video id, so an interrupted run restarted with the same command, or the
same config on another executor, gives the same final output.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldfm.curate.stage import CorpusStage, Stage, build_stage, check_order
from worldfm.curate.task import VideoTask
from worldfm.curate.worker import TASK_FILE
from worldfm.errors import ConfigError, WorldfmError

PIPELINE_VERSION = 1
WORK_DIR = ".work"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"


@dataclass
class CurateConfig:
    """stages: config entries `{stage: name, **params}` in order (per-video first, then corpus-wide).
    workers: default worker count of the executors."""

    stages: list[dict[str, Any]]
    workers: int = 2
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.stages, list) or not self.stages:
            raise ConfigError("a curation config needs a non-empty 'stages' list")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, got {self.workers!r}")

    def build(self) -> tuple[list[Stage], list[CorpusStage]]:
        stages = [build_stage(e) for e in self.stages]
        check_order(stages)
        per_video = [s for s in stages if isinstance(s, Stage)]
        corpus = [s for s in stages if isinstance(s, CorpusStage)]
        return per_video, corpus

    def per_video_entries(self) -> list[dict[str, Any]]:
        per_video, _ = self.build()
        return [{"stage": s.name, **s.params()} for s in per_video]

    def fingerprint(self) -> str:
        """Hash of the per-video stages and their parameters (what a finished task depends on)."""
        text = json.dumps([PIPELINE_VERSION, self.per_video_entries()], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_curate_config(path: str | os.PathLike[str]) -> CurateConfig:
    """Read a curation config YAML (see configs/curate/default.yaml)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: curation config does not exist") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable curation config ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'stages', got {type(data).__name__}")
    unknown = sorted(set(data) - {"stages", "workers"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; expected 'stages' and 'workers'")
    return CurateConfig(stages=data.get("stages"), workers=data.get("workers", 2), source=str(path))


def _prepare(tasks: list[VideoTask], out: Path) -> None:
    for task in tasks:
        task.work_dir = str(out / WORK_DIR / task.video_id)


def _finished(task: VideoTask, fingerprint: str) -> VideoTask | None:
    path = Path(task.work_dir) / TASK_FILE
    if not path.is_file():
        return None
    try:
        done = VideoTask.load(path)
    except (OSError, ValueError, TypeError, WorldfmError):
        return None  # a damaged marker: redo the video
    if done.meta.get("fingerprint") != fingerprint or done.source != task.source:
        return None
    return done


def run_curation(
    input_spec: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: CurateConfig,
    executor: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Callable[[int, int, VideoTask], None] | None = None,
) -> dict[str, Any]:
    """Curate the videos named by `input_spec` (folder, glob, list file or LeRobot dataset) into
    `out`. Returns the run summary (also written to out/summary.json and out/report.html).
    progress(done, total, task) is called as each video finishes."""
    from worldfm.curate.executors import make_executor
    from worldfm.curate.ingest import ingest

    start = time.perf_counter()
    out = Path(out)
    per_video, corpus = config.build()
    fingerprint = config.fingerprint()
    tasks = ingest(input_spec)
    if not tasks:
        raise WorldfmError(f"{input_spec}: no input videos found")
    out.mkdir(parents=True, exist_ok=True)
    _prepare(tasks, out)
    finished: dict[str, VideoTask] = {}
    todo = []
    for task in tasks:
        done = _finished(task, fingerprint)
        if done is not None:
            finished[task.video_id] = done
        else:
            todo.append(task)
    reused = len(finished)
    runner = make_executor(executor, workers or config.workers, ray_address)
    entries = [{"stage": s.name, **s.params()} for s in per_video]
    count = reused
    per_video_start = time.perf_counter()
    for task in runner.run(entries, fingerprint, todo):
        finished[task.video_id] = task
        count += 1
        if progress is not None:
            progress(count, len(tasks), task)
    per_video_seconds = time.perf_counter() - per_video_start
    ordered = [finished[t.video_id] for t in sorted(tasks, key=lambda t: t.video_id)]
    corpus_reports = {}
    for stage in corpus:
        t0 = time.perf_counter()
        report = stage.run(ordered, out)
        corpus_reports[stage.name] = {**(report or {}), "seconds": round(time.perf_counter() - t0, 3)}
    summary = summarize(
        ordered,
        per_video,
        corpus_reports,
        executor=executor,
        workers=workers or config.workers,
        reused=reused,
        per_video_seconds=per_video_seconds,
        wall_seconds=time.perf_counter() - start,
        config=config,
    )
    write_summary(summary, out)
    return summary


def summarize(
    tasks: list[VideoTask],
    per_video: list[Stage],
    corpus_reports: dict[str, Any],
    executor: str,
    workers: int,
    reused: int,
    per_video_seconds: float,
    wall_seconds: float,
    config: CurateConfig,
) -> dict[str, Any]:
    """The run summary: counts per stage, filter reasons, quarantined videos, timings, throughput."""
    clips = [c for t in tasks for c in t.clips]
    dropped_by = Counter((c.filtered or "").split(":", 1)[0] for c in clips if not c.kept)
    input_seconds = sum(float(t.info.get("duration_s") or 0.0) for t in tasks if t.error is None)
    stage_seconds = Counter()
    for t in tasks:
        stage_seconds.update(t.timings)
    return {
        "config": config.source or None,
        "stages": [s.name for s in per_video] + list(corpus_reports),
        "executor": executor,
        "workers": workers,
        "videos": {
            "total": len(tasks),
            "processed": len(tasks) - reused,
            "reused": reused,
            "quarantined": sum(t.error is not None for t in tasks),
            "dropped": sum(t.error is None and "dropped" in t.meta for t in tasks),
        },
        "clips": {
            "found": len(clips),
            "kept": sum(c.kept for c in clips),
            "dropped_by_stage": dict(sorted(dropped_by.items())),
        },
        "quarantined": [
            {"source": t.source, "stage": t.error.stage, "error": t.error.error}
            for t in tasks
            if t.error is not None
        ],
        "filtered": [
            {"clip_id": c.clip_id, "source": t.source, "reason": c.filtered}
            for t in tasks
            for c in t.clips
            if not c.kept
        ],
        "corpus_stages": corpus_reports,
        "seconds": {
            "wall": round(wall_seconds, 3),
            "per_video_stages": round(per_video_seconds, 3),
            "by_stage_cpu": {k: round(v, 3) for k, v in stage_seconds.items()},
        },
        "input_video_seconds": round(input_seconds, 3),
        "realtime_factor": round(input_seconds / per_video_seconds, 2) if per_video_seconds > 0 else None,
    }


def write_summary(summary: dict[str, Any], out: Path) -> None:
    """out/summary.json and out/report.html, each written atomically."""
    for name, text in (
        (SUMMARY_FILE, json.dumps(summary, indent=2) + "\n"),
        (REPORT_FILE, render_report(summary)),
    ):
        tmp = out / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, out / name)


def render_report(summary: dict[str, Any]) -> str:
    """A small self-contained HTML page of the summary (no scripts, no external files)."""

    def table(rows: list[tuple[Any, ...]], head: tuple[str, ...]) -> str:
        th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
        return f"<table><tr>{th}</tr>{body}</table>"

    v, c = summary["videos"], summary["clips"]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>worldfm curation report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>",
        "<h1>worldfm curation report</h1>",
        f"<p>executor {html.escape(str(summary['executor']))}, {summary['workers']} workers, "
        f"{summary['seconds']['wall']} s wall, {summary['input_video_seconds']} s of input video "
        f"({summary['realtime_factor']}x real time for the per-video stages)</p>",
        "<h2>Videos</h2>",
        table([(k, val) for k, val in v.items()], ("", "count")),
        "<h2>Clips</h2>",
        table(
            [("found", c["found"]), ("kept", c["kept"])]
            + [(f"dropped by {k}", n) for k, n in c["dropped_by_stage"].items()],
            ("", "count"),
        ),
        "<h2>Stage time (CPU seconds, all workers)</h2>",
        table(list(summary["seconds"]["by_stage_cpu"].items()), ("stage", "seconds")),
        "<h2>Corpus-wide stages</h2>",
        table([(k, json.dumps(r)) for k, r in summary["corpus_stages"].items()], ("stage", "report")),
        "<h2>Quarantined videos</h2>",
        table(
            [(q["source"], q["stage"], q["error"]) for q in summary["quarantined"]],
            ("source", "stage", "error"),
        ),
        "<h2>Filtered clips</h2>",
        table(
            [(f["clip_id"], f["source"], f["reason"]) for f in summary["filtered"]],
            ("clip", "source", "reason"),
        ),
    ]
    return "\n".join(parts) + "\n"


def read_summary(out: str | os.PathLike[str]) -> dict[str, Any]:
    """The summary of a finished run in `out` (for `worldfm curate report`)."""
    path = Path(out) / SUMMARY_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise WorldfmError(f"{out}: no curation run here (no {SUMMARY_FILE})") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise WorldfmError(f"{path}: unreadable ({exc})") from None
