"""C2PA provenance: real mp4 files signed with a real local certificate chain and read back by c2pa-rs."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("c2pa")
pytest.importorskip("cryptography")

from worldfm.errors import ConfigError, VideoError
from worldfm.guardrails import certificates
from worldfm.guardrails.certificates import (
    CA_FILE,
    CHAIN_FILE,
    ENV_DIR,
    IDENTITY_NAME,
    KEY_FILE,
    SigningIdentity,
    c2pa_dir,
    local_identity,
)
from worldfm.guardrails.decision import CheckResult, GuardDecision
from worldfm.guardrails.provenance import (
    DIGITAL_SOURCE_TYPE,
    SOFT_BINDING_ALG,
    ProvenanceInfo,
    embed_manifest,
    prompt_hash,
    read_manifest,
)
from worldfm.video.io import read_video, write_video

PROMPT = "A red ball rolls across the table and hits the wall."
PAYLOAD = "00c0ffee12345678"


@pytest.fixture(autouse=True)
def c2pa_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own identity folder (never the user's ~/.cache)."""
    folder = tmp_path / "c2pa"
    monkeypatch.setenv(ENV_DIR, str(folder))
    return folder


def _video(path: Path, pix_fmt: str = "yuv420p", frames: int = 6) -> Path:
    rng = np.random.default_rng(0)
    return write_video(
        path, rng.integers(0, 256, (frames, 16, 16, 3), dtype=np.uint8), fps=8, pix_fmt=pix_fmt
    )


def _info(**overrides: object) -> ProvenanceInfo:
    decision = GuardDecision((CheckResult("blocklist", ran=True, blocked=False),))
    fields: dict[str, object] = dict(
        model_name="dit-nano",
        model_version="1",
        prompt_sha256=prompt_hash(PROMPT),
        mode="text2world",
        guardrails_enabled=True,
        guardrail_results=decision.to_dict(),
        watermark_payload=PAYLOAD,
        seed=1234,
        created="2026-01-02T03:04:05+00:00",
    )
    fields.update(overrides)
    return ProvenanceInfo(**fields)  # type: ignore[arg-type]


def _boxes(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Top-level ISO BMFF boxes: type -> (offset, size) (32-bit sizes, as ffmpeg writes small files)."""
    boxes, pos = {}, 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        assert size >= 8, f"unexpected box size {size} at {pos}"
        boxes[data[pos + 4 : pos + 8]] = (pos, size)
        pos += size
    return boxes


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_sign_and_read_back_every_field(tmp_path: Path, pix_fmt: str) -> None:
    src = _video(tmp_path / "gen.mp4", pix_fmt)
    info = _info()
    out = embed_manifest(src, tmp_path / "signed.mp4", info)
    assert out == tmp_path / "signed.mp4"

    report = read_manifest(out)
    assert report.present and report.valid
    assert report.trusted is False  # self-issued chain, no trust anchor given
    assert report.validation_state == "Valid"
    assert report.errors == ()
    assert report.generation == info.to_dict()
    assert report.info == info
    assert report.digital_source_type == DIGITAL_SOURCE_TYPE
    assert report.soft_binding_alg == SOFT_BINDING_ALG
    assert report.soft_binding_payload == PAYLOAD
    assert report.signer is not None and report.signer["common_name"] == "worldfm local C2PA signer"
    assert report.manifest_label and report.manifest_label.startswith("urn:c2pa:")
    json.dumps(report.to_dict())  # JSON-able for `worldfm guard verify --json`
    # The signed file still decodes to the same frames: the manifest lives in its own box.
    np.testing.assert_array_equal(read_video(out), read_video(src))
    # The prompt itself is never written, only its hash.
    data = out.read_bytes()
    assert PROMPT.encode() not in data and prompt_hash(PROMPT).encode() in data


def test_trusted_when_the_local_ca_is_a_trust_anchor(tmp_path: Path) -> None:
    signed = embed_manifest(_video(tmp_path / "a.mp4"), tmp_path / "b.mp4", _info())
    report = read_manifest(signed, trust_anchors=local_identity().ca_pem)
    assert report.valid and report.trusted and report.validation_state == "Trusted"
    # Another machine's CA does not make it trusted.
    other = local_identity(tmp_path / "elsewhere")
    assert not read_manifest(signed, trust_anchors=other.ca_pem).trusted


def test_no_payload_means_no_soft_binding_and_guardrails_off_is_recorded(tmp_path: Path) -> None:
    info = _info(watermark_payload=None, guardrails_enabled=False, guardrail_results=None, prompt_sha256=None)
    report = read_manifest(embed_manifest(_video(tmp_path / "a.mp4"), tmp_path / "b.mp4", info))
    assert report.valid
    assert report.soft_binding_alg is None and report.soft_binding_payload is None
    assert report.generation is not None and report.generation["guardrails_enabled"] is False
    assert report.info == info


def test_unsigned_and_reencoded_files_have_no_manifest(tmp_path: Path) -> None:
    src = _video(tmp_path / "a.mp4")
    assert read_manifest(src).present is False
    signed = embed_manifest(src, tmp_path / "signed.mp4", _info())
    copy = write_video(tmp_path / "copy.mp4", read_video(signed), fps=8)
    report = read_manifest(copy)
    assert report.present is False and report.valid is False and report.generation is None


def test_tampering_with_the_video_bytes_invalidates(tmp_path: Path) -> None:
    signed = embed_manifest(_video(tmp_path / "a.mp4"), tmp_path / "signed.mp4", _info())
    data = bytearray(signed.read_bytes())
    offset, size = _boxes(bytes(data))[b"mdat"]
    data[offset + size // 2] ^= 0xFF
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(data)
    report = read_manifest(tampered)
    assert report.present and not report.valid
    assert report.validation_state == "Invalid"
    assert any(e.startswith("assertion.bmffHash.mismatch") for e in report.errors), report.errors


def test_forging_the_generation_record_invalidates(tmp_path: Path) -> None:
    signed = embed_manifest(_video(tmp_path / "a.mp4"), tmp_path / "signed.mp4", _info())
    data = signed.read_bytes()
    assert data.count(b"dit-nano") == 1
    forged = tmp_path / "forged.mp4"
    forged.write_bytes(data.replace(b"dit-nano", b"dit-huge"))
    report = read_manifest(forged)
    assert report.present and not report.valid
    assert report.generation is not None and report.generation["model_name"] == "dit-huge"
    assert any("org.worldfm.generation" in e for e in report.errors), report.errors


def test_dst_equal_to_src_and_resigning(tmp_path: Path) -> None:
    path = _video(tmp_path / "a.mp4")
    frames = read_video(path)
    assert embed_manifest(path, path, _info(seed=1)) == path
    assert read_manifest(path).info == _info(seed=1)
    embed_manifest(path, path, _info(seed=2))  # a second signing replaces the first manifest
    report = read_manifest(path)
    assert report.valid and report.info == _info(seed=2)
    np.testing.assert_array_equal(read_video(path), frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "c2pa"]  # no temp files left


def test_identity_created_once_and_reused(tmp_path: Path, c2pa_home: Path) -> None:
    assert c2pa_dir() == c2pa_home
    first = local_identity()
    folder = c2pa_home / IDENTITY_NAME
    assert first.folder == folder
    mtimes = {name: (folder / name).stat().st_mtime_ns for name in (KEY_FILE, CHAIN_FILE, CA_FILE)}
    second = local_identity()
    assert second == first
    assert {name: (folder / name).stat().st_mtime_ns for name in mtimes} == mtimes
    # Every signature comes from the same certificate.
    a = read_manifest(embed_manifest(_video(tmp_path / "a.mp4"), tmp_path / "a.mp4", _info()))
    b = read_manifest(embed_manifest(_video(tmp_path / "b.mp4"), tmp_path / "b.mp4", _info()))
    assert a.signer == b.signer
    assert sorted(os.listdir(c2pa_home)) == [IDENTITY_NAME]  # no temporary folders left
    # A process that loses the creation race keeps the winner's identity.
    certificates._create(c2pa_home, folder)
    assert local_identity() == first
    assert sorted(os.listdir(c2pa_home)) == [IDENTITY_NAME]


def test_key_file_is_private(c2pa_home: Path) -> None:
    folder = local_identity().folder
    assert stat.S_IMODE((folder / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(c2pa_home.stat().st_mode) == 0o700


def test_certificate_chain_has_the_c2pa_extensions() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    identity = local_identity()
    leaf, ca = x509.load_pem_x509_certificates(identity.chain_pem)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.public_key().curve.name == "secp256r1"
    assert leaf.issuer == ca.subject and leaf.subject != ca.subject
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ObjectIdentifier(certificates.C2PA_CLAIM_SIGNING_OID) in eku
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc
    assert len(identity.leaf_sha256) == 64


def test_damaged_or_missing_identity_is_reported_not_replaced(c2pa_home: Path) -> None:
    with pytest.raises(ConfigError, match="no local C2PA signing identity yet"):
        local_identity(create=False)
    folder = local_identity().folder
    (folder / KEY_FILE).unlink()
    with pytest.raises(ConfigError, match=r"incomplete .*signer\.key\.pem.*delete"):
        local_identity()
    assert not (folder / KEY_FILE).exists()  # not silently regenerated
    other = local_identity(c2pa_home / "other")
    (folder / KEY_FILE).write_bytes(other.key_pem)
    with pytest.raises(ConfigError, match="does not match the leaf certificate"):
        local_identity()


def test_env_var_must_not_be_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DIR, "  ")
    with pytest.raises(ConfigError, match=ENV_DIR):
        c2pa_dir()


def test_signing_with_a_mismatched_key_fails_and_leaves_dst_untouched(
    tmp_path: Path, c2pa_home: Path
) -> None:
    mine, other = local_identity(), local_identity(c2pa_home / "other")
    bad = SigningIdentity(mine.folder, other.key_pem, mine.chain_pem, mine.ca_pem)
    src = _video(tmp_path / "a.mp4")
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous")
    with pytest.raises(VideoError, match="C2PA signing failed"):
        embed_manifest(src, dst, _info(), identity=bad)
    assert dst.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "c2pa", "out.mp4"]


def test_bad_files_raise_video_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    with pytest.raises(VideoError, match="does not exist"):
        embed_manifest(missing, tmp_path / "out.mp4", _info())
    with pytest.raises(VideoError, match="does not exist"):
        read_manifest(missing)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 20)
    with pytest.raises(VideoError, match=r"junk\.mp4"):
        read_manifest(junk)
    with pytest.raises(VideoError, match=r"junk\.mp4"):
        embed_manifest(junk, tmp_path / "out.mp4", _info())
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoError, match="empty"):
        read_manifest(empty)
    src = _video(tmp_path / "a.mp4")
    with pytest.raises(VideoError, match=r"output must be an \.mp4 path"):
        embed_manifest(src, tmp_path / "out.mkv", _info())
    mkv = _video(tmp_path / "b.mkv")
    with pytest.raises(VideoError, match="must be an mp4 file"):
        embed_manifest(mkv, tmp_path / "out.mp4", _info())
    assert read_manifest(mkv).present is False  # Matroska cannot carry a C2PA manifest
    assert not (tmp_path / "out.mp4").exists()
    with pytest.raises(ConfigError, match="ProvenanceInfo"):
        embed_manifest(src, tmp_path / "out.mp4", {"model_name": "x"})  # type: ignore[arg-type]


def test_prompt_hash() -> None:
    assert prompt_hash("") == hashlib.sha256(b"").hexdigest()
    assert prompt_hash("café") == hashlib.sha256("café".encode()).hexdigest()
    with pytest.raises(ConfigError, match="prompt must be a str"):
        prompt_hash(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prompt_sha256": "a ball"}, "prompt_sha256 must be 64 lower-case hex"),
        ({"prompt_sha256": prompt_hash("x").upper()}, "prompt_sha256"),
        ({"watermark_payload": "ABCD"}, "watermark_payload must be lower-case hex"),
        ({"watermark_payload": "abc"}, "watermark_payload"),
        ({"watermark_payload": ""}, "watermark_payload"),
        ({"mode": "Text 2 World"}, "mode must be a lower-case slug"),
        ({"model_name": ""}, "model_name must be a non-empty str"),
        ({"guardrails_enabled": 1}, "guardrails_enabled must be a bool"),
        ({"guardrail_results": {"score": float("nan")}}, "JSON-serialisable"),
        ({"guardrail_results": {"x": object()}}, "JSON-serialisable"),
        ({"guardrail_results": [1]}, "must be a dict"),
        ({"seed": True}, "seed must be an int"),
        ({"created": "yesterday"}, "ISO 8601"),
    ],
)
def test_info_rejects_bad_values(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _info(**overrides)


def test_info_dict_round_trip() -> None:
    info = _info()
    assert ProvenanceInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    with pytest.raises(ConfigError, match="unknown ProvenanceInfo keys"):
        ProvenanceInfo.from_dict({**info.to_dict(), "prompt": PROMPT})
    with pytest.raises(ConfigError, match="bad ProvenanceInfo record"):
        ProvenanceInfo.from_dict({"model_name": "x"})
