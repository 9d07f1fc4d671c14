"""VideoGuard: faces hidden, OCR text judged by a text check, optional NSFW backend, fail closed."""

import importlib.util
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from worldfm.errors import ConfigError
from worldfm.guardrails.decision import CheckResult, GuardDecision
from worldfm.guardrails.faces import FaceBlurConfig
from worldfm.guardrails.video import (
    NSFW_EXTRA,
    ContentSafetyBackend,
    NudeNetBackend,
    OcrTextBackend,
    VideoGuard,
    sample_indices,
)

BLOCKED_WORDS = {"bomb", "gun"}


def wordlist_check(text: str) -> GuardDecision:
    """A small real text check: blocks any word of BLOCKED_WORDS (case-insensitive, whole words)."""
    hits = sorted(set(re.findall(r"[a-z]+", text.lower())) & BLOCKED_WORDS)
    reason = f"blocked words: {', '.join(hits)}" if hits else None
    return GuardDecision((CheckResult("wordlist", ran=True, blocked=bool(hits), reason=reason),))


def text_frames(word: str, num: int = 2) -> np.ndarray:
    """(num, 64, 128, 3) frames with `word` written in dark letters on a light background."""
    frames = np.full((num, 64, 128, 3), 215, np.uint8)
    for frame in frames:
        cv2.putText(frame, word, (6, 42), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
    return frames


@pytest.fixture(scope="module")
def ocr() -> OcrTextBackend:
    return OcrTextBackend(wordlist_check, max_frames=2)


def test_ocr_reads_a_rendered_word(ocr: OcrTextBackend) -> None:
    lines = ocr.read(text_frames("BOMB")[0])
    assert [text for text, _ in lines] == ["BOMB"]
    assert all(0.5 <= score <= 1 for _, score in lines)


def test_ocr_text_is_blocked_by_the_text_check(ocr: OcrTextBackend) -> None:
    guard = VideoGuard(faces=None, backends=[ocr])
    _, decision = guard.check(text_frames("BOMB"))
    assert not decision.allowed
    (check,) = decision.checks
    assert check.name == "ocr" and check.ran and check.blocked
    assert "BOMB" in check.reason and "blocked words: bomb" in check.reason
    assert check.details["blocked_text"] == "BOMB"


def test_benign_text_and_no_text_pass(ocr: OcrTextBackend) -> None:
    guard = VideoGuard(faces=None, backends=[ocr])
    _, decision = guard.check(text_frames("ROBOT"))
    assert decision.allowed, decision.reasons
    assert decision.checks[0].details["texts"] == ["ROBOT"]
    _, blank = guard.check(np.full((2, 64, 64, 3), 90, np.uint8))
    assert blank.allowed and blank.checks[0].details["texts"] == []


def test_text_split_across_frames_is_checked_joined(ocr: OcrTextBackend) -> None:
    frames = np.concatenate([text_frames("BUY"), text_frames("GUN")])  # sampled frames 0 and 3
    check = ocr.check(frames)
    assert check.blocked and check.details["texts"] == ["BUY", "GUN"]


def test_faces_and_ocr_together(ocr: OcrTextBackend) -> None:
    face = cv2.resize(skimage.data.astronaut(), (96, 96), interpolation=cv2.INTER_AREA)
    frames = np.stack([face] * 3)
    out, decision = VideoGuard(backends=[ocr]).check(frames)
    assert decision.allowed, decision.reasons
    assert [c.name for c in decision.checks] == ["faces", "ocr"]
    faces = decision.checks[0].details
    assert faces["faces"] == 1 and faces["frames_blurred"] == 3 and faces["frames"] == 3
    assert not np.array_equal(out, frames)
    assert decision.to_dict()["allowed"] is True


def test_missing_face_model_fails_closed(tmp_path: Path) -> None:
    frames = np.full((2, 32, 32, 3), 100, np.uint8)
    out, decision = VideoGuard(face_model=tmp_path / "missing.onnx").check(frames)
    assert not decision.allowed
    (check,) = decision.checks
    assert check.name == "faces" and not check.ran and check.blocked
    assert "missing.onnx not found" in check.reason
    np.testing.assert_array_equal(out, frames)


def test_nsfw_backend_without_its_extra_fails_closed() -> None:
    if importlib.util.find_spec("nudenet") is not None:  # deliberately not installed (AGPL-3.0)
        pytest.skip("nudenet is installed here")
    guard = VideoGuard.default(ocr=False, nsfw=True)
    assert guard.steps == ["faces", "nsfw-nudenet"]
    _, decision = guard.check(np.full((1, 32, 32, 3), 100, np.uint8))
    assert not decision.allowed
    check = decision.checks[1]
    assert not check.ran and f"'{NSFW_EXTRA}'" in check.reason and "AGPL-3.0" in check.reason
    assert NudeNetBackend.license == "AGPL-3.0"


def test_no_configured_checks_fails_closed() -> None:
    _, decision = VideoGuard(faces=None).check(np.zeros((1, 8, 8, 3), np.uint8))
    assert not decision.allowed and "no checks" in decision.reasons[0]


def test_default_is_faces_and_ocr_and_backends_follow_the_protocol() -> None:
    guard = VideoGuard.default(text_check=wordlist_check, pixelate=True)
    assert guard.steps == ["faces", "ocr"] and guard.faces == FaceBlurConfig(method="pixelate")
    assert isinstance(OcrTextBackend(wordlist_check), ContentSafetyBackend)
    assert isinstance(NudeNetBackend(), ContentSafetyBackend)
    with pytest.raises(ConfigError, match="ContentSafetyBackend"):
        VideoGuard(backends=[object()])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [np.zeros((0, 8, 8, 3), np.uint8), np.zeros((2, 8, 8), np.uint8)])
def test_bad_frames_raise(bad: np.ndarray) -> None:
    with pytest.raises(ConfigError):
        VideoGuard(faces=None, backends=[OcrTextBackend(wordlist_check)]).check(bad)


@pytest.mark.parametrize(
    ("num", "most", "expected"), [(3, 8, [0, 1, 2]), (10, 4, [0, 3, 6, 9]), (100, 2, [0, 99]), (5, 1, [0])]
)
def test_sample_indices(num: int, most: int, expected: list[int]) -> None:
    assert sample_indices(num, most) == expected


@pytest.mark.parametrize("kwargs", [dict(max_frames=0), dict(side=8), dict(min_score=1.0)])
def test_ocr_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        OcrTextBackend(wordlist_check, **kwargs)
