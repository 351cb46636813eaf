"""The `static_scan` check: wraps `auditor.scan.scan_path` (never imports torch or transformers)."""

from __future__ import annotations

import copy
from typing import Any

from ..scan import DEFAULT_SETTINGS, scan_path
from .base import Check, CheckResult, Finding


class StaticScanCheck(Check):
    id = "static_scan"
    description = (
        "Supply-chain scan of every file by content: pickle imports (default-deny), archives, safetensors "
        "headers, remote code, chat templates, other model formats and repository hygiene."
    )
    default_settings: dict[str, Any] = copy.deepcopy(DEFAULT_SETTINGS)
    needs_weights = False

    def run(self, ctx, settings: dict[str, Any]) -> CheckResult:
        model = ctx.model
        manifest = [f for f in getattr(model, "files", []) or [] if getattr(f, "downloaded", True)]
        report = scan_path(model.path, settings, manifest=manifest)
        for f in getattr(model, "files", []) or []:
            if not getattr(f, "downloaded", True):
                # Listed by the hub but excluded from the download: say so, never stay silent.
                report.findings.append(
                    Finding(
                        self.id, "scan.not_downloaded", "medium",
                        f"{f.path} was not downloaded (excluded) and so was not scanned",
                        {"path": f.path, "size": f.size, "hub_sha256": f.hub_sha256}, file=f.path,
                    )
                )
        details = report.to_details()
        if report.errors:
            msg = "static scan incomplete: " + "; ".join(report.errors[:5])
            if len(report.errors) > 5:
                msg += f" (+{len(report.errors) - 5} more)"
            return CheckResult(self.id, "error", settings, findings=report.findings, error=msg, details=details)
        status = "fail" if report.findings else "pass"
        return CheckResult(self.id, status, settings, findings=report.findings, details=details)
