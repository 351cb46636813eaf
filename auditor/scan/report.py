"""Scan results: findings with evidence, compact per-file info, and why a scan is incomplete."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..checks.base import Finding, severity_rank

CHECK_ID = "static_scan"


@dataclass
class FileInfo:
    """What the scanner saw in one file or archive member (kept compact for reports)."""

    path: str
    format: str
    size: int | None = None
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "format": self.format}
        if self.size is not None:
            d["size"] = self.size
        if self.sha256:
            d["sha256"] = self.sha256
        d.update(self.extra)
        return d


@dataclass
class ScanReport:
    """Everything `scan_path` found. `errors` non-empty means the audit is incomplete."""

    root: str
    findings: list[Finding] = field(default_factory=list)
    files: list[FileInfo] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    license: str | None = None
    code_files: list[dict[str, Any]] = field(default_factory=list)
    _keys: dict[tuple, Finding] = field(default_factory=dict, repr=False)
    _per_file: dict[str, int] = field(default_factory=dict, repr=False)
    max_findings_per_file: int = 200

    @property
    def incomplete(self) -> bool:
        return bool(self.errors)

    def add(
        self,
        rule: str,
        severity: str,
        title: str,
        evidence: dict[str, Any] | None = None,
        file: str | None = None,
        location: str | None = None,
        key: Any = None,
    ) -> Finding | None:
        """Record a finding; repeats of the same (rule, file, key) only bump `evidence.count`."""
        evidence = dict(evidence or {})
        k = (rule, file, key if key is not None else repr(sorted(evidence.items()))[:500])
        prev = self._keys.get(k)
        if prev is not None:
            prev.evidence["count"] = prev.evidence.get("count", 1) + 1
            if severity_rank(severity) > severity_rank(prev.severity):
                prev.severity = severity
            return prev
        n = self._per_file.get(file or "", 0)
        self._per_file[file or ""] = n + 1
        if n == self.max_findings_per_file:
            f = Finding(CHECK_ID, "scan.findings_truncated", "medium",
                        "too many findings in one file; the rest are counted only", {"limit": n}, file)
            self.findings.append(f)
            return f
        if n > self.max_findings_per_file:
            return None
        f = Finding(CHECK_ID, rule, severity, title, evidence, file, location)
        self._keys[k] = f
        self.findings.append(f)
        return f

    def error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    def max_severity(self) -> str | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=severity_rank)

    def by_file(self, path: str) -> list[Finding]:
        return [f for f in self.findings if f.file == path or (f.file or "").startswith(path + "!")]

    def to_details(self) -> dict[str, Any]:
        """Compact JSON for `CheckResult.details`."""
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        d: dict[str, Any] = {
            "files": [fi.to_dict() for fi in self.files],
            "stats": self.stats,
            "findings_by_severity": counts,
        }
        if self.license:
            d["license"] = self.license
        if self.code_files:
            d["code_files"] = self.code_files
        if self.errors:
            d["incomplete"] = self.errors
        return d
