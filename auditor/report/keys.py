"""Signing keys: generation, loading, fingerprints, and the self-signed cert for PAdES.

Key type: ECDSA P-256 by default. pyhanko can sign PDFs with Ed25519 too, but
common PDF readers (poppler/NSS-based ones, for instance) cannot validate an
Ed25519 PDF signature, while P-256 is understood everywhere. Ed25519 keys are
still accepted everywhere (``generate_keypair(..., algorithm="ed25519")`` or a
user's own key): DSSE uses Ed25519 directly and PAdES uses Ed25519 with SHA-512.

Files written by `generate_keypair(PREFIX)`:
  PREFIX.key  PEM PKCS#8 private key, created with mode 0600 (never world-readable, not even briefly)
  PREFIX.pub  PEM SubjectPublicKeyInfo — hand this to whoever runs `auditor verify`
  PREFIX.crt  self-signed X.509 certificate (CN "auditor report signing") for the PDF signature
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from pathlib import Path
from typing import Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from ..errors import SignatureError

PrivateKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey]

ALGORITHMS = ("ecdsa-p256", "ed25519")
DEFAULT_ALGORITHM = "ecdsa-p256"
CERT_COMMON_NAME = "auditor report signing"
CERT_VALIDITY_DAYS = 3650
DEFAULT_KEY_NAME = "signing.key"


# --------------------------------------------------------------------------- generation


def _new_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise SignatureError(f"unsupported key algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the start (O_EXCL: never overwrite a key)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise SignatureError("refusing to overwrite an existing key", path=str(path)) from None
    except OSError as exc:
        raise SignatureError(f"cannot create key file: {exc.strerror or exc}", path=str(path)) from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # the umask can only narrow 0600, but be explicit
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise SignatureError(f"cannot write: {exc.strerror or exc}", path=str(path)) from None


def generate_keypair(prefix: str | os.PathLike, algorithm: str = DEFAULT_ALGORITHM) -> tuple[Path, Path]:
    """Write PREFIX.key (0600), PREFIX.pub and PREFIX.crt; return (key_path, pub_path).

    Refuses to overwrite an existing PREFIX.key.
    """
    prefix = Path(prefix)
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    crt_path = prefix.with_name(prefix.name + ".crt")
    if key_path.exists():
        raise SignatureError("refusing to overwrite an existing key", path=str(key_path))
    if not key_path.parent.is_dir():
        raise SignatureError("directory does not exist", path=str(key_path.parent))
    key = _new_private_key(algorithm)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(key_path, pem)
    _write_public(pub_path, public_pem(key.public_key()))
    _write_public(crt_path, make_self_signed_cert(key).public_bytes(serialization.Encoding.PEM))
    return key_path, pub_path


def make_self_signed_cert(key: PrivateKey, *, now: _dt.datetime | None = None) -> x509.Certificate:
    """A self-signed signing certificate for `key` (CN "auditor report signing", 10 years)."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_COMMON_NAME)])
    pub = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=CERT_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )
    algo = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algo)


# --------------------------------------------------------------------------- loading


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None


def _check_type(key, path: Path):
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SignatureError(f"unsupported EC curve {key.curve.name}; use P-256", path=str(path))
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return key
    raise SignatureError(
        f"unsupported key type {type(key).__name__}; use ECDSA P-256 or Ed25519 (auditor keygen)", path=str(path)
    )


def load_private_key(path: str | os.PathLike, password: bytes | None = None) -> PrivateKey:
    """Load a PEM (PKCS#8 or traditional) or DER private key. P-256 or Ed25519 only."""
    path = Path(path)
    data = _read(path)
    if password is None and os.environ.get("AUDITOR_KEY_PASSPHRASE"):
        password = os.environ["AUDITOR_KEY_PASSPHRASE"].encode()
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except TypeError as exc:  # encrypted without password or vice versa
        raise SignatureError(f"cannot load private key: {exc} (set AUDITOR_KEY_PASSPHRASE)", path=str(path)) from None
    except (ValueError, Exception) as exc:  # noqa: BLE001 - cryptography raises several kinds
        raise SignatureError(f"not a private key: {exc}", path=str(path)) from None
    return _check_type(key, path)


def load_public_key(path: str | os.PathLike) -> PublicKey:
    """Load a public key from a PEM SubjectPublicKeyInfo (.pub), an X.509 cert (.crt, PEM/DER).

    A private key file is accepted too (its public half is used).
    """
    path = Path(path)
    data = _read(path)
    key = None
    errors = []
    loaders = []
    if b"-----BEGIN CERTIFICATE" in data:
        loaders.append(lambda: x509.load_pem_x509_certificate(data).public_key())
    elif b"PUBLIC KEY-----" in data:
        loaders.append(lambda: serialization.load_pem_public_key(data))
    elif b"PRIVATE KEY-----" in data:
        loaders.append(lambda: load_private_key(path).public_key())
    else:
        loaders += [
            lambda: serialization.load_der_public_key(data),
            lambda: x509.load_der_x509_certificate(data).public_key(),
        ]
    for loader in loaders:
        try:
            key = loader()
            break
        except SignatureError:
            raise
        except Exception as exc:  # noqa: BLE001
            errors.append(str(exc))
    if key is None:
        raise SignatureError("not a public key or certificate" + (f" ({errors[0]})" if errors else ""), path=str(path))
    return _check_type(key, path)


def load_certificate(path: str | os.PathLike) -> x509.Certificate:
    path = Path(path)
    data = _read(path)
    try:
        if b"-----BEGIN CERTIFICATE" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except Exception as exc:  # noqa: BLE001
        raise SignatureError(f"not an X.509 certificate: {exc}", path=str(path)) from None


# --------------------------------------------------------------------------- identity


def public_pem(pub: PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_der(pub: PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(pub: PublicKey | PrivateKey) -> str:
    """`SHA256:<hex>` over the DER SubjectPublicKeyInfo (a private key's public half)."""
    if hasattr(pub, "private_bytes"):
        pub = pub.public_key()
    return "SHA256:" + hashlib.sha256(spki_der(pub)).hexdigest()


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    """`ecdsa-p256` or `ed25519` (the names used in report.json's `signing.algorithm`)."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ecdsa-p256"
    raise SignatureError(f"unsupported key type {type(key).__name__}")


def same_public_key(a: PublicKey, b: PublicKey) -> bool:
    return spki_der(a) == spki_der(b)


# --------------------------------------------------------------------------- default key


def config_dir() -> Path:
    """`$AUDITOR_CONFIG_DIR`, else `$XDG_CONFIG_HOME/auditor`, else `~/.config/auditor`."""
    env = os.environ.get("AUDITOR_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg).expanduser() / "auditor"
    return Path.home() / ".config" / "auditor"


def cert_path_for(key_path: Path) -> Path:
    """PREFIX.crt beside PREFIX.key."""
    return key_path.with_suffix(".crt")


def pub_path_for(key_path: Path) -> Path:
    return key_path.with_suffix(".pub")


def default_key(config_dir_: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The user's default signing key, created (with .pub and .crt) on first use.

    Returns (key_path, created). The directory is created with mode 0700. If the
    key exists but its certificate was lost, a new self-signed cert is made for it.
    """
    base = Path(config_dir_) if config_dir_ is not None else config_dir()
    key_path = base / DEFAULT_KEY_NAME
    if key_path.exists():
        ensure_cert(key_path)
        if not pub_path_for(key_path).exists():
            _write_public(pub_path_for(key_path), public_pem(load_private_key(key_path).public_key()))
        return key_path, False
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise SignatureError(f"cannot create config directory: {exc.strerror or exc}", path=str(base)) from None
    generate_keypair(key_path.with_suffix(""))
    return key_path, True


def ensure_cert(key_path: Path) -> Path:
    """Return PREFIX.crt for `key_path`, creating a self-signed one if it is missing."""
    crt = cert_path_for(key_path)
    if not crt.exists():
        key = load_private_key(key_path)
        _write_public(crt, make_self_signed_cert(key).public_bytes(serialization.Encoding.PEM))
    return crt
