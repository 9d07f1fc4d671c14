"""Writing a generated video the way worldfm hands it out: encoded, then signed with a C2PA manifest
that records the model, the prompt's hash, the guardrail results (or that they were turned off) and
the watermark payload as soft binding.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from worldfm.guardrails.provenance import ProvenanceInfo, embed_manifest, prompt_hash
from worldfm.video.io import write_video

SIGNABLE = (".mp4",)  # C2PA in BMFF; webm/mkv outputs are written unsigned (and reported so)


def generation_info(
    output: Any, index: int, mode: str, prompt: str | None, model_version: str = "1"
) -> ProvenanceInfo:
    """The provenance of sample `index` of a pipeline's `WorldOutput`."""
    guard = output.guardrails or {"enabled": False}
    results = None
    if guard.get("enabled"):
        videos = guard.get("videos") or [None]
        results = {"name": guard.get("name"), "prompt": guard.get("prompt"), "video": videos[index]}
    return ProvenanceInfo(
        model_name=output.model or "unknown",
        model_version=model_version,
        prompt_sha256=prompt_hash(prompt) if prompt else None,
        mode=mode,
        guardrails_enabled=bool(guard.get("enabled")),
        guardrail_results=results,
        watermark_payload=output.watermarks[index] if output.watermarks else None,
        seed=int(output.seeds[index]),
    )


def write_generated_video(
    path: str | os.PathLike[str], frames: np.ndarray, fps: float, info: ProvenanceInfo, crf: int = 14
) -> bool:
    """Encode `frames` (T, H, W, 3) uint8 to `path` and sign it with `info` (mp4 only).

    The file appears only once it is complete and signed. Returns whether a manifest was embedded
    (False for .webm/.mkv, which cannot carry one).
    """
    path = Path(path)
    if path.suffix.lower() not in SIGNABLE:
        write_video(path, frames, fps=fps, crf=crf)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".worldfm-") as tmp:
        unsigned = Path(tmp) / path.name
        write_video(unsigned, frames, fps=fps, crf=crf)
        embed_manifest(unsigned, path, info)
    return True
