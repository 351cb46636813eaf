"""Rerun an audit from its report and say whether the findings match.

An auditor who receives a report can check it: same model revision (by commit
SHA and content digest), same policy (by digest), same seed — same findings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import ReportError

# Evidence numbers that must reproduce exactly for the findings to "match".
_METRICS = ("triggered_rate", "baseline_rate", "n", "rate_before", "rate_after", "rate_with_trigger",
            "rate_without_trigger", "auroc", "persistence_ratio")


def load_original(path: str | Path) -> tuple[dict[str, Any], str]:
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        raw = p.read_bytes()
        report = json.loads(raw)
    except FileNotFoundError:
        raise ReportError("report to replay not found", path=str(p)) from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read report to replay: {exc}", path=str(p)) from None
    from .report.validate import validate_report

    validate_report(report)
    return report, hashlib.sha256(raw).hexdigest()


def request_from(original: dict[str, Any]) -> dict[str, Any]:
    """The audit parameters a replay must reuse."""
    model = original["model"]
    ref = model["id"]
    if model["source"] == "hub":
        ref = f"{model['id']}@{model['revision']}"
    policy_path = original["policy"]["path"]
    if not Path(policy_path).is_file():
        raise ReportError(f"the original policy file {policy_path} is not available for the replay")
    digest = hashlib.sha256(Path(policy_path).read_bytes()).hexdigest()
    if digest != original["policy"]["sha256"]:
        raise ReportError(f"the policy {policy_path} changed since the original audit (sha256 {digest[:12]}...)")
    repro = original["reproducibility"]
    checks = [c["id"] for c in original["checks"]]
    return {"model": ref, "policy_path": policy_path, "seed": repro["seed"], "only_checks": checks}


def _finding_key(f: dict) -> tuple:
    ev = f.get("evidence", {})
    return (f["id"],) + tuple((m, ev.get(m)) for m in _METRICS if m in ev)


def compare(original: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences; empty when the replay reproduced the original."""
    diffs = []
    if original["model"]["digest"]["sha256"] != new["model"]["digest"]["sha256"]:
        diffs.append("model content digest differs")
    if original["verdict"] != new["verdict"]:
        diffs.append(f"verdict {original['verdict']} -> {new['verdict']}")
    old = {f["id"]: f for f in original["findings"]}
    cur = {f["id"]: f for f in new["findings"]}
    for fid in sorted(old.keys() - cur.keys()):
        diffs.append(f"finding missing in replay: {old[fid]['title']}")
    for fid in sorted(cur.keys() - old.keys()):
        diffs.append(f"new finding in replay: {cur[fid]['title']}")
    for fid in sorted(old.keys() & cur.keys()):
        if _finding_key(old[fid]) != _finding_key(cur[fid]):
            diffs.append(f"evidence changed for: {old[fid]['title']}")
    return diffs
