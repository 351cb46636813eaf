"""The `provenance` check: is this the model its publisher signed?

Runs first and needs no weights. It finds the OpenSSF model-signing signature
(`model.sig` at the model root unless `signature_path` says otherwise),
verifies it with the `model_signing` library by the method the policy names
(`key`, `certificate` or `sigstore`, always offline) and compares every signed
digest with the audit's own SHA-256 manifest, naming each file that changed,
went missing or was never signed. Relative key/certificate/trust-root paths are
resolved against the policy file's folder; `signature_path` against the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import AuditorError
from ..provenance import (
    MalformedBundleError,
    SignatureRejected,
    TrustMaterialError,
    compare_manifest,
    inspect_bundle,
    verify_signature,
)
from ..provenance.bundle import METHODS
from .base import Check, CheckResult, Finding, severity_rank

CHECK_ID = "provenance"


@dataclass
class ProvenanceSettings:
    require_signature: bool
    method: str | None
    public_keys: list[Path]
    certificate_chain: list[Path]
    identities: list[dict[str, str]]
    trust_root: Path | None
    allow_unsigned_files: bool
    signature_path: str


def _paths(value: Any, name: str, base: Path) -> list[Path]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AuditorError(f"provenance setting {name!r} must be a list of file paths, got {value!r}")
    return [(base / v) if not Path(v).is_absolute() else Path(v) for v in value]


def parse_settings(settings: dict[str, Any], policy_dir: Path | None) -> ProvenanceSettings:
    """Validate the merged settings; every problem names the setting (an error, never a pass)."""
    base = Path(policy_dir) if policy_dir is not None else Path.cwd()
    for name in ("require_signature", "allow_unsigned_files"):
        if not isinstance(settings.get(name), bool):
            raise AuditorError(f"provenance setting {name!r} must be true or false, got {settings.get(name)!r}")
    method = settings.get("method")
    if method is not None and method not in METHODS:
        raise AuditorError(f"provenance setting 'method' must be one of {', '.join(METHODS)} (or null), got {method!r}")
    identities = settings.get("identities") or []
    if not isinstance(identities, list) or not all(
        isinstance(i, dict) and isinstance(i.get("identity"), str) and isinstance(i.get("oidc_issuer"), str) for i in identities
    ):
        raise AuditorError("provenance setting 'identities' must be a list of {identity, oidc_issuer} strings")
    trust_root = settings.get("trust_root")
    if trust_root is not None and not (isinstance(trust_root, str) and trust_root):
        raise AuditorError(f"provenance setting 'trust_root' must be a file path, got {trust_root!r}")
    sig = settings.get("signature_path")
    if not (isinstance(sig, str) and sig):
        raise AuditorError(f"provenance setting 'signature_path' must be a path, got {sig!r}")
    cfg = ProvenanceSettings(
        require_signature=settings["require_signature"],
        method=method,
        public_keys=_paths(settings.get("public_keys") or [], "public_keys", base),
        certificate_chain=_paths(settings.get("certificate_chain") or [], "certificate_chain", base),
        identities=[{"identity": i["identity"], "oidc_issuer": i["oidc_issuer"]} for i in identities],
        trust_root=_paths([trust_root], "trust_root", base)[0] if trust_root else None,
        allow_unsigned_files=settings["allow_unsigned_files"],
        signature_path=sig,
    )
    needs = {"key": ("public_keys", cfg.public_keys), "certificate": ("certificate_chain", cfg.certificate_chain),
             "sigstore": ("identities", cfg.identities)}
    if method in needs and not needs[method][1]:
        raise AuditorError(f"provenance method {method!r} needs at least one entry in {needs[method][0]!r}")
    return cfg


def _library() -> dict[str, Any]:
    try:
        version = metadata.version("model-signing")
    except metadata.PackageNotFoundError:
        version = None
    return {"name": "model-signing", "version": version}


class ProvenanceCheck(Check):
    id = CHECK_ID
    description = (
        "Verifies the publisher's OpenSSF model-signing signature (key, certificate chain or Sigstore identity, "
        "offline) and that every signed file digest matches the audited files."
    )
    default_settings: dict[str, Any] = {
        "require_signature": False,
        "method": None,
        "public_keys": [],
        "certificate_chain": [],
        "identities": [],
        "trust_root": None,
        "allow_unsigned_files": False,
        "signature_path": "model.sig",
    }
    needs_weights = False

    def run(self, ctx, settings: dict[str, Any]) -> CheckResult:
        cfg = parse_settings(settings, ctx.policy_dir)
        model = ctx.model
        details: dict[str, Any] = {
            "signed": False, "verified": False, "method": cfg.method, "signer": None, "signature_file": None,
            "files_verified": 0, "unsigned_files": [], "changed_files": [], "missing_files": [], "library": _library(),
        }
        root = Path(model.path)
        sig_path = Path(cfg.signature_path) if Path(cfg.signature_path).is_absolute() else root / cfg.signature_path
        excluded = [f for f in model.files if f.path == cfg.signature_path and not getattr(f, "downloaded", True)]
        if excluded:
            msg = f"the signature {cfg.signature_path} is in the repository but was excluded from the download; it cannot be verified"
            return CheckResult(self.id, "error", settings, error=msg, details=details)
        if model.is_file or not (sig_path.exists() or sig_path.is_symlink()):
            return self._unsigned(settings, cfg, details, sig_path, model.is_file)
        sig_rel, sig_path = _locate_signature(sig_path, root, model.files)
        details["signed"] = True
        details["signature_file"] = sig_rel or str(sig_path)
        base = {"method": cfg.method, "signature_file": details["signature_file"]}
        try:
            if cfg.method is None:
                return self._unverified(settings, cfg, details, inspect_bundle(sig_path))
            signed = verify_signature(
                sig_path, cfg.method, public_keys=cfg.public_keys, certificate_chain=cfg.certificate_chain,
                identities=cfg.identities, trust_root=cfg.trust_root,
            )
            cmp = compare_manifest(signed, model.files, root, sig_rel)
        except MalformedBundleError as exc:
            finding = Finding(self.id, "provenance.malformed_bundle", "critical",
                              f"The signature {details['signature_file']} is malformed: {exc}",
                              {**base, "error": str(exc)}, file=sig_rel)
            return CheckResult(self.id, "error", settings, findings=[finding], error=str(exc), details=details)
        except TrustMaterialError as exc:
            return CheckResult(self.id, "error", settings, error=f"provenance trust material: {exc}", details=details)
        except SignatureRejected as rej:
            finding = Finding(self.id, f"provenance.{rej.rule}", "critical",
                              f"Signature {details['signature_file']} rejected ({rej.rule.replace('_', ' ')}): {rej.reason}",
                              {**base, "reason": rej.reason, **rej.evidence}, file=sig_rel)
            return CheckResult(self.id, "fail", settings, findings=[finding], details=details)

        details["signer"] = signed.signer
        base = {**base, "signer": signed.signer, **signed.signer_evidence}
        details.update(
            files_verified=len(cmp.verified),
            unsigned_files=[u["path"] for u in cmp.unsigned],
            changed_files=[c["path"] for c in cmp.changed],
            missing_files=[m["path"] for m in cmp.missing],
        )
        findings = self._file_findings(cmp, cfg, base)
        details["verified"] = not (cmp.changed or cmp.missing or cmp.unverifiable or (cmp.unsigned and not cfg.allow_unsigned_files))
        if cmp.unverifiable:
            msg = f"signed files not downloaded, so not verified: {', '.join(cmp.unverifiable[:10])}"
            return CheckResult(self.id, "error", settings, findings=findings, error=msg, details=details)
        return CheckResult(self.id, _status(findings), settings, findings=findings, details=details)

    def _file_findings(self, cmp, cfg: ProvenanceSettings, base: dict[str, Any]) -> list[Finding]:
        out = [
            Finding(self.id, "provenance.file_changed", "critical",
                    f"{c['path']} differs from the signed file ({c['algorithm']} digest mismatch)", {**base, **c}, file=c["path"])
            for c in cmp.changed
        ]
        out += [
            Finding(self.id, "provenance.file_missing", "high",
                    f"{m['path']} is signed but absent from the audited model", {**base, **m}, file=m["path"])
            for m in cmp.missing
        ]
        sev = "info" if cfg.allow_unsigned_files else "high"
        out += [
            Finding(self.id, "provenance.file_unsigned", sev,
                    f"{u['path']} is present but not covered by the signature", {**base, **u}, file=u["path"])
            for u in cmp.unsigned
        ]
        return out

    def _unsigned(self, settings, cfg, details, sig_path: Path, single_file: bool) -> CheckResult:
        sev = "critical" if cfg.require_signature else "low"
        why = ("a single file carries no model.sig (audit its folder to verify a signature)" if single_file
               else f"no signature at {cfg.signature_path}")
        finding = Finding(self.id, "provenance.unsigned", sev, f"The model is not signed: {why}",
                          {"method": cfg.method, "signature_path": str(sig_path), "require_signature": cfg.require_signature})
        return CheckResult(self.id, _status([finding]), settings, findings=[finding], details=details)

    def _unverified(self, settings, cfg, details, kind) -> CheckResult:
        """A signature is present but the policy names no trust material: say so, never call it verified."""
        sev = "critical" if cfg.require_signature else "low"
        finding = Finding(
            self.id, "provenance.unverified", sev,
            f"The model carries a {kind.method} signature ({kind.claimed_signer or 'signer unnamed'}) but the policy "
            "names no method and trust material to verify it",
            {"bundle_method": kind.method, "claimed_signer": kind.claimed_signer, "signature_file": details["signature_file"],
             "require_signature": cfg.require_signature},
            file=details["signature_file"],
        )
        return CheckResult(self.id, _status([finding]), settings, findings=[finding], details=details)


def _locate_signature(sig_path: Path, root: Path, files: list) -> tuple[str | None, Path]:
    """The signature's path inside the model (None when detached) and the path to read.

    A signature the resolver listed in the manifest may be a Hugging Face cache link
    into `blobs/` (the resolver accepts only those); read its target. Any other
    symbolic link is read as is, and the bundle reader refuses it.
    """
    try:
        rel = (sig_path.parent.resolve() / sig_path.name).relative_to(root.resolve()).as_posix()
    except ValueError:
        return None, sig_path
    if sig_path.is_symlink() and rel in {f.path for f in files}:
        return rel, sig_path.resolve()
    return rel, sig_path


def _status(findings: list[Finding]) -> str:
    """fail when something high or worse was found, warn for lesser findings, pass for none."""
    if any(severity_rank(f.severity) >= severity_rank("high") for f in findings):
        return "fail"
    return "warn" if findings else "pass"
