"""`DatasetWriter`: append episodes to WebDataset tar shards and publish the dataset atomically.

Everything is written into `<out>.partial`; `close()` adds `index.parquet` and `dataset.json`,
flushes to disk and renames the folder onto `out`. So `out` either does not exist or is a complete
dataset: an exception inside the `with` block (or a crash) never leaves a half-written `out`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from worldfm.data.format import (
    DATASET_FORMAT_VERSION,
    INDEX_FILE,
    INFO_FILE,
    MEMBERS,
    OPTIONAL_MEMBERS,
    SHARD_PATTERN,
    STORAGE,
    TAR_BLOCK,
    check_key,
    decode_metadata,
    episode_to_sample,
    member_column,
)
from worldfm.errors import ConfigError, DatasetError
from worldfm.sim.episode import Episode

_BUCKET_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
BUCKET_SHARD_PATTERN = "{bucket}/part-{n:06d}.tar"


def _partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _is_dataset(path: Path) -> bool:
    return (path / INFO_FILE).is_file()


def _fsync_path(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _check_replaceable(out: Path, overwrite: bool) -> None:
    """Refuse to write over `out` unless `overwrite` and `out` is a worldfm dataset or an empty folder."""
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise DatasetError(f"{out}: already exists; pass overwrite=True (--overwrite) to replace it")
    if not out.is_dir() or out.is_symlink():
        raise DatasetError(f"{out}: exists and is not a folder; refusing to replace it")
    if not _is_dataset(out) and any(out.iterdir()):
        # Guard against `--overwrite` pointed at the wrong folder: only datasets are replaced.
        raise DatasetError(
            f"{out}: exists and is not a worldfm dataset (no {INFO_FILE}); refusing to replace it"
        )


class DatasetWriter:
    """Write episodes as a worldfm dataset at `out` (see `worldfm.data.format`).

    Use as a context manager::

        with DatasetWriter(Path("data/objects"), episodes_per_shard=64) as writer:
            writer.write(episode_to_sample(episode, "objects-000000"))  # or writer.write(episode)

    `write` takes a sample from `episode_to_sample` (so encoding can run in worker processes) or an
    `Episode` (encoded here; key `<scenario>-<n:06d>` unless given). Keys must be unique. A new shard
    starts every `episodes_per_shard` episodes. An existing `out` is refused unless `overwrite`, and
    even then only a worldfm dataset or an empty folder is replaced. A leftover `<out>.partial` from
    an interrupted run is deleted on start. `created_by` is recorded in `dataset.json`, and so is
    `storage` (how members are encoded; default `worldfm.data.format.STORAGE`).

    `write(..., bucket="resolution_256/aspect_1_1/frames_0_63")` puts the episode in a shard of
    that bucket (`<bucket>/part-NNNNNN.tar`); a new shard starts whenever the bucket changes, so a
    shard never mixes buckets. Without buckets shards are `shard-NNNNNN.tar` as before.
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        episodes_per_shard: int = 64,
        overwrite: bool = False,
        created_by: str | None = None,
        storage: dict[str, str] | None = None,
    ) -> None:
        from worldfm import __version__

        if (
            isinstance(episodes_per_shard, bool)
            or not isinstance(episodes_per_shard, int)
            or episodes_per_shard < 1
        ):
            raise ConfigError(f"episodes_per_shard must be a positive integer, got {episodes_per_shard!r}")
        self.out = Path(out)
        self.episodes_per_shard = episodes_per_shard
        self.overwrite = overwrite
        self.created_by = created_by or f"worldfm {__version__}"
        self.storage = dict(storage) if storage is not None else dict(STORAGE)
        _check_replaceable(self.out, overwrite)  # fail before any (expensive) episode is made
        self.partial = _partial_path(self.out)
        if self.partial.exists():
            shutil.rmtree(self.partial)  # our own leftover from an interrupted run
        try:
            self.partial.mkdir(parents=True)
        except OSError as exc:
            raise DatasetError(f"{self.partial}: cannot create folder ({exc.strerror or exc})") from exc
        self._rows: list[dict[str, Any]] = []
        self._keys: set[str] = set()
        self._tar: Any = None  # webdataset.TarWriter of the open shard
        self._file: Any = None
        self._bucket: str | None = None  # bucket of the open shard
        self._in_shard = 0  # episodes in the open shard
        self._parts: dict[str | None, int] = {}  # shards started per bucket (None: no bucket)
        self._closed = False

    # -- writing ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def write(self, item: dict[str, Any] | Episode, key: str | None = None, bucket: str | None = None) -> str:
        """Append one episode (a sample dict or an `Episode`) and return its key.

        A sample has all of `MEMBERS`, or only `mp4` and `json` (video-only: no depth or
        segmentation). `bucket`: `/`-separated names of letters, digits, `_`, `-` (see the class).
        """
        if self._closed:
            raise DatasetError(f"{self.out}: writer is closed")
        if isinstance(item, Episode):
            sample = episode_to_sample(item, key or f"{item.scenario}-{len(self._rows):06d}")
        elif isinstance(item, dict):
            sample = item
            if key is not None and key != sample.get("__key__"):
                raise ConfigError(f"key {key!r} differs from the sample's __key__ {sample.get('__key__')!r}")
        else:
            raise ConfigError(f"expected a sample dict or an Episode, got {type(item).__name__}")
        sample_key = check_key(sample.get("__key__", ""))
        if bucket is not None and (not isinstance(bucket, str) or not _BUCKET_RE.match(bucket)):
            raise ConfigError(
                f"bucket must be '/'-separated names of letters, digits, '_' or '-', got {bucket!r}"
            )
        missing = [m for m in MEMBERS if m not in sample]
        extra = sorted(k for k in sample if k != "__key__" and k not in MEMBERS)
        if (missing and missing != list(OPTIONAL_MEMBERS)) or extra:
            raise DatasetError(
                f"sample {sample_key!r}: expected members {list(MEMBERS)} (or only mp4 and json), "
                f"missing {missing}, unexpected {extra}"
            )
        if sample_key in self._keys:
            raise DatasetError(f"sample key {sample_key!r} was already written; keys must be unique")
        meta = decode_metadata(bytes(sample["json"]), f"sample {sample_key!r}")
        lacking = [k for k in ("scenario", "num_frames", "height", "width", "fps") if k not in meta]
        if lacking:
            raise DatasetError(
                f"sample {sample_key!r}: metadata lacks {lacking} (not from episode_to_sample?)"
            )
        try:
            if self._tar is None or self._in_shard >= self.episodes_per_shard or bucket != self._bucket:
                self._next_shard(bucket)
            members = self._append(sample)
        except OSError as exc:  # disk full, permissions, ...: a message, not a traceback, in the CLI
            self.abort()  # the shard may end mid-member: nothing more can be appended safely
            raise DatasetError(f"{self.partial}: cannot write shard ({exc.strerror or exc})") from exc
        self._keys.add(sample_key)
        self._in_shard += 1
        self._rows.append(self._row(sample_key, meta, members))
        return sample_key

    def _next_shard(self, bucket: str | None = None) -> None:
        import webdataset as wds

        self._close_shard()
        n = self._parts.get(bucket, 0)
        self._parts[bucket] = n + 1
        name = SHARD_PATTERN.format(n) if bucket is None else BUCKET_SHARD_PATTERN.format(bucket=bucket, n=n)
        (self.partial / name).parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.partial / name, "wb")  # noqa: SIM115 - closed in _close_shard
        # Fixed mtime and owner: the same episodes give byte-identical shards.
        self._tar = wds.TarWriter(self._file, encoder=False, mtime=0, user="worldfm", group="worldfm")
        self._shard = name
        self._bucket = bucket
        self._in_shard = 0

    def _append(self, sample: dict[str, Any]) -> dict[str, tuple[int, int]]:
        """Write the sample's members; return ext -> (data offset, size) in the shard, for random access."""
        members: dict[str, tuple[int, int]] = {}
        # One member per TarWriter.write call, in the sorted order TarWriter itself uses: the bytes
        # are the same as one call, and the stream offset after each call locates that member's
        # data exactly (it ends the member, after padding to whole blocks), whatever its header size.
        for ext in sorted(k for k in sample if k != "__key__"):
            size = len(sample[ext])
            self._tar.write({"__key__": sample["__key__"], ext: sample[ext]})
            end = self._tar.tarstream.offset
            members[ext] = (end - -(-size // TAR_BLOCK) * TAR_BLOCK, size)
        return members

    def _row(self, key: str, meta: dict[str, Any], members: dict[str, tuple[int, int]]) -> dict[str, Any]:
        actions = meta.get("actions")
        return {
            "key": key,
            "shard": self._shard,
            "scenario": str(meta.get("scenario", "")),
            "seed": int(meta.get("seed", 0)),
            "num_frames": int(meta["num_frames"]),
            "height": int(meta["height"]),
            "width": int(meta["width"]),
            "fps": float(meta["fps"]),
            "caption": str(meta.get("caption", "")),
            "has_actions": actions is not None,
            "action_dim": len(meta.get("action_names") or []) if actions is not None else 0,
            "action_names": list(meta.get("action_names") or []),
            "num_instances": len(meta.get("instances") or []),
            "bytes": sum(size for _, size in members.values()),
            # A member a video-only sample lacks has null offset and size.
            **{f"{member_column(ext)}_offset": members.get(ext, (None, None))[0] for ext in MEMBERS},
            **{f"{member_column(ext)}_size": members.get(ext, (None, None))[1] for ext in MEMBERS},
        }

    def _close_shard(self) -> None:
        if self._tar is not None:
            self._tar.close()  # writes the end-of-archive blocks
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._tar = self._file = None

    # -- finishing --------------------------------------------------------------------------------
    def close(self) -> Path:
        """Finish the last shard, write the index and `dataset.json`, and rename the folder onto `out`."""
        if self._closed:
            return self.out
        try:
            if not self._rows:
                raise DatasetError(
                    f"{self.out}: no episodes were written; refusing to create an empty dataset"
                )
            self._close_shard()
            self._write_index()
            self._write_info()
            self._publish()
        except OSError as exc:
            self.abort()
            raise DatasetError(f"{self.out}: cannot finish the dataset ({exc.strerror or exc})") from exc
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.out

    def abort(self) -> None:
        """Stop writing and delete `<out>.partial`; `out` is left as it was."""
        self._closed = True
        with contextlib.suppress(Exception):
            if self._tar is not None:
                self._tar.close()
        with contextlib.suppress(Exception):
            if self._file is not None:
                self._file.close()
        self._tar = self._file = None
        shutil.rmtree(self.partial, ignore_errors=True)

    def _write_index(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(self._rows, schema=index_schema())
        pq.write_table(table, self.partial / INDEX_FILE)
        _fsync_path(self.partial / INDEX_FILE)

    def _write_info(self) -> None:
        scenarios: dict[str, int] = {}
        for row in self._rows:
            scenarios[row["scenario"]] = scenarios.get(row["scenario"], 0) + 1
        info = {
            "format": "worldfm-dataset",
            "format_version": DATASET_FORMAT_VERSION,
            "num_episodes": len(self._rows),
            "num_frames": sum(r["num_frames"] for r in self._rows),
            "num_shards": len({r["shard"] for r in self._rows}),
            "episodes_per_shard": self.episodes_per_shard,
            "scenarios": dict(sorted(scenarios.items())),
            "storage": self.storage,
            "created_by": self.created_by,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        path = self.partial / INFO_FILE
        path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        _fsync_path(path)

    def _publish(self) -> None:
        _check_replaceable(self.out, self.overwrite)  # it may have appeared while we wrote
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{secrets.token_hex(4)}")
            os.replace(self.out, old)
        try:
            os.replace(self.partial, self.out)
        except OSError:
            if old is not None:
                os.replace(old, self.out)  # put the previous dataset back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        with contextlib.suppress(OSError):  # make the rename durable
            fd = os.open(self.out.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # A writer dropped without close() (e.g. a crash outside `with`) leaves no partial folder.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.abort()


def index_schema() -> Any:
    """The pyarrow schema of `index.parquet`: one row per episode, in episode order.

    `<member>_offset` / `<member>_size` give where the member's data lies in its shard (bytes),
    for members `mp4`, `depth`, `seg` and `json` (null for `depth` and `seg` of a video-only
    episode); `bytes` is their total.
    """
    import pyarrow as pa

    fields = [
        ("key", pa.string()),
        ("shard", pa.string()),
        ("scenario", pa.string()),
        ("seed", pa.int64()),
        ("num_frames", pa.int32()),
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("fps", pa.float64()),
        ("caption", pa.string()),
        ("has_actions", pa.bool_()),
        ("action_dim", pa.int32()),
        ("action_names", pa.list_(pa.string())),
        ("num_instances", pa.int32()),
        ("bytes", pa.int64()),
    ]
    fields += [(f"{member_column(ext)}_offset", pa.int64()) for ext in MEMBERS]
    fields += [(f"{member_column(ext)}_size", pa.int64()) for ext in MEMBERS]
    return pa.schema(fields)
