"""Write the kept clips as a worldfm dataset: WebDataset tar shards bucketed by resolution, aspect
and length, plus `index.parquet` with one row per clip.

Layout of `out/<folder>` (default `out/dataset`), a worldfm dataset (see `worldfm.data.format`)
that `worldfm.data.open_dataset` and `ClipDataset` read:

    dataset.json                                              format, counts, storage, created-by
    index.parquet                                             one row per clip (columns below)
    resolution_256/aspect_4_3/frames_0_63/part-000000.tar     shards, one bucket each (cosmos-curate style)
    resolution_256/aspect_4_3/frames_64_127/part-000000.tar   ...

Buckets: `resolution_<short side px>`, `aspect_<w>_<h>` (the nearest of `ASPECTS`), and
`frames_<lo>_<hi>` (frame count in bins of `frames_per_bucket`). With `buckets: false` the layout
is flat (`shard-000000.tar`, ...) and the bucket is still in the index.

Each clip is one video-only sample: `<clip_id>.mp4` (the transcoded clip file's bytes, unchanged;
cut and encoded from the source when no transcode stage ran) and `<clip_id>.json` (clip id, video
id, source, start/end seconds and frames, scores, caption, bucket). Samples are written sorted by
(bucket, clip id), so the same kept clips give byte-identical shards.

`index.parquet` has worldfm's episode columns (`key` = clip id, `shard`, `caption`, `num_frames`,
`height`, `width`, `fps`, member offsets, ...) plus `clip_id`, `video_id`, `source`, `start_s`,
`end_s`, `start_frame`, `end_frame`, `bucket` and one `score_<name>` column per filter score
(null where a clip has no such score).

Atomic: the dataset is built in `out/.<folder>.build/` and renamed onto `out/<folder>`, so a reader
sees the old dataset or the new one, never a half-written one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from worldfm.curate.stage import CorpusStage, register_stage
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError, DatasetError, VideoError

ASPECTS = ((1, 1), (4, 3), (3, 4), (3, 2), (2, 3), (16, 9), (9, 16), (21, 9), (9, 21))
SCENARIO = "curated"  # the `scenario` column of curated clips in the worldfm dataset index


def bucket_for(width: int, height: int, num_frames: int, frames_per_bucket: int) -> str:
    """`resolution_<short side>/aspect_<w>_<h>/frames_<lo>_<hi>` for a clip of that size and length.

    The aspect is the nearest (in log ratio) of `ASPECTS`; frames fall in bins of `frames_per_bucket`.
    """
    ratio = math.log(width / height)
    aw, ah = min(ASPECTS, key=lambda a: (abs(math.log(a[0] / a[1]) - ratio), a))
    lo = (num_frames // frames_per_bucket) * frames_per_bucket
    return f"resolution_{min(width, height)}/aspect_{aw}_{ah}/frames_{lo}_{lo + frames_per_bucket - 1}"


def _positive_int(stage: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{stage}: {name} must be an integer >= 1, got {value!r}")


@register_stage("shard")
@dataclass
class Shard(CorpusStage):
    """Write the kept clips of all good videos as a worldfm dataset (see the module docstring).

    folder: the dataset's folder name under the run's output folder.
    clips_per_shard: clips per tar shard (a bucket's last shard may hold fewer).
    buckets: shards in bucket folders (True) or a flat layout (False).
    frames_per_bucket: width of the frame-count bins of the `frames_<lo>_<hi>` bucket.
    crf: H.264 quality for clips cut from the source here (only when no transcode stage ran).
    """

    folder: str = "dataset"
    clips_per_shard: int = 64
    buckets: bool = True
    frames_per_bucket: int = 64
    crf: int = 18

    inputs: ClassVar[tuple[str, ...]] = ("clips",)
    outputs: ClassVar[tuple[str, ...]] = ("dataset",)

    def __post_init__(self) -> None:
        if (
            not isinstance(self.folder, str)
            or not self.folder
            or "/" in self.folder
            or self.folder.startswith(".")
        ):
            raise ConfigError(f"shard: folder must be a plain folder name, got {self.folder!r}")
        _positive_int("shard", "clips_per_shard", self.clips_per_shard)
        _positive_int("shard", "frames_per_bucket", self.frames_per_bucket)
        if not isinstance(self.buckets, bool):
            raise ConfigError(f"shard: buckets must be true or false, got {self.buckets!r}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ConfigError(f"shard: crf must be an integer in [0, 51], got {self.crf!r}")

    # -- one clip ---------------------------------------------------------------------------------
    def _clip_video(self, task: VideoTask, clip: Clip) -> bytes:
        """The clip's mp4 bytes: its transcoded file as is, or cut from the source and encoded."""
        if clip.path is not None:
            try:
                return Path(clip.path).read_bytes()
            except OSError as exc:
                raise VideoError(clip.path, f"cannot read the clip file ({exc.strerror or exc})") from exc
        from worldfm.video.io import encode_video_bytes, probe_video, read_video

        # Clip frames index the file probe decoded (a dataset episode's extracted mp4) or the source.
        source = task.info.get("path") or task.source
        fps = task.info.get("fps") or probe_video(source).fps
        frames = read_video(source, clip.start_frame, clip.end_frame)
        return encode_video_bytes(frames, fps=float(fps), suffix=".mp4", crf=self.crf)

    def _sample(self, task: VideoTask, clip: Clip) -> tuple[dict[str, Any], dict[str, Any], str]:
        """(WebDataset sample, index extras, bucket) of one clip; VideoError if its video is bad."""
        from worldfm.video.io import probe_video_bytes

        data = self._clip_video(task, clip)
        info = probe_video_bytes(data, ".mp4")
        bucket = bucket_for(info.width, info.height, info.num_frames, self.frames_per_bucket)
        extras = {
            "clip_id": clip.clip_id,
            "video_id": task.video_id,
            "source": task.source,
            "start_s": float(clip.start_s),
            "end_s": float(clip.end_s),
            "start_frame": int(clip.start_frame),
            "end_frame": int(clip.end_frame),
            "bucket": bucket,
        }
        meta = {
            "scenario": SCENARIO,
            "seed": 0,
            "caption": clip.caption or "",
            "fps": float(info.fps),
            "num_frames": int(info.num_frames),
            "height": int(info.height),
            "width": int(info.width),
            "actions": None,
            "action_names": [],
            "instances": [],
            **extras,
            "scores": {k: float(v) for k, v in sorted(clip.scores.items())},
            "codec": info.codec,
            "key": clip.clip_id,
        }
        sample = {
            "__key__": clip.clip_id,
            "mp4": data,
            "json": json.dumps(meta, separators=(",", ":"), sort_keys=True).encode("utf-8"),
        }
        return sample, {**extras, "scores": meta["scores"], "codec": info.codec}, bucket

    # -- the corpus -------------------------------------------------------------------------------
    def run(self, tasks: list[VideoTask], out: Path) -> dict[str, Any]:
        """Write `out/<folder>` from the kept clips of tasks that were not quarantined or dropped.

        A clip whose video cannot be read is dropped with the reason (the others are written)."""
        out = Path(out)
        final = out / self.folder
        _check_replaceable(final)
        items: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        dropped = 0
        for task in tasks:
            if task.error is not None or "dropped" in task.meta:
                continue
            for clip in task.kept_clips:
                try:
                    sample, extras, bucket = self._sample(task, clip)
                except VideoError as exc:
                    clip.drop(self.name, str(exc))
                    dropped += 1
                    continue
                items.append((bucket if self.buckets else "", clip.clip_id, sample, extras))
        items.sort(key=lambda item: (item[0], item[1]))
        if not items:
            if final.exists():
                shutil.rmtree(final)  # a stale dataset from an earlier run would misstate this one
            return {"clips": 0, "dropped": dropped, "shards": 0, "path": None}
        build = out / f".{self.folder}.build"
        shutil.rmtree(build, ignore_errors=True)  # our own leftover from an interrupted run
        build.mkdir(parents=True)
        try:
            target = self._write(build / self.folder, items)
            shards = _add_index_columns(target, [extras for *_, extras in items])
            _publish(target, final)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        buckets: dict[str, int] = {}
        for item in items:
            bucket = item[3]["bucket"]
            buckets[bucket] = buckets.get(bucket, 0) + 1
        return {
            "clips": len(items),
            "dropped": dropped,
            "shards": shards,
            "buckets": dict(sorted(buckets.items())),
            "path": str(final),
        }

    def _write(self, target: Path, items: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> Path:
        from worldfm import __version__
        from worldfm.data.writer import DatasetWriter

        codecs = sorted({extras["codec"] for *_, extras in items})
        storage = {
            "video": f"mp4 ({', '.join(codecs)}), the curated clip files' bytes unchanged",
            "depth": "none (video-only episodes)",
            "segmentation": "none (video-only episodes)",
            "metadata": "json: clip id, video id, source, start/end, scores, caption, bucket",
        }
        with DatasetWriter(
            target,
            episodes_per_shard=self.clips_per_shard,
            created_by=f"worldfm {__version__} curate",
            storage=storage,
        ) as writer:
            for bucket, _, sample, _ in items:
                writer.write(sample, bucket=bucket or None)
        return target


def _add_index_columns(dataset: Path, extras: list[dict[str, Any]]) -> int:
    """Append the curation columns to the dataset's index.parquet (same row order), atomically;
    returns the number of shards."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from worldfm.data.format import INDEX_FILE

    path = dataset / INDEX_FILE
    table = pq.read_table(path)
    keys = table.column("key").to_pylist()
    if keys != [e["clip_id"] for e in extras]:
        raise DatasetError(f"{path}: index rows are not in the order the clips were written")
    columns: list[tuple[str, pa.DataType]] = [
        ("clip_id", pa.string()),
        ("video_id", pa.string()),
        ("source", pa.string()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("start_frame", pa.int64()),
        ("end_frame", pa.int64()),
        ("bucket", pa.string()),
    ]
    for name, kind in columns:
        table = table.append_column(pa.field(name, kind), pa.array([e[name] for e in extras], kind))
    for name in sorted({s for e in extras for s in e["scores"]}):
        values = [e["scores"].get(name) for e in extras]
        table = table.append_column(pa.field(f"score_{name}", pa.float64()), pa.array(values, pa.float64()))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(set(table.column("shard").to_pylist()))


def _is_dataset(path: Path) -> bool:
    from worldfm.data.format import INFO_FILE

    return (path / INFO_FILE).is_file()


def _check_replaceable(final: Path) -> None:
    """Only a worldfm dataset (an earlier run's) or an empty folder may be replaced."""
    if not final.exists() and not final.is_symlink():
        return
    if not final.is_dir() or final.is_symlink():
        raise DatasetError(f"{final}: exists and is not a folder; refusing to replace it")
    if not _is_dataset(final) and any(final.iterdir()):
        raise DatasetError(f"{final}: exists and is not a worldfm dataset; refusing to replace it")


def _publish(target: Path, final: Path) -> None:
    """Rename the finished dataset onto `final`, moving an earlier one aside first."""
    _check_replaceable(final)
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    try:
        os.replace(target, final)
    except OSError:
        if old.exists():
            os.replace(old, final)  # put the earlier dataset back
        raise
    shutil.rmtree(old, ignore_errors=True)
