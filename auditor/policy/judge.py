"""Apply policy rules to check results and compute the one verdict and exit code.

Errors outrank findings: any check that could not finish (and is not marked
`on_error: ignore`) makes the audit incomplete, exit 2, whatever else was found.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import operator
from dataclasses import dataclass, field
from typing import Any

from ..checks.base import CheckResult, Finding, severity_rank

EXIT = {"pass": 0, "warn": 0, "fail": 1, "error": 2}
_CMP = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_IDENTITY_KEYS = ("trigger", "placement", "behaviour", "method", "signal", "import", "field", "member", "name")


def finding_id(f: Finding) -> str:
    """A fingerprint that stays the same across reruns: identity, not measured numbers."""
    ident = {"check": f.check, "rule": f.rule, "file": f.file, "location": f.location}
    ident.update({k: f.evidence.get(k) for k in _IDENTITY_KEYS if k in f.evidence})
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass
class Judgement:
    verdict: str
    exit_code: int
    rule_results: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    errors: list[dict[str, str]] = field(default_factory=list)


def _matches(rule: dict, f: Finding) -> bool:
    if f.check != rule["check"]:
        return False
    if not fnmatch.fnmatchcase(f.rule, rule.get("match", "*")):
        return False
    if severity_rank(f.severity) < severity_rank(rule.get("min_severity", "info")):
        return False
    metric = rule.get("metric")
    if metric:
        value = f.evidence.get(metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return _CMP[rule.get("comparison", ">=")](value, rule["threshold"])
    return True


def _waiver_for(waivers: list[dict], rule_id: str, fid: str) -> dict | None:
    for w in waivers:
        if w["rule"] == rule_id and fnmatch.fnmatchcase(fid, w.get("finding", "*")):
            return w
    return None


def judge(policy, results: list[CheckResult], pipeline_errors: list[dict[str, str]] | None = None) -> Judgement:
    errors = list(pipeline_errors or [])
    by_check = {r.id: r for r in results}
    all_findings: list[tuple[str, Finding]] = [(finding_id(f), f) for r in results for f in r.findings]
    annotations: dict[str, dict] = {fid: {"policy_rules": [], "waived": False} for fid, _ in all_findings}

    rule_results = []
    fails = warns = 0
    ignored_errors: set[str] = set()
    for rule in policy.rules:
        action = rule.get("action", "fail")
        res = by_check.get(rule["check"])
        base = {"rule": rule["id"], "check": rule["check"], "action": action, "severity": rule["severity"]}
        if res is None or res.status == "skipped":
            rule_results.append({**base, "status": "not_run", "findings": [], "message": "check did not run"})
            continue
        if res.status == "error":
            if rule.get("on_error", "fail") == "ignore":
                ignored_errors.add(res.id)
                rule_results.append({**base, "status": "not_run", "findings": [], "message": f"check errored (ignored by policy): {res.error}"})
            else:
                rule_results.append({**base, "status": "error", "findings": [], "message": f"check could not finish: {res.error}"})
            continue
        if res.status == "not_applicable":
            rule_results.append({**base, "status": "not_run", "findings": [], "message": "not applicable to this model"})
            continue
        hits = [(fid, f) for fid, f in all_findings if _matches(rule, f)]
        live, waived = [], []
        waiver_used = None
        for fid, f in hits:
            w = _waiver_for(policy.waivers, rule["id"], fid)
            if w:
                waived.append(fid)
                waiver_used = w
                annotations[fid]["waived"] = True
            else:
                live.append(fid)
                annotations[fid]["policy_rules"].append(rule["id"])
        if live:
            status = "violated"
            fails += action == "fail"
            warns += action == "warn"
            msg = f"{len(live)} finding(s) violate this rule"
        elif waived:
            status = "waived"
            msg = f"{len(waived)} finding(s) waived until {waiver_used['expires']} by {waiver_used['approver']}: {waiver_used['reason']}"
        else:
            status = "pass"
            msg = "no finding matches this rule"
        entry = {**base, "status": status, "findings": live + waived, "message": msg}
        if waiver_used and status == "waived":
            entry["waiver"] = waiver_used
        rule_results.append(entry)

    for r in results:
        if r.status == "error" and r.id not in ignored_errors:
            errors.append({"stage": f"check:{r.id}", "message": r.error or "unknown error"})

    if errors:
        verdict = "error"
    elif fails:
        verdict = "fail"
    elif warns:
        verdict = "warn"
    else:
        verdict = "pass"

    findings = []
    for fid, f in all_findings:
        d = {"id": fid, **f.to_dict()}
        if annotations[fid]["policy_rules"]:
            d["policy_rules"] = annotations[fid]["policy_rules"]
        if annotations[fid]["waived"]:
            d["waived"] = True
        findings.append(d)
    return Judgement(verdict, EXIT[verdict], rule_results, findings, errors)
