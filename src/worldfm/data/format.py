"""The on-disk worldfm dataset format and the episode <-> shard-sample codec.

A dataset is a folder::

    dataset.json          format version, counts, scenarios, storage details, created-by
    index.parquet         one row per episode (see `INDEX_COLUMNS`), in episode order
    shard-000000.tar      WebDataset shards: plain (uncompressed) USTAR tar files
    shard-000001.tar      ...

Each episode is one WebDataset sample: tar members `<key>.<ext>` next to each other, with

- `mp4`:       the RGB frames, H.264 (`VIDEO_PIX_FMT` full-resolution colour, crf `VIDEO_CRF`), `Episode.fps`;
- `depth.npz`: `depth`, (T, H, W) float16 metres (np.savez_compressed). float16 keeps about 3
               significant digits: relative error <= 2**-11 (0.05 %), e.g. <= 5 mm at 10 m;
- `seg.npz`:   `segmentation`, (T, H, W) instance ids, stored exactly in the smallest unsigned
               integer type that holds them (read back as int32);
- `json`:      `Episode.metadata()` (states, actions, caption, camera, instances, ...) plus `key`.

A video-only sample (real footage from `worldfm curate`: no depth or segmentation exists) has just
`mp4` and `json`; its index row has null `depth_*` and `seg_*` columns. Such an episode is read as
frames (`EpisodeDataset.read_clip`, `ClipDataset`) and metadata, not as a full `Episode`. Shards may
sit in sub-folders (`resolution_256/aspect_1_1/frames_0_63/part-000000.tar`): `index.parquet`
names each episode's shard by its path relative to the dataset folder.

Keys contain no `.` or `/` (WebDataset splits a member name at the first dot), so any WebDataset
reader groups the members correctly: `webdataset.WebDataset(shard_paths)` yields samples that
`sample_to_episode` turns back into episodes.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np

from worldfm.errors import ConfigError, DatasetError, WorldfmError
from worldfm.sim.episode import Episode

DATASET_FORMAT_VERSION = 1
INFO_FILE = "dataset.json"
INDEX_FILE = "index.parquet"
SHARD_PATTERN = "shard-{:06d}.tar"
# Models train on these frames, so keep them close to the simulator: halved chroma (yuv420p) alone costs
# ~4.4 grey levels of mean error on 32 px sim frames; yuv444p at crf 14 costs ~2.7 for ~10% more bytes.
VIDEO_CRF = 14
VIDEO_PIX_FMT = "yuv444p"
MEMBERS = ("mp4", "depth.npz", "seg.npz", "json")  # the extensions of one episode's tar members
OPTIONAL_MEMBERS = ("depth.npz", "seg.npz")  # left out together by video-only samples
TAR_BLOCK = 512  # tar block size: a USTAR header is one block; member data is padded to whole blocks
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+$")

STORAGE = {
    "video": f"mp4, H.264 {VIDEO_PIX_FMT}, crf {VIDEO_CRF}",
    "depth": "npz (np.savez_compressed), float16 metres",
    "segmentation": "npz (np.savez_compressed), smallest unsigned integer type, exact",
    "metadata": "json, Episode.metadata()",
}


def check_key(key: str) -> str:
    """Return `key` if it can name a WebDataset sample (letters, digits, `_`, `-`), else raise `ConfigError`."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ConfigError(
            f"episode key must be a non-empty string of letters, digits, '_' or '-' "
            f"(no '.' or '/': WebDataset splits member names at the first dot), got {key!r}"
        )
    return key


def member_column(ext: str) -> str:
    """Prefix of a member's `index.parquet` columns (`<prefix>_offset`, `<prefix>_size`): `depth.npz` -> `depth`."""
    return ext.split(".")[0]


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _seg_dtype(segmentation: np.ndarray) -> np.dtype:
    """Smallest unsigned dtype holding every id exactly (ids are >= 0: 0 is background)."""
    lo, hi = (int(segmentation.min()), int(segmentation.max())) if segmentation.size else (0, 0)
    if lo < 0:
        raise ConfigError(f"segmentation ids must be >= 0 (0 is background), found {lo}")
    for dtype in (np.uint8, np.uint16, np.uint32):
        if hi <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ConfigError(f"segmentation id {hi} does not fit in 32 bits")


def episode_to_sample(episode: Episode, key: str) -> dict[str, Any]:
    """Encode `episode` as a WebDataset sample: `{"__key__": key, "mp4": bytes, "depth.npz": bytes, "seg.npz": bytes, "json": bytes}`.

    The dict holds only `str` and `bytes`, so it pickles cheaply between processes (the workers of
    `worldfm.sim.generate` encode; the parent only writes). Frame height and width must be even
    (yuv420p); `ConfigError`/`VideoError` name the problem otherwise.
    """
    from worldfm.video.io import encode_video_bytes

    check_key(key)
    episode.validate()
    meta = {**episode.metadata(), "key": key}
    return {
        "__key__": key,
        "mp4": encode_video_bytes(
            episode.frames, fps=episode.fps, suffix=".mp4", crf=VIDEO_CRF, pix_fmt=VIDEO_PIX_FMT
        ),
        "depth.npz": _npz_bytes(depth=episode.depth.astype(np.float16)),
        "seg.npz": _npz_bytes(segmentation=episode.segmentation.astype(_seg_dtype(episode.segmentation))),
        "json": json.dumps(meta, separators=(",", ":")).encode("utf-8"),
    }


def _member(sample: dict[str, Any], ext: str, label: str) -> bytes:
    # WebDataset readers name members without the leading dot; accept ".ext" too.
    value = sample.get(ext, sample.get("." + ext))
    if value is None:
        raise DatasetError(f"{label}: sample has no {ext!r} member (found {sorted(sample)})")
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise DatasetError(f"{label}: member {ext!r} must be bytes, got {type(value).__name__}")
    return bytes(value)


def decode_metadata(data: bytes, label: str) -> dict[str, Any]:
    """Parse a sample's `json` member; `DatasetError` naming `label` if it is not a JSON object."""
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{label}: metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{label}: metadata must be a JSON object, got {type(meta).__name__}")
    return meta


def decode_array(data: bytes, name: str, label: str) -> np.ndarray:
    """Load array `name` from the bytes of an npz member; `DatasetError` naming `label` if unreadable."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return npz[name]
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise DatasetError(f"{label}: cannot read array {name!r} ({exc.__class__.__name__}: {exc})") from exc


def decode_frames(
    data: bytes, num_frames: int | None, label: str, start: int = 0, end: int | None = None
) -> np.ndarray:
    """Decode the `mp4` member into (T, H, W, 3) uint8 frames `[start, end)`; `DatasetError` if corrupt or short.

    `num_frames` (from the metadata) is checked against the decoded count when the whole video is read.
    """
    from worldfm.video.io import decode_video_bytes

    try:
        frames = decode_video_bytes(data, ".mp4", start, end)
    except WorldfmError as exc:
        raise DatasetError(f"{label}: cannot decode video ({exc})") from exc
    if start == 0 and end is None and num_frames is not None and len(frames) != num_frames:
        raise DatasetError(f"{label}: video has {len(frames)} frames, metadata says {num_frames}")
    return frames


def sample_to_episode(sample: dict[str, Any]) -> Episode:
    """Decode a sample written by `episode_to_sample` (or read by a WebDataset reader) back into an `Episode`.

    Frames come back within H.264 tolerance, depth within float16 precision, segmentation and all
    metadata exactly. Missing members or corrupt bytes raise `DatasetError` naming the sample key.
    """
    label = f"sample {sample.get('__key__', '<no key>')!r}"
    meta = decode_metadata(_member(sample, "json", label), label)
    frames = decode_frames(_member(sample, "mp4", label), meta.get("num_frames"), label)
    depth = decode_array(_member(sample, "depth.npz", label), "depth", label)
    segmentation = decode_array(_member(sample, "seg.npz", label), "segmentation", label)
    try:
        return Episode.from_parts(frames, depth, segmentation, meta)
    except (KeyError, TypeError, ValueError) as exc:  # ConfigError is a ValueError
        raise DatasetError(f"{label}: inconsistent episode ({exc.__class__.__name__}: {exc})") from exc
