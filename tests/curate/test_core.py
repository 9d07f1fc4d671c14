"""The curation core alone: task JSON round trip, stage registry and config errors, stage order
checks, and the worker recording failures instead of raising."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from worldfm.curate.pipeline import CurateConfig, load_curate_config
from worldfm.curate.stage import STAGES, CorpusStage, Stage, build_stage, check_order, register_stage
from worldfm.curate.task import Clip, StageError, VideoTask, video_id_for
from worldfm.curate.worker import TASK_FILE, process_video
from worldfm.errors import ConfigError, UnknownNameError


@register_stage("test-count-clips")
@dataclass
class CountClips(Stage):
    clips: int = 2
    fail_on: str = ""
    inputs: ClassVar[tuple[str, ...]] = ("source",)
    outputs: ClassVar[tuple[str, ...]] = ("clips",)

    def process(self, task: VideoTask) -> VideoTask | None:
        if self.fail_on and self.fail_on in task.source:
            raise ValueError(f"cannot read {task.source}")
        if self.clips == 0:
            task.meta["dropped"] = "test-count-clips: no clips"
            return None
        task.clips = [
            Clip(f"{task.video_id}-{i:04d}", i * 10, i * 10 + 10, i, i + 1.0) for i in range(self.clips)
        ]
        return task


@register_stage("test-needs-embedding")
@dataclass
class NeedsEmbedding(CorpusStage):
    inputs: ClassVar[tuple[str, ...]] = ("clips.embedding",)

    def run(self, tasks: list[VideoTask], out: Path) -> dict[str, Any]:
        return {}


def test_task_json_round_trip(tmp_path: Path) -> None:
    task = VideoTask("v-1", "/x/v.mp4", str(tmp_path), info={"fps": 10.0})
    task.clips = [Clip("v-1-0000", 0, 30, 0.0, 3.0, scores={"motion": 0.5}, embedding=[0.6, 0.8])]
    task.clips[0].drop("quality", "too dark")
    task.clips[0].drop("text", "ignored: the first reason wins")
    task.error = StageError("split", "boom")
    back = VideoTask.load(task.save(tmp_path / "t.json"))
    assert back == task and back.clips[0].filtered == "quality: too dark" and not back.clips[0].kept
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves no temp file


def test_video_ids_are_stable_and_safe(tmp_path: Path) -> None:
    f = tmp_path / "a dir" / "my clip (1).mp4"
    f.parent.mkdir()
    f.write_bytes(b"x" * 10)
    a = video_id_for(f, tmp_path)
    assert a == video_id_for(f, tmp_path) and a.startswith("my_clip__1_-") and "/" not in a
    f.write_bytes(b"x" * 11)
    assert video_id_for(f, tmp_path) != a  # the size is part of the id


def test_build_stage_errors() -> None:
    assert isinstance(build_stage({"stage": "test-count-clips", "clips": 3}), CountClips)
    with pytest.raises(UnknownNameError, match="unknown curation stage 'nope'"):
        build_stage({"stage": "nope"})
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['clip'\]"):
        build_stage({"stage": "test-count-clips", "clip": 3})
    with pytest.raises(ConfigError, match="'stage' key"):
        build_stage({"clips": 3})
    assert "test-count-clips" in STAGES


def test_check_order() -> None:
    with pytest.raises(ConfigError, match=r"'test-needs-embedding' needs \['clips.embedding'\]"):
        check_order([CountClips(), NeedsEmbedding()])
    with pytest.raises(ConfigError, match="comes after the corpus-wide stage"):

        @register_stage("test-gives-embedding")
        @dataclass
        class Gives(CorpusStage):
            outputs: ClassVar[tuple[str, ...]] = ("clips.embedding",)

            def run(self, tasks: list[VideoTask], out: Path) -> dict[str, Any]:
                return {}

        check_order([Gives(), NeedsEmbedding(), CountClips()])


def test_worker_records_failures_and_drops(tmp_path: Path) -> None:
    ok = process_video([CountClips(clips=2)], VideoTask("a", "a.mp4", str(tmp_path / "a")), "fp")
    assert len(ok.clips) == 2 and ok.error is None and ok.meta["fingerprint"] == "fp"
    assert VideoTask.load(tmp_path / "a" / TASK_FILE) == ok and "test-count-clips" in ok.timings
    bad = process_video([CountClips(fail_on="bad")], VideoTask("b", "bad.mp4", str(tmp_path / "b")), "fp")
    assert bad.error == StageError("test-count-clips", "ValueError: cannot read bad.mp4")
    dropped = process_video([CountClips(clips=0)], VideoTask("c", "c.mp4", str(tmp_path / "c")), "fp")
    assert dropped.meta["dropped"] == "test-count-clips: no clips" and dropped.error is None


def test_config_loading(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("workers: 1\nstages:\n  - {stage: test-count-clips, clips: 1}\n")
    config = load_curate_config(cfg)
    assert config.workers == 1 and config.fingerprint() == CurateConfig(config.stages).fingerprint()
    assert CurateConfig([{"stage": "test-count-clips", "clips": 2}]).fingerprint() != config.fingerprint()
    with pytest.raises(ConfigError, match="does not exist"):
        load_curate_config(tmp_path / "missing.yaml")
    cfg.write_text("stage: []\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['stage'\]"):
        load_curate_config(cfg)
    with pytest.raises(ConfigError, match="non-empty 'stages'"):
        CurateConfig([])
