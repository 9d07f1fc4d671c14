"""`WorldfmGuardrail`: the guardrail every generation pipeline gets by default.

It composes the text pre-guard (`PromptGuard`: normalisation, blocklist, MiniLM classifier) with
the video post-guard (`VideoGuard`: faces blurred with tracking, text visible in frames read by OCR
and passed through the same pre-guard). Models load on first use and are shared by the process
(`default_guardrail()`), so building pipelines stays cheap. Every check that cannot run blocks.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from worldfm.guardrails.decision import CheckResult, GuardDecision


class WorldfmGuardrail:
    """Pre-guard on prompts, post-guard on videos (the `Guardrail` protocol of the pipelines).

    prompt_guard: a `PromptGuard` (default: `PromptGuard.default()`, loaded on first prompt).
    video_guard: a `VideoGuard` (default: `VideoGuard.default(text_check=<the prompt guard>)`).
    """

    name = "worldfm"

    def __init__(self, prompt_guard: Any = None, video_guard: Any = None) -> None:
        self._prompt_guard, self._video_guard = prompt_guard, video_guard

    @property
    def prompt_guard(self) -> Any:
        if self._prompt_guard is None:
            from worldfm.guardrails.text import PromptGuard

            self._prompt_guard = PromptGuard.default()
        return self._prompt_guard

    @property
    def video_guard(self) -> Any:
        if self._video_guard is None:
            from worldfm.guardrails.video import VideoGuard

            self._video_guard = VideoGuard.default(text_check=self.check_visible_text)
        return self._video_guard

    def check_visible_text(self, text: str) -> GuardDecision:
        """The pre-guard on text read by OCR from frames. OCR returns stray symbols and digits from
        textures; the prompt guard refuses symbol soup as input, so only words (2+ letters) are
        checked, and text without any word passes."""
        words = " ".join(re.findall(r"[^\W\d_]{2,}", text))
        if not words:
            return GuardDecision((CheckResult("visible-text", True, False, details={"words": 0}),))
        return self.check_prompt(words)

    def check_prompt(self, prompt: str) -> GuardDecision:
        """The pre-guard's decision on `prompt`; a guard that fails to load blocks (fail closed)."""
        try:
            return self.prompt_guard.check(prompt)
        except Exception as exc:  # a crash in a configured check must refuse, never pass
            return GuardDecision((CheckResult.failed_to_run("prompt-guard", exc),))

    def check_video(self, frames: np.ndarray) -> tuple[np.ndarray, GuardDecision]:
        """frames (T, H, W, 3) uint8 -> (frames with faces hidden, the post-guard's decision)."""
        try:
            return self.video_guard.check(frames)
        except Exception as exc:
            return frames, GuardDecision((CheckResult.failed_to_run("video-guard", exc),))


@functools.cache
def default_guardrail() -> WorldfmGuardrail:
    """The process-wide default guardrail (its models load once, on first use)."""
    return WorldfmGuardrail()
