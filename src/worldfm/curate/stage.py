"""The stage abstraction of the curation pipeline (DESIGN.md, "Curation stages").

A per-video stage is a dataclass of its parameters with declared resources, inputs and outputs, a
`setup()` run once per worker (load models there, not in `__init__`, so stages pickle cheaply to
worker processes and Ray actors) and `process(task) -> task | None`. A stage that raises on a video
quarantines that video (the error is recorded on the task, the run goes on); a stage that returns
None drops the whole video (e.g. too short), with the reason it put in `task.meta["dropped"]`. A
clip-level problem drops only that clip (`Clip.drop`). Corpus-wide stages (deduplication,
sharding) implement `run(tasks, out)` instead and see every task at once.

Stages register under a name (`@register_stage("split")`) and are built from YAML config entries
`{stage: split, detector: adaptive, ...}` by `build_stage`.

Declared inputs and outputs are the task fields a stage reads and fills in ("info", "clips",
"clips.path", "clips.scores.motion", "clips.caption", "clips.embedding", ...); `check_order` refuses
a pipeline in which a stage reads what no earlier stage produces.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from worldfm.curate.task import VideoTask
from worldfm.errors import ConfigError, UnknownNameError

INGEST_OUTPUTS = ("source", "work_dir", "meta")  # what ingest gives every task


@dataclass(frozen=True)
class Resources:
    """What one worker running the stage needs: CPU cores and GPUs (fractions allowed for Ray)."""

    cpus: float = 1.0
    gpus: float = 0.0

    def __post_init__(self) -> None:
        if self.cpus < 0 or self.gpus < 0:
            raise ConfigError(f"resources must be >= 0, got cpus={self.cpus}, gpus={self.gpus}")


@dataclass
class Stage(ABC):
    """Base of per-video stages; subclasses are dataclasses whose fields are their parameters."""

    name: ClassVar[str] = ""
    resources: ClassVar[Resources] = Resources()
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()

    def setup(self) -> None:  # noqa: B027 (an optional hook: most stages need no set-up)
        """Load models and open resources; called once per worker before the first `process`."""

    @abstractmethod
    def process(self, task: VideoTask) -> VideoTask | None:
        """The task with this stage's work done (clips cut, scored, filtered...), or None to drop it."""

    def params(self) -> dict[str, Any]:
        """The stage's parameters as JSON (they go into the run's config fingerprint)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.name.startswith("_")}


@dataclass
class CorpusStage(ABC):
    """Base of corpus-wide stages: `run(tasks, out)` sees every task (sorted by video id)."""

    name: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def run(self, tasks: list[VideoTask], out: Path) -> dict[str, Any]:
        """Update the tasks in place (e.g. drop duplicate clips) or write outputs under `out`;
        returns a JSON summary for the run report."""

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.name.startswith("_")}


S = TypeVar("S", bound=type)
STAGES: dict[str, type] = {}


def register_stage(name: str) -> Callable[[S], S]:
    """Class decorator: make a Stage or CorpusStage buildable from config as `{stage: name}`."""

    def deco(cls: S) -> S:
        if name in STAGES and STAGES[name] is not cls:
            raise ConfigError(f"stage name {name!r} registered twice")
        cls.name = name  # type: ignore[attr-defined]
        STAGES[name] = cls
        return cls

    return deco


def _load_builtin_stages() -> None:
    import worldfm.curate.stages  # noqa: F401  (registers the built-in stages)


def stage_names() -> list[str]:
    _load_builtin_stages()
    return sorted(STAGES)


def build_stage(entry: dict[str, Any]) -> Stage | CorpusStage:
    """`{stage: name, **params}` -> the stage; unknown names and parameters are clear errors."""
    _load_builtin_stages()
    if not isinstance(entry, dict) or "stage" not in entry:
        raise ConfigError(f"a stage entry must be a mapping with a 'stage' key, got {entry!r}")
    params = dict(entry)
    name = params.pop("stage")
    if name not in STAGES:
        raise UnknownNameError("curation stage", str(name), list(STAGES))
    cls = STAGES[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"stage {name!r}: unknown parameter(s) {unknown}; expected some of {sorted(known)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"stage {name!r}: {exc}") from None


def check_order(stages: list[Stage | CorpusStage]) -> None:
    """Refuse a pipeline where a stage reads a field no earlier stage (or ingest) produces."""
    have = set(INGEST_OUTPUTS)
    seen_corpus = None
    for stage in stages:
        if isinstance(stage, Stage) and seen_corpus is not None:
            raise ConfigError(
                f"per-video stage {stage.name!r} comes after the corpus-wide stage {seen_corpus!r}; "
                "put per-video stages first"
            )
        if isinstance(stage, CorpusStage):
            seen_corpus = stage.name
        missing = [i for i in stage.inputs if i not in have]
        if missing:
            raise ConfigError(
                f"stage {stage.name!r} needs {missing}, which no earlier stage produces (have: {sorted(have)})"
            )
        have.update(stage.outputs)
