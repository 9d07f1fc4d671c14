"""What a worker does with one video: run the per-video stages in order, time them, record a
failure on the task instead of raising, and save the finished task atomically in its work folder
(the marker a restarted run looks for)."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from worldfm.curate.stage import Stage, build_stage
from worldfm.curate.task import StageError, VideoTask

TASK_FILE = "task.json"


class VideoWorker:
    """Builds the per-video stages from their config entries and sets them up once."""

    def __init__(self, entries: list[dict[str, Any]], fingerprint: str) -> None:
        self.stages: list[Stage] = [build_stage(e) for e in entries]  # type: ignore[misc]
        self.fingerprint = fingerprint
        for stage in self.stages:
            stage.setup()

    def __call__(self, task: VideoTask) -> VideoTask:
        return process_video(self.stages, task, self.fingerprint)


def process_video(stages: list[Stage], task: VideoTask, fingerprint: str) -> VideoTask:
    """Run `stages` on `task`; a stage that raises quarantines the video with the error, one that
    returns None drops it. Saves `task.json` in the task's work folder and returns the task."""
    work = Path(task.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    for stage in stages:
        start = time.perf_counter()
        try:
            result = stage.process(task)
        except Exception as exc:  # a bad video must not stop the run: record it and go on
            task.error = StageError(stage.name, f"{exc.__class__.__name__}: {exc}")
            task.meta["traceback"] = traceback.format_exc(limit=4)
            task.timings[stage.name] = time.perf_counter() - start
            break
        task.timings[stage.name] = time.perf_counter() - start
        if result is None:
            task.meta.setdefault("dropped", f"{stage.name}: dropped the video")
            break
        task = result
    task.meta["fingerprint"] = fingerprint
    task.save(work / TASK_FILE)
    return task
