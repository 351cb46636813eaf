"""Write the report files: validate, render, sign, and attest.

Order: fill `report["signing"]` → validate against the schema → render
report.json, report.pdf (PAdES-signed) and the requested extra formats in
memory → write them atomically into `out_dir` → write report.json.dsse, a DSSE
envelope whose in-toto statement names every written file (and the model) by
sha256. Nothing is written outside `out_dir` (except the default signing key,
created on first use in the user's config directory when no key is given).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from cryptography import x509

from ..errors import ReportError, SignatureError
from . import dsse, keys
from .validate import validate_report

REPORT_JSON = "report.json"
REPORT_PDF = "report.pdf"
ENVELOPE = "report.json.dsse"
EXTRA_FORMATS = {
    "sarif": "report.sarif", "junit": "report.junit.xml", "cyclonedx": "report.cdx.json", "html": "report.html",
}
ALIASES = {"cdx": "cyclonedx", "sbom": "cyclonedx", "mlbom": "cyclonedx", "xml": "junit", "junit-xml": "junit"}
ALWAYS = ("json", "pdf")
# every file name this module may write: used to clear stale ones and by `verify`
ARTIFACT_NAMES = (REPORT_JSON, REPORT_PDF, *EXTRA_FORMATS.values())


def normalise_formats(formats: Iterable[str] | str | None) -> list[str]:
    """['sarif', 'junit', ...] from a list or comma-separated string; json and pdf are handled apart."""
    if formats is None:
        return []
    if isinstance(formats, str):
        formats = [formats]
    out: list[str] = []
    for item in formats:
        for name in str(item).split(","):
            name = ALIASES.get(name.strip().lower(), name.strip().lower())
            if not name or name in ALWAYS:
                continue
            if name == "all":
                out += [n for n in EXTRA_FORMATS if n not in out]
                continue
            if name not in EXTRA_FORMATS:
                raise ReportError(
                    f"unknown report format {name!r}; choose from {', '.join((*ALWAYS, *EXTRA_FORMATS, 'all'))}"
                )
            if name not in out:
                out.append(name)
    return out


def resolve_signer(key_path: Path | None, cert_path: Path | None) -> tuple[keys.PrivateKey, x509.Certificate, Path]:
    """The signing key and its certificate.

    No key: the default key (created with its cert on first use). A key without a
    cert: PREFIX.crt beside it if present, else a self-signed cert made in memory
    (nothing is written next to the user's key).
    """
    if key_path is None:
        key_path, _created = keys.default_key()
        cert_path = cert_path or keys.ensure_cert(key_path)
    key_path = Path(key_path)
    key = keys.load_private_key(key_path)
    if cert_path is None and keys.cert_path_for(key_path).exists():
        cert_path = keys.cert_path_for(key_path)
    if cert_path is not None:
        cert = keys.load_certificate(cert_path)
        if not keys.same_public_key(cert.public_key(), key.public_key()):
            raise SignatureError("certificate does not match the signing key", path=str(cert_path))
    else:
        cert = keys.make_self_signed_cert(key)
    return key, cert, key_path


def _dump_json(report: dict[str, Any]) -> bytes:
    try:
        return (json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    except ValueError as exc:  # NaN / Infinity are not JSON
        raise ReportError(f"report contains a value JSON cannot hold: {exc}") from None
    except TypeError as exc:
        raise ReportError(f"report contains a non-JSON value: {exc}") from None


def _atomic_write(out_dir: Path, name: str, data: bytes) -> Path:
    target = out_dir / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)  # replaces a symlink rather than following it
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def render_artifacts(report: dict[str, Any], formats: list[str], key, cert, pdf: bool = True) -> dict[str, bytes]:
    """File name -> bytes for every artifact (the PDF already PAdES-signed).

    Renderers are imported only when their format is asked for, so a JSON-only
    run (a pre-commit hook) never loads reportlab or pyhanko.
    """
    out: dict[str, bytes] = {REPORT_JSON: _dump_json(report)}
    if pdf:
        from . import pades
        from .pdf import render_pdf

        verdict = str(report.get("verdict", "")).upper()
        out[REPORT_PDF] = pades.sign_pdf(
            render_pdf(report),
            key,
            cert,
            reason=f"auditor model audit of {report['model']['id']}: verdict {verdict}",
        )
    if "sarif" in formats:
        from .sarif import build_sarif

        out[EXTRA_FORMATS["sarif"]] = (json.dumps(build_sarif(report), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if "junit" in formats:
        from .junit import build_junit

        out[EXTRA_FORMATS["junit"]] = build_junit(report)
    if "cyclonedx" in formats:
        from .cyclonedx import build_cyclonedx

        out[EXTRA_FORMATS["cyclonedx"]] = build_cyclonedx(report).encode("utf-8")
    if "html" in formats:
        from .html import render_html

        out[EXTRA_FORMATS["html"]] = render_html(report)
    return out


def write_reports(
    report: dict[str, Any],
    out_dir: Path,
    formats: list[str] | str | None = None,
    key_path: Path | None = None,
    cert_path: Path | None = None,
    pdf: bool = True,
) -> dict[str, Path]:
    """Validate, render, sign and write the report; return {"json", "pdf", [sarif, junit, cyclonedx, html], "dsse"} -> path.

    `report` is not modified (a copy gets the `signing` block). `pdf=False`
    (the CLI's `--format json`) writes no report.pdf.
    """
    wanted = normalise_formats(formats)
    key, cert, _ = resolve_signer(Path(key_path) if key_path else None, Path(cert_path) if cert_path else None)
    report = copy.deepcopy(report)
    report["signing"] = {"algorithm": keys.algorithm_of(key), "key_fingerprint": keys.fingerprint(key.public_key())}
    validate_report(report)

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError("output path exists and is not a directory", path=str(out_dir))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create output directory: {exc.strerror or exc}", path=str(out_dir)) from None

    artifacts = render_artifacts(report, wanted, key, cert, pdf)
    envelope = dsse.sign_statement(dsse.build_statement(report, artifacts), key)
    envelope_bytes = dsse.envelope_bytes(envelope)

    written: dict[str, Path] = {}
    names = {REPORT_JSON: "json", REPORT_PDF: "pdf", **{v: k for k, v in EXTRA_FORMATS.items()}}
    try:
        # the old envelope first: a half-written directory must not verify
        (out_dir / ENVELOPE).unlink(missing_ok=True)
        for stale in ARTIFACT_NAMES:
            if stale not in artifacts:
                p = out_dir / stale
                if p.is_file() or p.is_symlink():
                    p.unlink()
        for name, data in artifacts.items():
            written[names[name]] = _atomic_write(out_dir, name, data)
        written["dsse"] = _atomic_write(out_dir, ENVELOPE, envelope_bytes)
    except OSError as exc:
        raise ReportError(f"cannot write report files: {exc.strerror or exc}", path=str(out_dir)) from None
    return written
