"""Reporting and signing: report.json (schema-validated), report.pdf (PAdES-signed),
SARIF / JUnit / CycloneDX / HTML exports, a DSSE in-toto attestation over all of them,
verification, and report diffs.

Entry points: `write_reports` (writer), `verify.verify`, `diff_reports` (diff),
`validate_report` (validate), `generate_keypair` / `default_key` (keys), and the
click commands in `commands`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["write_reports", "diff_reports", "validate_report", "generate_keypair", "default_key"]


def __getattr__(name: str) -> Any:  # lazy: importing the package must stay cheap
    if name == "write_reports":
        from .writer import write_reports

        return write_reports
    if name == "diff_reports":
        from .diff import diff_reports

        return diff_reports
    if name == "validate_report":
        from .validate import validate_report

        return validate_report
    if name in ("generate_keypair", "default_key"):
        from . import keys

        return getattr(keys, name)
    raise AttributeError(name)
