"""The provenance check on real model-signing signatures of a copy of a bundled model:
by key, by certificate chain and (error paths only, offline) by Sigstore identity.
Every tampering gives its named finding or an error, never a pass."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from auditor.checks.base import AuditContext
from auditor.checks.provenance import ProvenanceCheck
from auditor.report.keys import fingerprint
from auditor.resolve.local import resolve_local
from conftest import zoo_model
from provenance_signing import copy_model, sign_by_certificate, sign_by_key, write_ca_and_leaf, write_key

SIGNED_FILES = 7  # clean-chat: README, chat template, config, generation config, weights, tokenizer (2)


@pytest.fixture
def trust(tmp_path) -> Path:
    """The policy's folder: relative key and certificate paths resolve against it."""
    folder = tmp_path / "policy"
    folder.mkdir()
    return folder


@pytest.fixture
def key_signed(tmp_path, trust):
    model = copy_model(zoo_model("clean-chat"), tmp_path / "model")
    priv, pub, key = write_key(trust / "publisher")
    sign_by_key(model, priv)
    return model, {"method": "key", "public_keys": [pub.name]}, fingerprint(key.public_key())


@pytest.fixture
def cert_signed(tmp_path, trust):
    model = copy_model(zoo_model("clean-chat"), tmp_path / "model")
    pki = write_ca_and_leaf(trust, "acme")
    sign_by_certificate(model, pki)
    return model, {"method": "certificate", "certificate_chain": [pki["ca"].name]}


def audit(model: Path, settings: dict, policy_dir: Path):
    ctx = AuditContext(model=resolve_local(str(model)), policy_dir=policy_dir)
    return ProvenanceCheck().execute(ctx, settings)


def rules(result) -> list[str]:
    return sorted(f.rule for f in result.findings)


def test_key_signature_verifies_and_names_the_signer(key_signed, trust):
    model, settings, fp = key_signed
    res = audit(model, settings, trust)
    assert res.status == "pass" and res.findings == [], res.error
    d = res.details
    assert d["signed"] and d["verified"] and d["method"] == "key" and d["signer"] == fp
    assert d["signature_file"] == "model.sig" and d["files_verified"] == SIGNED_FILES
    assert d["unsigned_files"] == d["changed_files"] == d["missing_files"] == []
    assert d["library"]["name"] == "model-signing" and d["library"]["version"].startswith("1.")


def test_certificate_signature_verifies_and_names_the_leaf(cert_signed, trust):
    model, settings = cert_signed
    res = audit(model, settings, trust)
    assert res.status == "pass", (res.error, [f.title for f in res.findings])
    assert res.details["signer"] == "CN=acme release signing" and res.details["files_verified"] == SIGNED_FILES


def test_one_changed_byte_is_named_with_both_digests(key_signed, trust):
    model, settings, fp = key_signed
    cfg = model / "config.json"
    data = bytearray(cfg.read_bytes())
    data[5] ^= 0x01
    cfg.write_bytes(bytes(data))
    res = audit(model, settings, trust)
    assert res.status == "fail" and rules(res) == ["provenance.file_changed"]
    (f,) = res.findings
    assert f.severity == "critical" and f.file == "config.json" and f.evidence["signer"] == fp
    assert f.evidence["expected"] != f.evidence["actual"] and len(f.evidence["actual"]) == 64
    assert res.details["changed_files"] == ["config.json"] and not res.details["verified"]
    assert res.details["files_verified"] == SIGNED_FILES - 1


def test_added_file_is_unsigned_unless_allowed(key_signed, trust):
    model, settings, _ = key_signed
    (model / "extra.py").write_text("print('not signed')\n")
    res = audit(model, settings, trust)
    assert res.status == "fail" and rules(res) == ["provenance.file_unsigned"]
    assert res.findings[0].severity == "high" and res.details["unsigned_files"] == ["extra.py"]
    assert res.findings[0].evidence["sha256"] and not res.details["verified"]

    allowed = audit(model, {**settings, "allow_unsigned_files": True}, trust)
    assert allowed.status == "warn" and [f.severity for f in allowed.findings] == ["info"]
    assert allowed.details["verified"] and allowed.details["unsigned_files"] == ["extra.py"]


def test_removed_file_is_missing(key_signed, trust):
    model, settings, _ = key_signed
    (model / "tokenizer.json").unlink()
    res = audit(model, settings, trust)
    assert res.status == "fail" and rules(res) == ["provenance.file_missing"]
    assert res.details["missing_files"] == ["tokenizer.json"] and len(res.findings[0].evidence["expected"]) == 64


def test_key_the_policy_does_not_allow(key_signed, trust):
    model, _, _ = key_signed
    _, other, _ = write_key(trust / "someone-else")
    res = audit(model, {"method": "key", "public_keys": [other.name]}, trust)
    assert res.status == "fail" and rules(res) == ["provenance.signer_not_allowed"]
    assert res.findings[0].severity == "critical" and res.details["signed"] and not res.details["verified"]
    assert res.findings[0].evidence["allowed_keys"][0]["file"].endswith("someone-else.pub")


def test_certificate_from_another_ca_is_not_allowed(cert_signed, trust):
    model, _ = cert_signed
    other = write_ca_and_leaf(trust / "other", "evil")
    res = audit(model, {"method": "certificate", "certificate_chain": [f"other/{other['ca'].name}"]}, trust)
    assert res.status == "fail" and rules(res) == ["provenance.signer_not_allowed"]
    assert res.findings[0].evidence["certificate"]["subject"] == "CN=acme release signing"


def test_method_mismatch_is_not_allowed(cert_signed, trust):
    model, _ = cert_signed
    _, pub, _ = write_key(trust / "k")
    res = audit(model, {"method": "key", "public_keys": [pub.name]}, trust)
    assert res.status == "fail" and rules(res) == ["provenance.signer_not_allowed"]


def test_altered_signed_statement_is_an_invalid_signature(key_signed, trust):
    """Re-encode the DSSE payload with one digest changed: the key still matches, the signature does not."""
    model, settings, _ = key_signed
    sig = model / "model.sig"
    bundle = json.loads(sig.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(bundle))
    res = audit(model, settings, trust)
    assert res.status == "fail" and rules(res) == ["provenance.invalid_signature"]


@pytest.mark.parametrize("damage", ["truncate", "not-json", "no-envelope"])
def test_malformed_bundle_is_an_error(key_signed, trust, damage):
    model, settings, _ = key_signed
    sig = model / "model.sig"
    text = sig.read_text()
    sig.write_text({"truncate": text[: len(text) // 2], "not-json": "hello\x00", "no-envelope": json.dumps({"verificationMaterial": {}})}[damage])
    res = audit(model, settings, trust)
    assert res.status == "error" and rules(res) == ["provenance.malformed_bundle"]
    assert "model.sig" in res.error


def test_missing_public_key_file_is_an_error(key_signed, trust):
    model, _, _ = key_signed
    res = audit(model, {"method": "key", "public_keys": ["gone.pub"]}, trust)
    assert res.status == "error" and "gone.pub" in res.error and "not found" in res.error


def test_unreadable_key_is_an_error(key_signed, trust):
    model, _, _ = key_signed
    (trust / "junk.pub").write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    res = audit(model, {"method": "key", "public_keys": ["junk.pub"]}, trust)
    assert res.status == "error" and "junk.pub" in res.error


IDENTITY = [{"identity": "release@example.com", "oidc_issuer": "https://accounts.google.com"}]


@pytest.fixture
def sigstore_trusted_root(trust) -> str:
    """Sigstore's public-good trusted root as shipped inside sigstore-python: offline, no TUF fetch."""
    from importlib import resources

    src = resources.files("sigstore") / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev" / "trusted_root.json"
    if not src.is_file():
        pytest.skip("this sigstore-python build ships no trusted root")
    (trust / "trusted_root.json").write_bytes(src.read_bytes())
    return "trusted_root.json"


def test_sigstore_needs_an_offline_trust_root(key_signed, trust):
    model, _, _ = key_signed
    res = audit(model, {"method": "sigstore", "identities": IDENTITY}, trust)
    assert res.status == "error" and "trust_root" in res.error
    (trust / "trust.json").write_text('{"mediaType": "text/plain"}')
    res = audit(model, {"method": "sigstore", "identities": IDENTITY, "trust_root": "trust.json"}, trust)
    assert res.status == "error" and "trust.json" in res.error and "trusted root" in res.error


def test_sigstore_rejects_a_key_signed_model(key_signed, trust, sigstore_trusted_root):
    model, _, _ = key_signed
    res = audit(model, {"method": "sigstore", "identities": IDENTITY, "trust_root": sigstore_trusted_root}, trust)
    assert res.status == "fail" and rules(res) == ["provenance.signer_not_allowed"]
    assert res.findings[0].evidence["bundle_method"] == "key"


def test_sigstore_bundle_without_a_log_entry_is_never_a_pass(key_signed, trust, sigstore_trusted_root):
    """A self-made certificate dressed as a Sigstore bundle: rejected as malformed (exit 2)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    model, _, _ = key_signed
    pki = write_ca_and_leaf(trust / "fake", "fake")
    der = x509.load_pem_x509_certificate(pki["leaf"].read_bytes()).public_bytes(serialization.Encoding.DER)
    sig = model / "model.sig"
    bundle = json.loads(sig.read_text())
    bundle["verificationMaterial"] = {"certificate": {"rawBytes": base64.b64encode(der).decode()}, "tlogEntries": []}
    sig.write_text(json.dumps(bundle))
    res = audit(model, {"method": "sigstore", "identities": IDENTITY, "trust_root": sigstore_trusted_root}, trust)
    assert res.status == "error" and rules(res) == ["provenance.malformed_bundle"]


def test_unsigned_model_low_unless_required(tmp_path, trust):
    model = copy_model(zoo_model("clean-chat"), tmp_path / "model")
    res = audit(model, {}, trust)
    assert res.status == "warn" and rules(res) == ["provenance.unsigned"] and res.findings[0].severity == "low"
    assert res.details["signed"] is False and res.details["signer"] is None
    required = audit(model, {"require_signature": True}, trust)
    assert required.status == "fail" and required.findings[0].severity == "critical"


def test_signature_without_trust_material_is_unverified(key_signed, trust):
    model, _, _ = key_signed
    res = audit(model, {}, trust)
    assert res.status == "warn" and rules(res) == ["provenance.unverified"]
    assert res.details["signed"] and not res.details["verified"]


def test_sharded_blake2_signature_is_rehashed_and_compared(tmp_path, trust):
    model = copy_model(zoo_model("clean-chat"), tmp_path / "model")
    priv, pub, _ = write_key(trust / "publisher")
    sign_by_key(model, priv, shard_size=1 << 20)
    settings = {"method": "key", "public_keys": [pub.name]}
    assert audit(model, settings, trust).status == "pass"
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    res = audit(model, settings, trust)
    assert rules(res) == ["provenance.file_changed"]
    ev = res.findings[0].evidence
    assert ev["algorithm"] == "blake2b" and ev["shards_differing"] == 1 and ev["shards_signed"] >= 4


@pytest.mark.parametrize(
    "bad", [{"method": "pgp"}, {"require_signature": "yes"}, {"method": "key"}, {"public_keys": "a.pub"}]
)
def test_bad_settings_are_errors(key_signed, trust, bad):
    model, _, _ = key_signed
    res = audit(model, bad, trust)
    assert res.status == "error" and "provenance" in res.error


def test_signature_excluded_from_the_download_is_an_error(key_signed, trust):
    """`--exclude model.sig` on a hub model: listed, not downloaded, so neither verified nor "unsigned"."""
    model, settings, _ = key_signed
    resolved = resolve_local(str(model))
    (model / "model.sig").unlink()
    for f in resolved.files:
        if f.path == "model.sig":
            f.downloaded, f.sha256 = False, None
    res = ProvenanceCheck().execute(AuditContext(model=resolved, policy_dir=trust), settings)
    assert res.status == "error" and "excluded" in res.error


def test_detached_signature_outside_the_model(tmp_path, trust):
    """A signature shipped beside the model, named by an absolute `signature_path`."""
    model = copy_model(zoo_model("clean-chat"), tmp_path / "model")
    priv, pub, _ = write_key(trust / "publisher")
    sig = sign_by_key(model, priv)
    detached = sig.rename(tmp_path / "clean-chat.sig")
    res = audit(model, {"method": "key", "public_keys": [pub.name], "signature_path": str(detached)}, trust)
    assert res.status == "pass" and res.details["signature_file"] == str(detached)
    assert res.details["files_verified"] == SIGNED_FILES
