"""Guardrails for everything worldfm generates: text pre-guard, video post-guard (faces, content
safety), invisible watermark and C2PA provenance. Imports no world model (DESIGN.md).

- decision.py: `CheckResult`, `GuardDecision` (fail closed: a check that cannot run blocks).
- text.py: prompt pre-guard (normalisation, blocklist, MiniLM classifier).
- video.py: face blur with tracking, content safety (OCR through the text pre-guard).
- watermark.py: luma watermark with error correction, robust to re-encoding.
- provenance.py: C2PA manifests signed offline with a local certificate.
"""
