"""C2PA provenance manifests for generated mp4 files, signed offline with the local identity.

`embed_manifest` signs a manifest into an mp4 (H.264 from `worldfm.video.io.write_video`, yuv420p or
yuv444p) with three assertions:

- `c2pa.actions`: one `c2pa.created` action, digital source type `trainedAlgorithmicMedia`,
  software agent worldfm;
- `org.worldfm.generation`: the `ProvenanceInfo` (model, version, prompt SHA-256, mode, guardrails
  and their results, watermark payload, seed, time, worldfm version); never the prompt itself;
- `c2pa.soft-binding` (only when a watermark payload is given): alg `org.worldfm.watermark.v1`, one
  block over the whole duration whose value is the payload in hex, so a copy whose manifest was
  stripped can be tied back to it through the watermark.

c2pa-rs binds the manifest to the file with a `c2pa.hash.bmff.v3` hash over every box except the
manifest's own: changing any byte of the video makes the manifest invalid, and re-encoding the
frames drops it. `read_manifest` reports presence, validity (signature and hash binding), trust
(separately: the local certificate is self-issued, so c2pa reports it untrusted unless its CA is
given as a trust anchor) and the parsed assertions. Nothing here touches the network: no timestamp
authority, no OCSP, no remote manifests.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import worldfm
from worldfm.errors import ConfigError, VideoError, WorldfmError
from worldfm.guardrails.certificates import SigningIdentity, local_identity
from worldfm.video.io import atomic_output, probe_video

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_LABEL = "org.worldfm.generation"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
SOFT_BINDING_ALG = "org.worldfm.watermark.v1"
SOFTWARE_AGENT = "worldfm"
UNTRUSTED_CODE = "signingCredential.untrusted"
MIME = "video/mp4"
# Demuxer names of ISO BMFF files (what c2pa can embed into); probe_video reports one of them.
_BMFF_CONTAINERS = {"mov", "mp4", "m4a", "3gp", "3g2", "mj2"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_MODE = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Offline: no remote manifest fetch, no OCSP; no thumbnail (c2pa makes none for video anyway).
_BASE_SETTINGS: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "builder": {"thumbnail": {"enabled": False}},
}


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError as exc:
        raise WorldfmError(
            "C2PA provenance needs c2pa-python; install it with `pip install 'worldfm[guard]'`"
        ) from exc
    return c2pa


def prompt_hash(text: str) -> str:
    """Lower-case hex SHA-256 of the prompt's UTF-8 bytes (what a manifest records instead of the prompt)."""
    if not isinstance(text, str):
        raise ConfigError(f"prompt must be a str, got {type(text).__name__}")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ProvenanceInfo:
    """What a manifest says about how a video was generated (JSON-serialisable).

    model_name, model_version: e.g. "dit-nano", "1".
    prompt_sha256: `prompt_hash(prompt)` (64 lower-case hex characters), or None without a prompt.
    mode: generation mode, a lower-case slug such as "text2world" or "video2world".
    guardrails_enabled: False when the caller turned the guardrails off (recorded, never hidden).
    guardrail_results: JSON-serialisable dict, e.g. `GuardDecision.to_dict()`; None when none ran.
    watermark_payload: the embedded watermark payload as lower-case hex, or None without watermark.
    seed: the sampling seed, or None.
    created: ISO 8601 time (default: now, UTC); worldfm_version: default the installed version.
    """

    model_name: str
    model_version: str
    prompt_sha256: str | None
    mode: str
    guardrails_enabled: bool
    guardrail_results: dict[str, Any] | None = None
    watermark_payload: str | None = None
    seed: int | None = None
    created: str = field(default_factory=_now)
    worldfm_version: str = worldfm.__version__

    def __post_init__(self) -> None:
        for name in ("model_name", "model_version", "worldfm_version"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"ProvenanceInfo.{name} must be a non-empty str, got {value!r}")
        if self.prompt_sha256 is not None and not (
            isinstance(self.prompt_sha256, str) and _SHA256.fullmatch(self.prompt_sha256)
        ):
            raise ConfigError(
                "ProvenanceInfo.prompt_sha256 must be 64 lower-case hex characters (use prompt_hash(prompt)) "
                f"or None, got {self.prompt_sha256!r}"
            )
        if not isinstance(self.mode, str) or not _MODE.fullmatch(self.mode):
            raise ConfigError(
                f"ProvenanceInfo.mode must be a lower-case slug such as 'text2world', got {self.mode!r}"
            )
        if not isinstance(self.guardrails_enabled, bool):
            raise ConfigError(
                f"ProvenanceInfo.guardrails_enabled must be a bool, got {self.guardrails_enabled!r}"
            )
        if self.guardrail_results is not None:
            if not isinstance(self.guardrail_results, dict):
                raise ConfigError(
                    "ProvenanceInfo.guardrail_results must be a dict (e.g. GuardDecision.to_dict()) or None, "
                    f"got {type(self.guardrail_results).__name__}"
                )
            try:
                json.dumps(self.guardrail_results, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"ProvenanceInfo.guardrail_results must be JSON-serialisable: {exc}"
                ) from exc
        if self.watermark_payload is not None and not (
            isinstance(self.watermark_payload, str) and _HEX.fullmatch(self.watermark_payload)
        ):
            raise ConfigError(
                "ProvenanceInfo.watermark_payload must be lower-case hex of whole bytes (e.g. '0a1b2c3d') "
                f"or None, got {self.watermark_payload!r}"
            )
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ConfigError(f"ProvenanceInfo.seed must be an int or None, got {self.seed!r}")
        try:
            datetime.datetime.fromisoformat(self.created)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"ProvenanceInfo.created must be an ISO 8601 time, got {self.created!r}"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProvenanceInfo:
        """Inverse of `to_dict` (ConfigError on missing or unknown keys, or bad values)."""
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown ProvenanceInfo keys {unknown}; expected some of {sorted(names)}")
        try:
            return cls(**data)
        except TypeError as exc:  # a required key is missing
            raise ConfigError(f"bad ProvenanceInfo record: {exc}") from exc


@dataclass(frozen=True)
class ProvenanceReport:
    """What `read_manifest` found in a file.

    present: the file carries a C2PA manifest store. valid: its active manifest's signature and its
    hash binding to the file's bytes check out (whatever the trust). trusted: the signing certificate
    chains to a trust anchor given to the reader (False for the self-issued local identity unless
    its CA was given). validation_state: c2pa's own verdict ("Invalid", "Valid", "Trusted") or None.
    errors: c2pa failure codes with their explanations, except the untrusted-signer one (which is
    `trusted`). generation: the `org.worldfm.generation` assertion as a dict. digital_source_type:
    from the `c2pa.created` action. soft_binding_alg / soft_binding_payload: from `c2pa.soft-binding`.
    signer: c2pa's signature info (alg, issuer, common_name, cert_serial_number).
    """

    path: str
    present: bool
    valid: bool = False
    trusted: bool = False
    validation_state: str | None = None
    errors: tuple[str, ...] = ()
    generation: dict[str, Any] | None = None
    digital_source_type: str | None = None
    soft_binding_alg: str | None = None
    soft_binding_payload: str | None = None
    signer: dict[str, Any] | None = None
    manifest_label: str | None = None

    @property
    def info(self) -> ProvenanceInfo | None:
        """The generation assertion as a `ProvenanceInfo` (None when absent; ConfigError if malformed)."""
        return None if self.generation is None else ProvenanceInfo.from_dict(self.generation)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = list(self.errors)
        return out


def _context(c2pa: Any, trust_anchors: str | None = None) -> Any:
    settings = json.loads(json.dumps(_BASE_SETTINGS))
    if trust_anchors is not None:
        settings["trust"] = {"user_anchors": trust_anchors}
    return c2pa.Context(settings=c2pa.Settings.from_dict(settings))


def _check_mp4(path: Path, role: str) -> float:
    """Check `path` is a readable ISO BMFF video (VideoError otherwise); return its duration in seconds."""
    info = probe_video(path)  # VideoError when missing, empty, corrupt, truncated, not a video
    if info.container not in _BMFF_CONTAINERS:
        raise VideoError(path, f"{role} must be an mp4 file to carry a C2PA manifest, got {info.container}")
    return info.duration


def manifest_definition(info: ProvenanceInfo, title: str, duration_s: float) -> dict[str, Any]:
    """The c2pa Builder manifest definition (JSON) for `info`; exposed for inspection and tests."""
    agent = {"name": SOFTWARE_AGENT, "version": info.worldfm_version}
    created: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": DIGITAL_SOURCE_TYPE,
        "softwareAgent": agent,
        "when": info.created,
    }
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions", "data": {"actions": [created]}},
        {"label": GENERATION_LABEL, "data": info.to_dict()},
    ]
    if info.watermark_payload is not None:
        # One block over the whole clip: the watermark is spread over every frame.
        span = {"start": 0, "end": max(0, round(duration_s * 1000))}
        block = {"scope": {"timespan": span}, "value": info.watermark_payload}
        binding = {"alg": SOFT_BINDING_ALG, "blocks": [block], "pad": []}
        assertions.append({"label": SOFT_BINDING_LABEL, "data": binding})
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": MIME,
        "assertions": assertions,
    }


def embed_manifest(
    src_mp4: str | os.PathLike[str],
    dst_mp4: str | os.PathLike[str],
    info: ProvenanceInfo,
    identity: SigningIdentity | None = None,
) -> Path:
    """Sign a C2PA manifest describing `info` into a copy of `src_mp4` written atomically to `dst_mp4`.

    `dst_mp4` may equal `src_mp4` (the file is replaced only once the signed copy is complete). A
    manifest already in `src_mp4` is replaced, not chained. `identity` defaults to `local_identity()`
    (made on first use). Raises VideoError for a missing, corrupt or non-mp4 input, an output path
    that is not .mp4, or a failed signing; ConfigError for a bad `info` or identity. Returns `dst_mp4`.
    """
    src, dst = Path(src_mp4), Path(dst_mp4)
    if not isinstance(info, ProvenanceInfo):
        raise ConfigError(f"info must be a ProvenanceInfo, got {type(info).__name__}")
    if dst.suffix.lower() != ".mp4":
        raise VideoError(dst, f"output must be an .mp4 path to carry a C2PA manifest, got {dst.suffix!r}")
    duration = _check_mp4(src, "input")
    identity = identity or local_identity()
    c2pa = _c2pa()
    definition = manifest_definition(info, dst.name, duration)
    try:
        with atomic_output(dst) as tmp:
            signer = c2pa.Signer.from_info(
                c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, identity.chain_pem, identity.key_pem, None)
            )
            with (
                signer,
                c2pa.Builder(definition, context=_context(c2pa)) as builder,
                open(src, "rb") as fin,
                open(tmp, "w+b") as fout,
            ):
                builder.sign(signer, MIME, fin, fout)
    except c2pa.C2paError as exc:
        raise VideoError(src, f"C2PA signing failed ({exc.__class__.__name__.lstrip('_')}: {exc})") from exc
    except OSError as exc:
        raise VideoError(dst, f"cannot write ({exc.__class__.__name__}: {exc.strerror or exc})") from exc
    return dst


def _assertions(manifest: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for assertion in manifest.get("assertions", []):
        # c2pa-rs suffixes repeated labels with "__N" and versions some ("c2pa.actions.v2").
        yield str(assertion.get("label", "")).split("__")[0], assertion.get("data")


def _parse(path: Path, store: dict[str, Any]) -> ProvenanceReport:
    state = store.get("validation_state")
    failures = store.get("validation_status") or []
    errors = tuple(
        f"{f.get('code')}: {f.get('explanation', '')}".rstrip(": ")
        for f in failures
        if f.get("code") != UNTRUSTED_CODE
    )
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) if label else None
    if manifest is None:
        return ProvenanceReport(
            path=str(path),
            present=True,
            validation_state=state,
            errors=(*errors, "manifest store has no active manifest"),
        )
    generation = source_type = sb_alg = sb_payload = None
    for name, data in _assertions(manifest):
        if name == GENERATION_LABEL and isinstance(data, dict):
            generation = data
        elif name in ("c2pa.actions", "c2pa.actions.v2") and isinstance(data, dict):
            for action in data.get("actions", []):
                if action.get("action") == "c2pa.created":
                    source_type = action.get("digitalSourceType")
        elif name == SOFT_BINDING_LABEL and isinstance(data, dict):
            sb_alg = data.get("alg")
            blocks = data.get("blocks") or []
            sb_payload = blocks[0].get("value") if blocks else None
    return ProvenanceReport(
        path=str(path),
        present=True,
        valid=state in ("Valid", "Trusted"),
        trusted=state == "Trusted",
        validation_state=state,
        errors=errors,
        generation=generation,
        digital_source_type=source_type,
        soft_binding_alg=sb_alg,
        soft_binding_payload=sb_payload,
        signer=manifest.get("signature_info"),
        manifest_label=label,
    )


def read_manifest(path: str | os.PathLike[str], trust_anchors: str | bytes | None = None) -> ProvenanceReport:
    """Read and validate the C2PA manifest of a video file.

    `trust_anchors`: PEM certificates whose chains count as trusted, e.g. `local_identity().ca_pem`
    to trust this machine's own signatures; without it a local signature is valid but untrusted.
    A video without a manifest (including non-mp4 containers, which cannot carry one) gives
    `present=False`; a manifest that cannot be parsed gives `present=True, valid=False` with the
    reason in `errors`. A missing, empty or corrupt file raises VideoError.
    """
    path = Path(path)
    info = probe_video(path)  # VideoError when missing, empty, corrupt, truncated, not a video
    if info.container not in _BMFF_CONTAINERS:
        return ProvenanceReport(path=str(path), present=False)
    if isinstance(trust_anchors, bytes):
        trust_anchors = trust_anchors.decode("ascii")
    c2pa = _c2pa()
    try:
        context = _context(c2pa, trust_anchors)
    except c2pa.C2paError as exc:
        raise ConfigError(f"trust_anchors must be PEM certificates: {exc}") from exc
    try:
        with open(path, "rb") as fh:
            reader = c2pa.Reader.try_create(MIME, fh, None, context)
            if reader is None:
                return ProvenanceReport(path=str(path), present=False)
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        reason = f"manifest unreadable ({exc.__class__.__name__.lstrip('_')}: {exc})"
        return ProvenanceReport(path=str(path), present=True, errors=(reason,))
    except OSError as exc:
        raise VideoError(path, f"cannot read ({exc.__class__.__name__}: {exc.strerror or exc})") from exc
    return _parse(path, store)
