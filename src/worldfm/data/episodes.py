"""Read a worldfm dataset: `open_dataset(path)` -> `EpisodeDataset` with random access to episodes.

`index.parquet` records where each member's bytes lie in its shard, so `ds[i]` reads exactly the
four members of episode i (one seek each) instead of scanning the tar. Each read checks the tar
header in front of the member (name, size, checksum), so a damaged shard raises `DatasetError`
naming the shard and the reason rather than returning wrong data.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from worldfm.data.format import (
    DATASET_FORMAT_VERSION,
    INDEX_FILE,
    INFO_FILE,
    MEMBERS,
    TAR_BLOCK,
    decode_array,
    decode_frames,
    decode_metadata,
    member_column,
)
from worldfm.data.sources import ClipArrays, EpisodeRecord
from worldfm.errors import DatasetError
from worldfm.sim.episode import Episode

_REQUIRED_COLUMNS = (
    "key",
    "shard",
    "scenario",
    "num_frames",
    "height",
    "width",
    "fps",
    "caption",
    "has_actions",
    "action_dim",
    *(f"{member_column(ext)}_{part}" for ext in MEMBERS for part in ("offset", "size")),
)


class EpisodeDataset:
    """A worldfm dataset folder opened for reading (see `worldfm.data.format` for the layout).

    - `len(ds)`, `ds[i]` -> `Episode` (negative indices allowed), `for ep in ds` (episode order);
    - `ds.index`: the `index.parquet` table (pyarrow), one row per episode; `ds.rows()` as dicts;
    - `ds.info()`: the summary `worldfm data info` prints;
    - `ds.read_member(i, "mp4")`: the raw bytes of one member;
    - `ds.shard_paths`: the tar shards, for any WebDataset reader.

    It is also an episode source for `ClipDataset` (`records`, `read_clip`), and holds only plain
    values, so it pickles into DataLoader workers. A video-only episode (no depth or segmentation,
    e.g. from `worldfm curate`) is read through `read_clip` and `metadata`; `ds[i]` refuses it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.meta = _read_info(self.path)
        table = _read_index(self.path)
        missing = [c for c in _REQUIRED_COLUMNS if c not in table.column_names]
        if missing:
            raise DatasetError(f"{self.path / INDEX_FILE}: index lacks columns {missing}")
        if table.num_rows != self.meta.get("num_episodes", table.num_rows):
            raise DatasetError(
                f"{self.path}: {INFO_FILE} says {self.meta['num_episodes']} episodes, "
                f"{INDEX_FILE} has {table.num_rows} rows"
            )
        self._index = table
        columns = table.to_pydict()
        self._keys: list[str] = columns["key"]
        self._shards: list[str] = columns["shard"]
        self._members = {
            ext: list(
                zip(
                    columns[f"{member_column(ext)}_offset"],
                    columns[f"{member_column(ext)}_size"],
                    strict=True,
                )
            )
            for ext in MEMBERS
        }
        self._records = [
            EpisodeRecord(
                key=columns["key"][i],
                num_frames=int(columns["num_frames"][i]),
                caption=columns["caption"][i] or "",
                fps=float(columns["fps"][i]),
                height=int(columns["height"][i]),
                width=int(columns["width"][i]),
                has_actions=bool(columns["has_actions"][i]),
                action_dim=int(columns["action_dim"][i]),
            )
            for i in range(table.num_rows)
        ]
        # Video-only episodes (see worldfm.data.format) have null depth/seg offsets.
        self._video_only = [off is None for off, _ in self._members["depth.npz"]]
        self._check_shards()

    def _check_shards(self) -> None:
        """Every shard must exist and be long enough to hold the members the index places in it."""
        needed: dict[str, int] = {}
        for i, shard in enumerate(self._shards):
            end = max(
                off + size for off, size in (self._members[ext][i] for ext in MEMBERS) if off is not None
            )
            needed[shard] = max(needed.get(shard, 0), end)
        for shard, end in needed.items():
            path = self.path / shard
            if not path.is_file():
                raise DatasetError(f"{path}: shard is missing")
            size = path.stat().st_size
            if size < end:
                raise DatasetError(f"{path}: corrupt shard: truncated to {size} bytes, the index needs {end}")

    # -- container protocol -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._keys)

    def _position(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"episode index must be an int, got {type(index).__name__}")
        n = len(self)
        i = int(index) + n if index < 0 else int(index)
        if not 0 <= i < n:
            raise IndexError(f"episode index {index} out of range for {n} episodes")
        return i

    def __getitem__(self, index: int) -> Episode:
        """Episode `index`: frames within H.264 tolerance, depth within float16, the rest exact."""
        i = self._position(index)
        label = self._label(i)
        if self._video_only[i]:
            raise DatasetError(
                f"{label}: a video-only episode (no depth or segmentation) is not a full Episode; "
                "read its frames with read_clip (or ClipDataset) and its metadata with metadata()"
            )
        meta = self.metadata(i)
        frames = decode_frames(self.read_member(i, "mp4"), meta.get("num_frames"), label)
        depth = decode_array(self.read_member(i, "depth.npz"), "depth", label)
        seg = decode_array(self.read_member(i, "seg.npz"), "segmentation", label)
        try:
            return Episode.from_parts(frames, depth, seg, meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{label}: inconsistent episode ({exc.__class__.__name__}: {exc})") from exc

    def __iter__(self) -> Iterator[Episode]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"EpisodeDataset({str(self.path)!r}, {len(self)} episodes)"

    # -- raw access -------------------------------------------------------------------------------
    @property
    def index(self) -> Any:
        """The episode index as a `pyarrow.Table` (columns: see `worldfm.data.writer.index_schema`)."""
        return self._index

    def rows(self) -> list[dict[str, Any]]:
        """The index as one dict per episode."""
        return self._index.to_pylist()

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    @property
    def shard_paths(self) -> list[Path]:
        return [self.path / s for s in dict.fromkeys(self._shards)]

    def _label(self, i: int) -> str:
        return f"{self.path / self._shards[i]}: episode {self._keys[i]!r}"

    def read_member(self, index: int, ext: str) -> bytes:
        """The bytes of member `ext` (`mp4`, `depth.npz`, `seg.npz`, `json`) of episode `index`.

        Reads the tar header in front of the data too and checks it names this member with this
        size (checksum included); a mismatch or short read raises `DatasetError` (corrupt shard).
        """
        i = self._position(index)
        if ext not in self._members:
            raise DatasetError(f"unknown member {ext!r}; expected one of {list(MEMBERS)}")
        offset, size = self._members[ext][i]
        path = self.path / self._shards[i]
        name = f"{self._keys[i]}.{ext}"
        if offset is None or size is None:
            raise DatasetError(f"{self._label(i)}: has no {ext!r} member (a video-only episode)")
        try:
            with open(path, "rb") as fh:
                fh.seek(offset - TAR_BLOCK)
                header = fh.read(TAR_BLOCK)
                data = fh.read(size)
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read shard ({exc.strerror or exc})") from exc
        try:
            info = tarfile.TarInfo.frombuf(header, tarfile.ENCODING, "surrogateescape")
        except tarfile.TarError as exc:
            raise DatasetError(f"{path}: corrupt shard: bad tar header for {name!r} ({exc})") from exc
        if info.name != name or info.size != size:
            raise DatasetError(
                f"{path}: corrupt shard: expected member {name!r} of {size} bytes at offset "
                f"{offset - TAR_BLOCK}, found {info.name!r} of {info.size} bytes"
            )
        if len(data) != size:
            raise DatasetError(
                f"{path}: corrupt shard: member {name!r} is cut short ({len(data)} of {size} bytes)"
            )
        return data

    def metadata(self, index: int) -> dict[str, Any]:
        """The `Episode.metadata()` dict of episode `index` (plus its `key`), read from the shard."""
        i = self._position(index)
        return decode_metadata(self.read_member(i, "json"), self._label(i))

    # -- episode source protocol (ClipDataset) ----------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def has_depth(self) -> bool:
        """Whether every episode has depth (False when any is video-only)."""
        return not any(self._video_only)

    def records(self) -> list[EpisodeRecord]:
        return list(self._records)

    def read_clip(self, index: int, start: int, end: int, with_depth: bool = False) -> ClipArrays:
        """Frames `[start, end)` of episode `index` (decoding stops at `end`), actions and optionally depth."""
        i = self._position(index)
        record = self._records[i]
        label = self._label(i)
        if not 0 <= start < end <= record.num_frames:
            raise DatasetError(f"{label}: bad frame range [{start}, {end}) for {record.num_frames} frames")
        frames = decode_frames(self.read_member(i, "mp4"), None, label, start, end)
        actions = None
        if record.has_actions:
            raw = self.metadata(i).get("actions")
            if raw is None:
                raise DatasetError(f"{label}: index says the episode has actions, its metadata has none")
            actions = np.asarray(raw, np.float32).reshape(len(raw), -1)[start : end - 1]
        depth = None
        if with_depth:
            depth = decode_array(self.read_member(i, "depth.npz"), "depth", label)[start:end].astype(
                np.float32
            )
        return ClipArrays(frames, actions, depth)

    # -- summary ----------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """A JSON-ready summary: counts, frame sizes, fps, scenarios, action dims, shards, bytes, captions."""
        rows = self._records
        frames = [r.num_frames for r in rows]
        sizes: dict[str, int] = {}
        for r in rows:
            sizes[f"{r.height}x{r.width}"] = sizes.get(f"{r.height}x{r.width}", 0) + 1
        scenarios: dict[str, int] = {}
        for s in self._index.column("scenario").to_pylist():
            scenarios[s] = scenarios.get(s, 0) + 1
        files = [self.path / INFO_FILE, self.path / INDEX_FILE, *self.shard_paths]
        captions = [c for c in dict.fromkeys(r.caption for r in rows) if c]
        return {
            "path": str(self.path),
            "format_version": self.meta.get("format_version"),
            "num_episodes": len(rows),
            "num_frames": int(sum(frames)),
            "frames_per_episode": {
                "min": min(frames),
                "max": max(frames),
                "mean": round(float(np.mean(frames)), 2),
            },
            "frame_sizes": dict(sorted(sizes.items())),  # "HxW" -> episodes
            "fps": sorted({r.fps for r in rows}),
            "scenarios": dict(sorted(scenarios.items())),
            "episodes_with_actions": sum(r.has_actions for r in rows),
            "action_dims": sorted({r.action_dim for r in rows if r.has_actions}),
            "num_shards": len(self.shard_paths),
            "bytes_on_disk": int(sum(f.stat().st_size for f in files)),
            "example_captions": captions[:3],
            "created_by": self.meta.get("created_by"),
            "created_at": self.meta.get("created_at"),
            "storage": self.meta.get("storage"),
        }


def _read_info(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise DatasetError(f"{path}: dataset folder does not exist")
    if not path.is_dir():
        raise DatasetError(f"{path}: is not a folder (a worldfm dataset is a folder with {INFO_FILE})")
    info_path = path / INFO_FILE
    if not info_path.is_file():
        partial = path.with_name(path.name + ".partial")
        hint = (
            f"; {partial} exists, so a write may still be running or was interrupted"
            if partial.exists()
            else ""
        )
        raise DatasetError(f"{path}: not a worldfm dataset (no {INFO_FILE}){hint}")
    try:
        meta = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{info_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != "worldfm-dataset":
        raise DatasetError(f'{info_path}: not a worldfm dataset description (no "format": "worldfm-dataset")')
    version = meta.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= DATASET_FORMAT_VERSION:
        raise DatasetError(
            f"{info_path}: format_version {version!r} is not supported by this worldfm "
            f"(reads 1..{DATASET_FORMAT_VERSION}; a newer worldfm may have written it)"
        )
    return meta


def _read_index(path: Path) -> Any:
    import pyarrow.parquet as pq

    index_path = path / INDEX_FILE
    if not index_path.is_file():
        raise DatasetError(f"{index_path}: index is missing")
    try:
        return pq.read_table(index_path)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise DatasetError(f"{index_path}: cannot read index ({exc.__class__.__name__}: {exc})") from exc


def open_dataset(path: str | os.PathLike[str]) -> EpisodeDataset:
    """Open the worldfm dataset folder at `path`.

    Raises `DatasetError` naming the path and the reason when the folder is missing, is not a
    worldfm dataset, has an unreadable or inconsistent index, or a shard is missing or truncated.
    Damage inside a shard is found when the damaged episode is read.
    """
    return EpisodeDataset(path)
