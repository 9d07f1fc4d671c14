"""Datasets: the worldfm on-disk format, readers for other formats, and torch clip datasets.

- `episode_to_sample` / `sample_to_episode`: an `Episode` <-> one WebDataset sample (format.py);
- `DatasetWriter`: shards + `index.parquet` + `dataset.json`, published atomically (writer.py);
- `open_dataset` -> `EpisodeDataset`: random access to episodes (episodes.py);
- `VideoFolderSource`, `LeRobotSource`: other episode sources (sources.py);
- `ClipDataset`: fixed-length training clips from any mix of sources (clips.py).

Names are imported lazily: `from worldfm.data import episode_to_sample` (run in every generation
worker) does not import torch or webdataset.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worldfm.data.clips import ClipDataset
    from worldfm.data.episodes import EpisodeDataset, open_dataset
    from worldfm.data.format import DATASET_FORMAT_VERSION, episode_to_sample, sample_to_episode
    from worldfm.data.sources import EpisodeRecord, EpisodeSource, LeRobotSource, VideoFolderSource
    from worldfm.data.writer import DatasetWriter

_EXPORTS = {
    "DATASET_FORMAT_VERSION": "worldfm.data.format",
    "episode_to_sample": "worldfm.data.format",
    "sample_to_episode": "worldfm.data.format",
    "DatasetWriter": "worldfm.data.writer",
    "EpisodeDataset": "worldfm.data.episodes",
    "open_dataset": "worldfm.data.episodes",
    "EpisodeRecord": "worldfm.data.sources",
    "EpisodeSource": "worldfm.data.sources",
    "LeRobotSource": "worldfm.data.sources",
    "VideoFolderSource": "worldfm.data.sources",
    "ClipDataset": "worldfm.data.clips",
}

__all__ = [
    "DATASET_FORMAT_VERSION",
    "ClipDataset",
    "DatasetWriter",
    "EpisodeDataset",
    "EpisodeRecord",
    "EpisodeSource",
    "LeRobotSource",
    "VideoFolderSource",
    "episode_to_sample",
    "open_dataset",
    "sample_to_episode",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'worldfm.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
