"""DSSE envelopes carrying an in-toto Statement v1 about the written report.

Envelope (https://github.com/secure-systems-lab/dsse):
    {"payloadType": "application/vnd.in-toto+json",
     "payload": base64(statement),
     "signatures": [{"keyid": "SHA256:<hex of DER SPKI>", "sig": base64(signature)}]}

The signature is over PAE(payloadType, payload) =
    b"DSSEv1 " + len(type) + b" " + type + b" " + len(body) + b" " + body
with ECDSA P-256 + SHA-256 (DER signature, "ecdsa-p256-sha256") or Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ..errors import SignatureError
from . import keys

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://auditor.dev/attestation/model-audit/v1"
MODEL_SUBJECT_PREFIX = "model:"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def _sign_bytes(key: keys.PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise SignatureError(f"unsupported key type {type(key).__name__}")


def _verify_bytes(pub: keys.PublicKey, sig: bytes, data: bytes) -> bool:
    try:
        if isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(sig, data)
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_envelope(payload: bytes, key: keys.PrivateKey, payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    """Sign `payload` and wrap it in a DSSE envelope (one signature, keyid = key fingerprint)."""
    sig = _sign_bytes(key, pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": keys.fingerprint(key.public_key()), "sig": base64.b64encode(sig).decode("ascii")}],
    }


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise SignatureError(f"DSSE envelope: {what} is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        try:  # DSSE allows URL-safe base64 too
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise SignatureError(f"DSSE envelope: {what} is not valid base64") from None


def verify_envelope(envelope: Any, pub: keys.PublicKey) -> tuple[str, bytes]:
    """Check that some signature in `envelope` verifies under `pub`; return (payloadType, payload).

    Raises `SignatureError` saying why not.
    """
    if not isinstance(envelope, dict):
        raise SignatureError("DSSE envelope is not a JSON object")
    for field in ("payloadType", "payload", "signatures"):
        if field not in envelope:
            raise SignatureError(f"DSSE envelope has no {field!r}")
    payload_type = envelope["payloadType"]
    if not isinstance(payload_type, str):
        raise SignatureError("DSSE envelope: payloadType is not a string")
    payload = _b64(envelope["payload"], "payload")
    sigs = envelope["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise SignatureError("DSSE envelope has no signatures")
    want = keys.fingerprint(pub)
    message = pae(payload_type, payload)
    keyids = []
    for i, entry in enumerate(sigs):
        if not isinstance(entry, dict) or "sig" not in entry:
            raise SignatureError(f"DSSE envelope: signatures[{i}] has no 'sig'")
        keyids.append(entry.get("keyid"))
        if _verify_bytes(pub, _b64(entry["sig"], f"signatures[{i}].sig"), message):
            if entry.get("keyid") not in (None, "", want):
                raise SignatureError(f"DSSE signature verifies but its keyid {entry.get('keyid')!r} is not {want}")
            return payload_type, payload
    if want not in keyids:
        raise SignatureError(
            f"DSSE signature was made by a different key (envelope keyid {', '.join(map(str, keyids))}, expected {want})"
        )
    raise SignatureError("DSSE signature does not verify (the envelope or its payload was modified)")


# --------------------------------------------------------------------------- in-toto statement


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_subject_name(report: dict[str, Any]) -> str:
    model = report["model"]
    return f"{MODEL_SUBJECT_PREFIX}{model['id']}@{model.get('revision') or 'local'}"


def build_statement(report: dict[str, Any], artifacts: dict[str, bytes | Path]) -> dict[str, Any]:
    """in-toto Statement v1: subjects are the written files (`artifacts` maps file name within
    the output directory -> its bytes or path) plus the audited model; the predicate
    summarises the verdict."""
    subjects = []
    for name in sorted(artifacts):
        content = artifacts[name]
        digest = hashlib.sha256(content).hexdigest() if isinstance(content, bytes) else sha256_file(Path(content))
        subjects.append({"name": name, "digest": {"sha256": digest}})
    subjects.append({"name": model_subject_name(report), "digest": {"sha256": report["model"]["digest"]["sha256"]}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate_for(report),
    }


def predicate_for(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "verdict": report["verdict"],
        "exit_code": report["exit_code"],
        "policy": {"name": report["policy"]["name"], "sha256": report["policy"]["sha256"]},
        "tool": {"name": report["tool"]["name"], "version": report["tool"]["version"]},
        "model": {"id": report["model"]["id"], "revision": report["model"].get("revision")},
        "finished_at": report["finished_at"],
    }


def statement_bytes(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def envelope_bytes(envelope: dict[str, Any]) -> bytes:
    """The canonical file form of an envelope (what the writer writes and verify expects)."""
    return (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode("utf-8")


def sign_statement(statement: dict[str, Any], key: keys.PrivateKey) -> dict[str, Any]:
    return sign_envelope(statement_bytes(statement), key)
