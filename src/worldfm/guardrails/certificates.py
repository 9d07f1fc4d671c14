"""The local C2PA signing identity: a small self-made CA and an ES256 (P-256) leaf certificate.

worldfm signs provenance manifests offline, so it cannot use a certificate from a public CA. At
first use it makes its own chain, which c2pa-rs accepts for signing; a reader reports the signature
as valid but the signer as untrusted unless it adds `ca.pem` as a trust anchor.

Layout (folder from `WORLDFM_C2PA_DIR`, default `~/.cache/worldfm/c2pa`)::

    <folder>/local-signer-es256/
        signer.key.pem    leaf private key, PKCS#8, mode 0600
        signer.chain.pem  leaf certificate, then the CA certificate (what c2pa embeds in a manifest)
        ca.pem            the CA certificate alone (the trust anchor to hand to a verifier)

The identity folder is built complete in a private temporary folder and renamed into place, so a
reader never sees half an identity and two processes starting at once end up with the same one. The
CA private key is thrown away once the leaf is issued: nothing can issue a second leaf under it.
A damaged or expired identity raises `ConfigError` naming the folder; it is never replaced silently.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worldfm.errors import ConfigError, WorldfmError

ENV_DIR = "WORLDFM_C2PA_DIR"
DEFAULT_DIR = Path("~/.cache/worldfm/c2pa")
IDENTITY_NAME = "local-signer-es256"
KEY_FILE = "signer.key.pem"
CHAIN_FILE = "signer.chain.pem"
CA_FILE = "ca.pem"
# C2PA claim signing EKU (1.3.6.1.4.1.62558.2.1) and id-kp-emailProtection: both on the c2pa-rs list
# of allowed EKUs; the second keeps older validators happy.
C2PA_CLAIM_SIGNING_OID = "1.3.6.1.4.1.62558.2.1"
LEAF_DAYS = 5 * 365
CA_DAYS = LEAF_DAYS + 1  # a leaf must not outlive its issuer


def _crypto() -> Any:
    try:
        import cryptography  # noqa: F401
    except ImportError as exc:
        raise WorldfmError(
            "the C2PA signing identity needs the `cryptography` package; "
            "install it with `pip install 'worldfm[guard]'`"
        ) from exc
    from cryptography import x509

    return x509


def c2pa_dir() -> Path:
    """The folder holding the local signing identity: `$WORLDFM_C2PA_DIR`, else ~/.cache/worldfm/c2pa."""
    value = os.environ.get(ENV_DIR)
    if value is not None and not value.strip():
        raise ConfigError(f"{ENV_DIR} is set but empty; expected a folder path (or unset it)")
    return Path(value or DEFAULT_DIR).expanduser()


@dataclass(frozen=True)
class SigningIdentity:
    """A loaded signing identity: PEM bytes of the leaf key, the chain (leaf then CA) and the CA alone."""

    folder: Path
    key_pem: bytes
    chain_pem: bytes
    ca_pem: bytes

    @property
    def leaf_sha256(self) -> str:
        """Hex SHA-256 of the leaf certificate's DER bytes: a short name for this identity."""
        x509 = _crypto()
        from cryptography.hazmat.primitives import serialization

        leaf = x509.load_pem_x509_certificates(self.chain_pem)[0]
        return hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()


def _name(common_name: str) -> Any:
    x509 = _crypto()
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "worldfm (local, self-issued)"),
        ]
    )


def _key_usage(*, signer: bool) -> Any:
    x509 = _crypto()
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def _make_identity_pems() -> tuple[bytes, bytes, bytes]:
    """A new CA + leaf chain; returns (leaf key PEM, chain PEM, CA PEM). The CA key is not returned."""
    x509 = _crypto()
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

    # An hour of back-dating tolerates a verifier whose clock is a little behind this one.
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    start = now - datetime.timedelta(hours=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("worldfm local C2PA CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("worldfm local C2PA signer"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ObjectIdentifier(C2PA_CLAIM_SIGNING_OID), ExtendedKeyUsageOID.EMAIL_PROTECTION]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ca_pem = ca.public_bytes(pem)
    return key_pem, leaf.public_bytes(pem) + ca_pem, ca_pem


def _write_file(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL + explicit mode: the key is never readable by others, not even for an instant.
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _create(folder: Path, target: Path) -> None:
    key_pem, chain_pem, ca_pem = _make_identity_pems()
    tmp = Path(tempfile.mkdtemp(prefix=f".{IDENTITY_NAME}.", dir=folder))  # mode 0700
    try:
        _write_file(tmp / KEY_FILE, key_pem, 0o600)
        _write_file(tmp / CHAIN_FILE, chain_pem, 0o644)
        _write_file(tmp / CA_FILE, ca_pem, 0o644)
        try:
            os.rename(tmp, target)  # atomic; fails if another process got there first
        except OSError:
            if not target.is_dir():
                raise
            # Lost the race: the other process's complete identity is the one to use.
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)


def _load(target: Path) -> SigningIdentity:
    x509 = _crypto()
    from cryptography.hazmat.primitives import serialization

    fix = f"delete {target} to make a new local identity (files signed with the old one stay valid)"
    try:
        key_pem = (target / KEY_FILE).read_bytes()
        chain_pem = (target / CHAIN_FILE).read_bytes()
        ca_pem = (target / CA_FILE).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{target}: C2PA signing identity is incomplete ({exc.strerror}: {exc.filename}); {fix}"
        ) from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        chain = x509.load_pem_x509_certificates(chain_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as exc:
        raise ConfigError(f"{target}: C2PA signing identity is unreadable ({exc}); {fix}") from exc
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if len(chain) != 2 or chain[1] != ca:
        raise ConfigError(f"{target}: {CHAIN_FILE} must hold the leaf then the CA of {CA_FILE}; {fix}")
    if key.public_key().public_bytes(der, pub) != chain[0].public_key().public_bytes(der, pub):
        raise ConfigError(f"{target}: {KEY_FILE} does not match the leaf certificate of {CHAIN_FILE}; {fix}")
    now = datetime.datetime.now(datetime.timezone.utc)
    if chain[0].not_valid_after_utc <= now:
        raise ConfigError(
            f"{target}: the local signing certificate expired on {chain[0].not_valid_after_utc:%Y-%m-%d}; {fix}"
        )
    return SigningIdentity(folder=target, key_pem=key_pem, chain_pem=chain_pem, ca_pem=ca_pem)


def local_identity(folder: str | os.PathLike[str] | None = None, *, create: bool = True) -> SigningIdentity:
    """Load the local signing identity under `folder` (default `c2pa_dir()`), making it on first use.

    With `create=False` a missing identity raises `ConfigError` instead (e.g. when only reading, to
    get the trust anchor). Raises `ConfigError` for a damaged or expired identity.
    """
    root = Path(folder).expanduser() if folder is not None else c2pa_dir()
    target = root / IDENTITY_NAME
    if not target.is_dir():
        if not create:
            raise ConfigError(
                f"{target}: no local C2PA signing identity yet (it is made at the first signing)"
            )
        if root.exists() and not root.is_dir():
            raise ConfigError(f"{root}: C2PA identity folder is a file; expected a folder")
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            _create(root, target)
        except OSError as exc:
            raise ConfigError(f"{root}: cannot create the C2PA signing identity ({exc})") from exc
    return _load(target)
