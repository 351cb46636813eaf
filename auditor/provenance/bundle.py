"""Read and verify a model-signing signature (`model.sig`) with the `model_signing` library.

The library's high-level `verifying.Config.verify` verifies the signature *and*
re-hashes the model, but only says "mismatch" as a message. We need the signed
manifest itself (to compare with the audit's own SHA-256 manifest file by file)
and to tell a bad signature from a signer the policy does not allow, so we drive
its verifiers one step lower: the verifier checks the envelope and returns the
payload, and `dsse_payload_to_manifest` turns that into the signed manifest.
Pinned to model-signing 1.x in pyproject.toml for that reason.

Three outcomes, kept apart because they mean different things to a buyer:
- `SignatureRejected`: the bundle is well formed but not acceptable
  (`invalid_signature`, `signer_not_allowed`): a policy violation;
- `MalformedBundleError`: the bundle cannot be parsed: the audit is incomplete;
- `TrustMaterialError`: the policy's key/certificate/trust root cannot be used:
  the audit is incomplete. Never a pass.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AuditorError

# A bundle lists one digest per file (or shard); 64 MiB is far beyond any real one.
MAX_SIGNATURE_BYTES = 64 * 2**20

METHODS = ("key", "certificate", "sigstore")


class MalformedBundleError(AuditorError):
    """The signature file is not a readable model-signing bundle."""


class TrustMaterialError(AuditorError):
    """A public key, certificate chain or trust root named by the policy cannot be used."""


class SignatureRejected(Exception):
    """A well-formed signature that the policy does not accept.

    `rule` is `invalid_signature` (the cryptography fails) or
    `signer_not_allowed` (it may verify, but not with what the policy trusts).
    """

    def __init__(self, rule: str, reason: str, evidence: dict[str, Any] | None = None):
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
        self.evidence = evidence or {}


@dataclass
class BundleKind:
    """What a bundle claims before anything is verified: how it was signed and by whom."""

    method: str
    claimed_signer: str | None


@dataclass
class SignedManifest:
    """A verified signature: who signed, and the digest of every signed file (or shard).

    `resources` maps the library's identifier (a posix path, or `path:start:end`
    for shards) to `(algorithm, hex digest)`.
    """

    method: str
    signer: str
    signer_evidence: dict[str, Any]
    serialization: dict[str, Any]
    resources: dict[str, tuple[str, str]] = field(default_factory=dict)


def _read_bundle_json(path: Path) -> dict[str, Any]:
    """The bundle as JSON, read with a size bound; never follows a symlink."""
    if path.is_symlink():
        raise MalformedBundleError("the signature is a symbolic link; refusing to follow it", path=str(path))
    try:
        size = path.stat().st_size
        if size > MAX_SIGNATURE_BYTES:
            raise MalformedBundleError(f"signature is {size} bytes, over the {MAX_SIGNATURE_BYTES}-byte limit", path=str(path))
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBundleError(f"not a JSON Sigstore bundle: {type(exc).__name__}: {exc}", path=str(path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("verificationMaterial"), dict):
        raise MalformedBundleError("not a Sigstore bundle: no verificationMaterial object", path=str(path))
    if not isinstance(data.get("dsseEnvelope"), dict):
        raise MalformedBundleError("not a model-signing bundle: no dsseEnvelope object", path=str(path))
    return data


def _der_certificate(raw_b64: Any, path: Path):
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(base64.b64decode(raw_b64, validate=True))
    except (TypeError, ValueError, binascii.Error) as exc:
        raise MalformedBundleError(f"the bundle's certificate cannot be parsed: {exc}", path=str(path)) from None


def _certificate_names(cert) -> dict[str, Any]:
    """Subject, issuer, SANs and fingerprint of a certificate: who it says it is."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san_values = [str(v) for v in sans.get_values_for_type(x509.RFC822Name)]
        san_values += [str(v) for v in sans.get_values_for_type(x509.UniformResourceIdentifier)]
        san_values += [str(v) for v in sans.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        san_values = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "san": san_values,
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }


def inspect_bundle(path: Path) -> BundleKind:
    """How the bundle was signed and whom it names, without verifying anything."""
    material = _read_bundle_json(path)["verificationMaterial"]
    if isinstance(material.get("publicKey"), dict):
        hint = material["publicKey"].get("hint")
        return BundleKind("key", f"public key with hint {hint}" if hint else None)
    chain = material.get("x509CertificateChain")
    if isinstance(chain, dict) and isinstance(chain.get("certificates"), list) and chain["certificates"]:
        first = chain["certificates"][0]
        leaf = _der_certificate(first.get("rawBytes") if isinstance(first, dict) else None, path)
        return BundleKind("certificate", leaf.subject.rfc4514_string())
    if isinstance(material.get("certificate"), dict):
        leaf = _der_certificate(material["certificate"].get("rawBytes"), path)
        names = _certificate_names(leaf)
        return BundleKind("sigstore", (names["san"] or [names["subject"]])[0])
    raise MalformedBundleError(
        "verificationMaterial holds no publicKey, x509CertificateChain or certificate", path=str(path)
    )


def _pem_key_hint(public_key) -> str:
    """model_signing's key hint: SHA-256 over the PEM SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise TrustMaterialError(f"{what} not found (or not a regular file)", path=str(path))


@contextlib.contextmanager
def _quiet():
    """The library prints warnings to stdout; keep them out of `--json -` output."""
    with contextlib.redirect_stdout(io.StringIO()):
        level = logging.getLogger("model_signing").level
        logging.getLogger("model_signing").setLevel(logging.ERROR)
        try:
            yield
        finally:
            logging.getLogger("model_signing").setLevel(level)


def _read_pb_signature(path: Path):
    from model_signing._signing import sign_sigstore_pb

    try:
        return sign_sigstore_pb.Signature.read(path)
    except Exception as exc:  # noqa: BLE001 — any parse failure of untrusted input is "malformed"
        raise MalformedBundleError(f"cannot parse the bundle: {type(exc).__name__}: {exc}", path=str(path)) from None


def _require_method(kind: BundleKind, method: str, accepts: str) -> None:
    """A bundle signed by another method than the policy names is a signer the policy does not allow."""
    if kind.method != method:
        raise SignatureRejected(
            "signer_not_allowed",
            f"the model was signed by {kind.method} ({kind.claimed_signer}); the policy accepts {accepts}",
            {"bundle_method": kind.method, "claimed_signer": kind.claimed_signer},
        )


def _verify_by_key(path: Path, kind: BundleKind, key_paths: list[Path]):
    from cryptography.exceptions import InvalidSignature
    from model_signing._signing import sign_ec_key

    from ..report.keys import fingerprint

    _require_method(kind, "key", "public keys only")
    verifiers = []
    for key_path in key_paths:
        _require_file(key_path, "public key")
        try:
            verifiers.append((key_path, sign_ec_key.Verifier(key_path)))
        except Exception as exc:  # noqa: BLE001
            raise TrustMaterialError(
                f"not a usable PEM EC public key (P-256, P-384 or P-521): {type(exc).__name__}: {exc}", path=str(key_path)
            ) from None
    signature = _read_pb_signature(path)
    try:
        hint = signature.bundle.verification_material.public_key.hint
    except AttributeError:
        raise MalformedBundleError("the bundle's public key identifier cannot be read", path=str(path)) from None
    allowed = [{"file": str(p), "fingerprint": fingerprint(v._public_key), "hint": _pem_key_hint(v._public_key)} for p, v in verifiers]
    failed_with: list[dict[str, Any]] = []
    for (key_path, verifier), info in zip(verifiers, allowed):
        if hint and hint != info["hint"]:
            continue
        try:
            with _quiet():
                payload_type, payload = verifier._verify_signed_content(signature)
        except InvalidSignature:
            failed_with.append(info)
            continue
        except Exception as exc:  # noqa: BLE001
            raise MalformedBundleError(f"cannot verify the envelope: {type(exc).__name__}: {exc}", path=str(path)) from None
        evidence = {"key_fingerprint": info["fingerprint"], "key_file": info["file"]}
        return payload_type, payload, info["fingerprint"], evidence
    if failed_with and hint:
        raise SignatureRejected(
            "invalid_signature",
            f"the signature does not verify with the signer's key {failed_with[0]['fingerprint']}: the signed content was altered",
            {"key_hint": hint, "key_fingerprint": failed_with[0]["fingerprint"], "key_file": failed_with[0]["file"]},
        )
    raise SignatureRejected(
        "signer_not_allowed",
        "no public key the policy allows verifies this signature"
        + (f" (it names a key with hint {hint})" if hint else ""),
        {"key_hint": hint, "allowed_keys": [{"file": a["file"], "fingerprint": a["fingerprint"]} for a in allowed]},
    )


def _verify_by_certificate(path: Path, kind: BundleKind, chain_paths: list[Path]):
    from cryptography.exceptions import InvalidSignature
    from model_signing._signing import sign_certificate
    from OpenSSL import crypto

    _require_method(kind, "certificate", "certificates only")
    for chain_path in chain_paths:
        _require_file(chain_path, "certificate chain")
    try:
        verifier = sign_certificate.Verifier(chain_paths)
    except Exception as exc:  # noqa: BLE001
        names = ", ".join(str(p) for p in chain_paths)
        raise TrustMaterialError(f"certificate chain {names} is not PEM X.509: {type(exc).__name__}: {exc}") from None
    signature = _read_pb_signature(path)
    raw = _read_bundle_json(path)["verificationMaterial"]["x509CertificateChain"]["certificates"]
    certs = [_der_certificate(c.get("rawBytes") if isinstance(c, dict) else None, path) for c in raw]
    leaf = _certificate_names(certs[0])
    evidence = {"certificate": leaf, "chain_files": [str(p) for p in chain_paths]}
    try:
        with _quiet():
            payload_type, payload = verifier._verify_signed_content(signature)
    except crypto.X509StoreContextError as exc:
        raise SignatureRejected(
            "signer_not_allowed", f"the signing certificate {leaf['subject']} does not chain to an allowed root: {exc}", evidence
        ) from None
    except InvalidSignature:
        raise SignatureRejected(
            "invalid_signature", f"the signature does not verify with certificate {leaf['subject']}: the signed content was altered", evidence
        ) from None
    except ValueError as exc:  # the certificate is not allowed to sign (key usage)
        raise SignatureRejected("signer_not_allowed", f"certificate {leaf['subject']}: {exc}", evidence) from None
    except Exception as exc:  # noqa: BLE001
        raise MalformedBundleError(f"cannot verify the envelope: {type(exc).__name__}: {exc}", path=str(path)) from None
    return payload_type, payload, leaf["subject"], evidence


class _RecordingPolicy:
    """Wraps a sigstore identity policy to learn whether *it* (not the crypto) said no."""

    def __init__(self, inner):
        self.inner = inner
        self.failure: str | None = None

    def verify(self, cert) -> None:
        try:
            self.inner.verify(cert)
        except Exception as exc:
            self.failure = str(exc)
            raise


_CLIENT_TRUST_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
# Verification reads only the trusted root; a client trust config still needs a signing config.
_EMPTY_SIGNING_CONFIG = {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"}


@contextlib.contextmanager
def _client_trust_config(trust_root: Path):
    """A ClientTrustConfig file for model_signing, from either that or a bare `trusted_root.json`.

    Both are what Sigstore publishes through TUF; the library reads only the
    former, so a trusted root is wrapped in a temporary file (never beside the user's).
    """
    import tempfile

    _require_file(trust_root, "Sigstore trust root")
    try:
        if trust_root.stat().st_size > MAX_SIGNATURE_BYTES:
            raise ValueError(f"over {MAX_SIGNATURE_BYTES} bytes")
        data = json.loads(trust_root.read_bytes().decode("utf-8"))
        media_type = str(data.get("mediaType", "")) if isinstance(data, dict) else ""
    except (OSError, ValueError) as exc:
        raise TrustMaterialError(f"not a JSON Sigstore trust root: {exc}", path=str(trust_root)) from None
    if media_type.startswith("application/vnd.dev.sigstore.clienttrustconfig"):
        yield trust_root
        return
    if not media_type.startswith("application/vnd.dev.sigstore.trustedroot"):
        raise TrustMaterialError(
            f"mediaType {media_type!r}: expected a Sigstore trusted root or client trust config", path=str(trust_root)
        )
    with tempfile.TemporaryDirectory(prefix="auditor-trust-") as tmp:
        wrapped = Path(tmp) / "client-trust-config.json"
        wrapped.write_text(json.dumps({"mediaType": _CLIENT_TRUST_CONFIG, "trustedRoot": data, "signingConfig": _EMPTY_SIGNING_CONFIG}))
        yield wrapped


def _verify_by_sigstore(path: Path, kind: BundleKind, identities: list[dict[str, str]], trust_root: Path | None):
    if trust_root is None:
        raise TrustMaterialError(
            "method sigstore needs `trust_root` (a Sigstore trusted_root.json or client trust config), "
            "so verification is offline"
        )
    with _client_trust_config(trust_root) as config:
        return _verify_sigstore_bundle(path, kind, identities, trust_root, config)


def _verify_sigstore_bundle(path: Path, kind: BundleKind, identities: list[dict[str, str]], trust_root: Path, config: Path):
    from model_signing._signing import sign_sigstore

    _require_method(kind, "sigstore", "Sigstore identities only")
    try:
        signature = sign_sigstore.Signature.read(path)
    except Exception as exc:  # noqa: BLE001
        raise MalformedBundleError(f"not a Sigstore bundle: {type(exc).__name__}: {exc}", path=str(path)) from None
    rejected: list[dict[str, Any]] = []
    for ident in identities:
        try:
            verifier = sign_sigstore.Verifier(identity=ident["identity"], oidc_issuer=ident["oidc_issuer"], trust_config=config)
        except Exception as exc:  # noqa: BLE001
            raise TrustMaterialError(
                f"not a usable Sigstore ClientTrustConfig: {type(exc).__name__}: {exc}", path=str(trust_root)
            ) from None
        recorder = _RecordingPolicy(verifier._policy)
        verifier._policy = recorder
        try:
            with _quiet():
                payload_type, payload = verifier._verify_signed_content(signature)
        except OSError as exc:  # includes network errors: offline verification was not possible
            raise TrustMaterialError(
                f"Sigstore verification could not complete offline with this trust root: {type(exc).__name__}: {exc}",
                path=str(trust_root),
            ) from None
        except Exception as exc:  # noqa: BLE001
            rejected.append({**ident, "reason": recorder.failure or f"{type(exc).__name__}: {exc}", "policy": recorder.failure is not None})
            continue
        evidence = {"identity": ident["identity"], "oidc_issuer": ident["oidc_issuer"], "trust_root": str(trust_root)}
        return payload_type, payload, ident["identity"], evidence
    evidence = {"claimed_signer": kind.claimed_signer, "tried": rejected, "trust_root": str(trust_root)}
    if rejected and all(r["policy"] for r in rejected):
        raise SignatureRejected(
            "signer_not_allowed", f"signed by {kind.claimed_signer}, which is not an allowed identity/issuer", evidence
        )
    raise SignatureRejected("invalid_signature", "the Sigstore bundle does not verify: " + rejected[-1]["reason"], evidence)


def _signed_manifest(path: Path, payload_type: str, payload: bytes):
    """The in-toto statement in a verified envelope, as a model_signing manifest."""
    from model_signing._signing import signing

    try:
        if payload_type != signing._IN_TOTO_JSON_PAYLOAD_TYPE:
            raise ValueError(f"payload type {payload_type!r}, expected {signing._IN_TOTO_JSON_PAYLOAD_TYPE!r}")
        statement = json.loads(payload)
        if statement.get("_type") != signing._IN_TOTO_STATEMENT_TYPE:
            raise ValueError(f"statement type {statement.get('_type')!r}, expected {signing._IN_TOTO_STATEMENT_TYPE!r}")
        return signing.dsse_payload_to_manifest(statement)
    except Exception as exc:  # noqa: BLE001 — signed but unusable is still malformed
        raise MalformedBundleError(f"the signed statement is not a model-signing manifest: {type(exc).__name__}: {exc}", path=str(path)) from None


def verify_signature(
    path: Path,
    method: str,
    *,
    public_keys: list[Path] = (),
    certificate_chain: list[Path] = (),
    identities: list[dict[str, str]] = (),
    trust_root: Path | None = None,
) -> SignedManifest:
    """Verify `path` by `method` against the policy's trust material; the signed manifest on success."""
    kind = inspect_bundle(path)
    if method == "key":
        payload_type, payload, signer, evidence = _verify_by_key(path, kind, list(public_keys))
    elif method == "certificate":
        payload_type, payload, signer, evidence = _verify_by_certificate(path, kind, list(certificate_chain))
    elif method == "sigstore":
        payload_type, payload, signer, evidence = _verify_by_sigstore(path, kind, list(identities), trust_root)
    else:
        raise TrustMaterialError(f"unknown verification method {method!r}; use one of {', '.join(METHODS)}")
    manifest = _signed_manifest(path, payload_type, payload)
    resources = {rd.identifier: (rd.digest.algorithm, rd.digest.digest_hex) for rd in manifest.resource_descriptors()}
    return SignedManifest(method, signer, evidence, dict(manifest.serialization_type), resources)
