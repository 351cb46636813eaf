"""Provenance: is this the model its publisher signed?

Verifies an OpenSSF model-signing signature (a Sigstore bundle holding a DSSE
envelope over an in-toto statement of every file's digest) with the
`model_signing` library, then compares the signed digests with the audit's own
SHA-256 manifest file by file. Nothing here executes or modifies model files.
"""

from .bundle import (
    BundleKind,
    MalformedBundleError,
    SignatureRejected,
    SignedManifest,
    TrustMaterialError,
    inspect_bundle,
    verify_signature,
)
from .compare import Comparison, compare_manifest

__all__ = [
    "BundleKind",
    "Comparison",
    "MalformedBundleError",
    "SignatureRejected",
    "SignedManifest",
    "TrustMaterialError",
    "compare_manifest",
    "inspect_bundle",
    "verify_signature",
]
