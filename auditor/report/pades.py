"""PAdES signature on report.pdf (pyhanko), and its validation.

The PDF is signed in place as a *certification* signature (DocMDP: no changes
allowed), so a PDF reader shows it as signed/certified by "auditor report
signing". Trust is pinned, not path-based: the signer certificate's public key
must be the key the verifier was given (a self-signed cert is fine), and the
signature must cover the *entire* file — any byte appended after signing (an
incremental update, or junk) is rejected.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Iterator

from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ..errors import SignatureError
from . import keys

FIELD_NAME = "AuditorSignature"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """pyhanko logs warnings (revocation, fetching) that are noise for a pinned self-signed cert."""
    loggers = [logging.getLogger(n) for n in ("pyhanko", "pyhanko_certvalidator", "pyhanko.sign")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, old):
            lg.setLevel(level)


def _asn1_cert(cert: x509.Certificate) -> ax509.Certificate:
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def sign_pdf(
    pdf: bytes,
    key: keys.PrivateKey,
    cert: x509.Certificate,
    *,
    reason: str | None = None,
    location: str | None = None,
) -> bytes:
    """Return `pdf` with a PAdES (ETSI.CAdES.detached) certification signature by `key`/`cert`."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    if not keys.same_public_key(cert.public_key(), key.public_key()):
        raise SignatureError("the signing certificate does not belong to the signing key")
    acert = _asn1_cert(cert)
    akey = akeys.PrivateKeyInfo.load(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    signer = signers.SimpleSigner(
        signing_cert=acert, signing_key=akey, cert_registry=SimpleCertificateStore.from_certs([acert])
    )
    md = "sha512" if isinstance(key, ed25519.Ed25519PrivateKey) else "sha256"
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm=md,
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        reason=reason,
        location=location,
        name=keys.CERT_COMMON_NAME,
    )
    try:
        with _quiet():
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
            out = signers.sign_pdf(writer, meta, signer=signer)
    except SignatureError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyhanko raises many types
        raise SignatureError(f"PAdES signing failed: {type(exc).__name__}: {exc}") from None
    return out.getvalue()


def verify_pdf(pdf: bytes | Path, expected: keys.PublicKey) -> str:
    """Validate the PDF's signature against `expected`; return a one-line description.

    Raises `SignatureError` with the reason when the PDF is unsigned, modified,
    signed by another key, or has bytes after the signed revision.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    if isinstance(pdf, Path):
        try:
            pdf = pdf.read_bytes()
        except OSError as exc:
            raise SignatureError(f"cannot read PDF: {exc.strerror or exc}") from None
    try:
        with _quiet():
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            sigs = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001
        raise SignatureError(f"PDF cannot be parsed: {type(exc).__name__}: {exc}") from None
    if not sigs:
        raise SignatureError("PDF has no signature")
    sig = sigs[-1]
    try:
        signer_cert = sig.signer_cert
    except Exception as exc:  # noqa: BLE001
        raise SignatureError(f"PDF signature is malformed: {type(exc).__name__}: {exc}") from None
    try:
        signer_pub = serialization.load_der_public_key(signer_cert.public_key.dump())
    except Exception as exc:  # noqa: BLE001
        raise SignatureError(f"PDF signer certificate has an unreadable key: {exc}") from None
    if not keys.same_public_key(signer_pub, expected):
        raise SignatureError(
            f"PDF was signed by a different key ({keys.fingerprint(signer_pub)}, expected {keys.fingerprint(expected)})"
        )
    try:
        with _quiet():
            vc = ValidationContext(trust_roots=[signer_cert], allow_fetching=False)
            status = validate_pdf_signature(sig, vc)
    except Exception as exc:  # noqa: BLE001
        raise SignatureError(f"PDF signature cannot be validated: {type(exc).__name__}: {exc}") from None
    if not status.intact:
        raise SignatureError("PDF signature is broken: the signed bytes were modified")
    if not status.valid:
        raise SignatureError("PDF signature is invalid (cryptographic check failed)")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        raise SignatureError(
            f"PDF signature does not cover the entire file (coverage: {status.coverage.name}): "
            "bytes were added after signing"
        )
    if not status.trusted:
        raise SignatureError("PDF signer certificate is not valid now (expired or not yet valid, or wrong key usage)")
    if status.docmdp_ok is False:
        raise SignatureError("PDF was modified in a way its certification signature forbids")
    when = status.signer_reported_dt.isoformat() if status.signer_reported_dt else "unknown time"
    return f"PAdES signature valid, covers the entire file, signed {when} by {keys.fingerprint(signer_pub)}"
