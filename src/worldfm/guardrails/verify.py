"""Verify a video worldfm handed out: its C2PA manifest (present, signature and hash binding valid,
who signed it) and its invisible watermark (found, and equal to the manifest's soft binding).

A file passes (`verified`) when the manifest is present and valid, the watermark is detected, and
the two payloads agree. The manifest does not survive re-encoding, the watermark does: a re-encoded
copy fails verification but still shows `watermark.detected` with the generation id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worldfm.errors import ConfigError, VideoError


@dataclass(frozen=True)
class VerifyReport:
    """path; manifest: `ProvenanceReport.to_dict()`; watermark: `WatermarkResult.to_dict()`;
    payload_match: the manifest's soft-binding payload equals the detected watermark payload
    (None when either is missing); verified: manifest valid + watermark detected + payload_match;
    problems: why not verified, one line each."""

    path: str
    manifest: dict[str, Any]
    watermark: dict[str, Any]
    payload_match: bool | None
    verified: bool
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "verified": self.verified,
            "problems": list(self.problems),
            "payload_match": self.payload_match,
            "manifest": self.manifest,
            "watermark": self.watermark,
        }


def _local_trust_anchor() -> bytes | None:
    """This machine's signing CA, so files signed here show as trusted (None if none was made yet)."""
    from worldfm.guardrails.certificates import local_identity

    try:
        return local_identity(create=False).ca_pem
    except ConfigError:
        return None


def verify_file(path: str | os.PathLike[str], key: bytes | str | None = None) -> VerifyReport:
    """Read the manifest and detect the watermark of the video at `path` (see the module docstring).

    Raises VideoError for a missing, empty or corrupt file.
    """
    from worldfm.guardrails.provenance import read_manifest
    from worldfm.guardrails.watermark import detect_watermark_file

    path = Path(path)
    if not path.is_file():
        raise VideoError(path, "no such file")
    manifest = (
        read_manifest(path, trust_anchors=_local_trust_anchor()) if path.suffix.lower() == ".mp4" else None
    )
    mark = detect_watermark_file(path, key=key)
    problems: list[str] = []
    if manifest is None:
        problems.append(
            f"no C2PA manifest: {path.suffix} files cannot carry one (worldfm signs .mp4 outputs)"
        )
    elif not manifest.present:
        problems.append("no C2PA manifest (never signed, or stripped by re-encoding)")
    elif not manifest.valid:
        problems.append(
            "the C2PA manifest is invalid: " + "; ".join(manifest.errors or ("validation failed",))
        )
    if not mark.detected:
        problems.append("no watermark detected")
    match = None
    if manifest is not None and manifest.soft_binding_payload is not None and mark.payload is not None:
        match = manifest.soft_binding_payload == mark.payload
        if not match:
            problems.append(
                f"watermark payload {mark.payload} differs from the manifest's {manifest.soft_binding_payload}"
            )
    elif manifest is not None and manifest.present and manifest.soft_binding_payload is None:
        problems.append("the manifest has no watermark soft binding")
    return VerifyReport(
        path=str(path),
        manifest=manifest.to_dict() if manifest is not None else {"present": False},
        watermark=mark.to_dict(),
        payload_match=match,
        verified=not problems,
        problems=tuple(problems),
    )
