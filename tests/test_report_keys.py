"""Key generation, loading, fingerprints and the default key."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography import x509

from auditor.errors import SignatureError
from auditor.report import keys


def test_keygen_writes_key_0600_pub_and_cert(tmp_path):
    old = os.umask(0o000)  # even with a permissive umask the key is 0600
    try:
        key_path, pub_path = keys.generate_keypair(tmp_path / "signer")
    finally:
        os.umask(old)
    assert key_path == tmp_path / "signer.key" and pub_path == tmp_path / "signer.pub"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert pub_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    cert = x509.load_pem_x509_certificate((tmp_path / "signer.crt").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=auditor report signing"
    priv = keys.load_private_key(key_path)
    fp = keys.fingerprint(priv.public_key())
    assert fp.startswith("SHA256:") and len(fp) == 7 + 64
    assert keys.fingerprint(keys.load_public_key(pub_path)) == fp
    assert keys.fingerprint(keys.load_public_key(tmp_path / "signer.crt")) == fp
    assert keys.algorithm_of(priv) == "ecdsa-p256"


def test_keygen_refuses_to_overwrite(tmp_path):
    keys.generate_keypair(tmp_path / "k")
    before = (tmp_path / "k.key").read_bytes()
    with pytest.raises(SignatureError):
        keys.generate_keypair(tmp_path / "k")
    assert (tmp_path / "k.key").read_bytes() == before


def test_ed25519_keys(tmp_path):
    key_path, pub_path = keys.generate_keypair(tmp_path / "ed", algorithm="ed25519")
    assert keys.algorithm_of(keys.load_private_key(key_path)) == "ed25519"
    assert keys.fingerprint(keys.load_public_key(pub_path)) == keys.fingerprint(keys.load_private_key(key_path))


def test_fingerprints_differ_between_keys(tmp_path):
    _, a = keys.generate_keypair(tmp_path / "a")
    _, b = keys.generate_keypair(tmp_path / "b")
    assert keys.fingerprint(keys.load_public_key(a)) != keys.fingerprint(keys.load_public_key(b))


def test_unreadable_or_unsupported_keys(tmp_path):
    with pytest.raises(SignatureError):
        keys.load_public_key(tmp_path / "missing.pub")
    junk = tmp_path / "junk.pub"
    junk.write_text("hello")
    with pytest.raises(SignatureError):
        keys.load_public_key(junk)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p384 = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "p384.key"
    path.write_bytes(
        p384.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(SignatureError, match="P-256"):
        keys.load_private_key(path)


def test_default_key_created_once_in_auditor_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITOR_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path, created = keys.default_key()
    assert created and path == tmp_path / "cfg" / "signing.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "cfg" / "signing.crt").exists() and (tmp_path / "cfg" / "signing.pub").exists()
    again, created2 = keys.default_key()
    assert again == path and not created2


def test_default_key_respects_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("AUDITOR_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path, created = keys.default_key()
    assert created and path == tmp_path / "xdg" / "auditor" / "signing.key"


def test_default_key_recreates_lost_cert(tmp_path):
    path, _ = keys.default_key(tmp_path)
    (tmp_path / "signing.crt").unlink()
    keys.default_key(tmp_path)
    cert = keys.load_certificate(tmp_path / "signing.crt")
    assert keys.same_public_key(cert.public_key(), keys.load_private_key(path).public_key())
