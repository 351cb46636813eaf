"""Real model-signing signatures for the provenance tests: EC keys and a CA + leaf made
with `cryptography`, signatures made with the `model_signing` library itself."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def copy_model(src: Path, dst: Path) -> Path:
    """A private copy: the tests sign, tamper and delete, never touching the bundled model."""
    shutil.copytree(src, dst)
    return dst


def write_key(prefix: Path) -> tuple[Path, Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    priv = prefix.with_suffix(".pem")
    pub = prefix.with_suffix(".pub")
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub, key


def _cert(subject: str, pub, issuer: str, signer_key, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(signer_key, hashes.SHA256())


def write_ca_and_leaf(folder: Path, name: str) -> dict[str, Path]:
    """A CA certificate and a code-signing leaf it issued (with the leaf's private key)."""
    folder.mkdir(parents=True, exist_ok=True)
    _, _, ca_key = write_key(folder / f"{name}-ca")
    leaf_priv, _, leaf_key = write_key(folder / f"{name}-leaf")
    ca = _cert(f"{name} root CA", ca_key.public_key(), f"{name} root CA", ca_key, ca=True)
    leaf = _cert(f"{name} release signing", leaf_key.public_key(), f"{name} root CA", ca_key, ca=False)
    paths = {"ca": folder / f"{name}-ca.crt", "leaf": folder / f"{name}-leaf.crt", "leaf_key": leaf_priv}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["leaf"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return paths


def _hashing(shard_size: int | None = None):
    import model_signing

    config = model_signing.hashing.Config()
    if shard_size:
        config.use_shard_serialization(shard_size=shard_size, hashing_algorithm="blake2")
    return config.set_ignored_paths(paths=["model.sig"])


def sign_by_key(model: Path, private_key: Path, *, shard_size: int | None = None) -> Path:
    import model_signing

    sig = model / "model.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=private_key).set_hashing_config(
        _hashing(shard_size)
    ).sign(model, sig)
    return sig


def sign_by_certificate(model: Path, pki: dict[str, Path]) -> Path:
    import model_signing

    sig = model / "model.sig"
    model_signing.signing.Config().use_certificate_signer(
        private_key=pki["leaf_key"], signing_certificate=pki["leaf"], certificate_chain=[pki["ca"]]
    ).set_hashing_config(_hashing()).sign(model, sig)
    return sig
