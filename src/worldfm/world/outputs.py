"""What every generation pipeline does to its videos before returning them: the video post-guard
and the invisible watermark. Shared by the diffusion (`PredictPipeline`) and autoregressive
(`ARPipeline`) world models so both treat outputs identically.

Videos are `(K, T, H, W, 3)` uint8 numpy arrays, one per sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldfm.errors import GuardrailBlocked


def post_guard(guardrail: Any, videos: np.ndarray, prompt_decision: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Run `guardrail.check_video` on each of `videos` `(K, T, H, W, 3)` uint8; raise `GuardrailBlocked`
    if any is refused. Returns the (possibly altered, e.g. faces blurred) videos and the record that
    `WorldOutput.guardrails` holds. `guardrail` None (turned off) returns the videos unchanged."""
    if guardrail is None:
        return videos, {"enabled": False, "name": "off", "prompt": None, "videos": []}
    checked, decisions = [], []
    for video in videos:
        frames, decision = guardrail.check_video(video)
        if not decision.allowed:
            raise GuardrailBlocked("generated video", decision, guardrail.name)
        checked.append(frames)
        decisions.append(decision.to_dict())
    record = {
        "enabled": True,
        "name": guardrail.name,
        "prompt": prompt_decision.to_dict() if prompt_decision is not None else None,
        "videos": decisions,
    }
    return np.stack(checked), record


def watermark_videos(
    videos: np.ndarray, ids: list[int], model_name: str, start: int = 0
) -> tuple[np.ndarray, list[str | None]]:
    """Embed the watermark in frames `start:` of each of `videos` `(K, T, H, W, 3)` uint8 (the given
    conditioning frames before `start` stay as they were given): video i carries the model tag of
    `model_name` and generation id `ids[i]`. Returns the marked videos and each payload as hex."""
    from worldfm.guardrails.watermark import embed_watermark, generation_payload

    marked, payloads = [], []
    for video, gen_id in zip(videos, ids, strict=True):
        payload = generation_payload(model_name, gen_id)
        video = video.copy()
        video[start:] = embed_watermark(video[start:], payload)
        marked.append(video)
        payloads.append(payload.hex())
    return np.stack(marked), payloads
