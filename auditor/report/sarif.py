"""SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).

One `reportingDescriptor` per (check, finding rule); one result per finding,
with a stable `partialFingerprints` entry (the finding id) so alerts are
tracked across runs, a physical location (the finding's file, else the model's
config.json / README.md), and `suppressions` for waived findings.
`runs[0].automationDetails.id` is "auditor/<model id>/", so audits of several
models uploaded from one repository are kept apart.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://auditor.dev/"
FINGERPRINT_KEY = "auditorFindingId/v1"

SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}  # info: none
SEVERITY_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
ACTION_LEVEL = {"fail": "error", "warn": "warning"}
_SEV_RANK = {s: i for i, s in enumerate(("info", "low", "medium", "high", "critical"))}

CHECK_HELP = {
    "static_scan": (
        "The model's files were scanned without loading them. Pickle-based files that import callables able to run "
        "code (os.system, builtins.exec, subprocess, ...) execute that code when loaded with torch.load or pickle. "
        "Do not load the file; prefer the safetensors weights, or obtain a clean revision."
    ),
    "known_triggers": (
        "A known backdoor trigger from the battery changed the model's behaviour significantly compared to the same "
        "prompts without it. Treat the model as backdoored: do not deploy this revision."
    ),
    "trigger_search": (
        "Trigger search found an input pattern that changes the model's behaviour significantly. Review the examples "
        "in the PDF report; treat the model as backdoored unless the behaviour is explained."
    ),
    "persistence": (
        "The backdoor survived simulated safety training: the rate of triggered behaviour stayed high after the listed "
        "fine-tuning steps. Safety training alone is not a remedy for this model."
    ),
    "scratchpad": (
        "The model's hidden reasoning (scratchpad/chain of thought) reasons about deployment or deception when "
        "triggered, a sign of a deliberately planted conditional policy."
    ),
}


def _uri(path: str) -> str:
    """A relative uri-reference for a repository path."""
    path = path.replace("\\", "/").lstrip("/")
    return urllib.parse.quote(path, safe="/-._~") or "model"


def _fallback_uri(report: dict[str, Any]) -> str:
    files = [f.get("path") for f in report.get("model", {}).get("files", []) if isinstance(f, dict)]
    for name in ("config.json", "README.md"):
        if name in files:
            return name
    if report.get("model", {}).get("source") == "local_file" and files:
        return files[0]
    return "config.json"


def _rule_id(f: dict[str, Any]) -> str:
    return f"{f.get('check')}/{f.get('rule')}"


def _message(f: dict[str, Any]) -> str:
    ev = f.get("evidence") if isinstance(f.get("evidence"), dict) else {}
    parts = [str(f.get("title", "")).strip()]
    if isinstance(ev.get("triggered_rate"), (int, float)) and isinstance(ev.get("baseline_rate"), (int, float)):
        extra = f"rate {ev['triggered_rate']:.1%} with trigger vs {ev['baseline_rate']:.1%} without"
        if isinstance(ev.get("n"), int):
            extra += f" (n={ev['n']}"
            extra += f", p={ev['p_value']:.2g})" if isinstance(ev.get("p_value"), (int, float)) else ")"
        parts.append(extra)
    elif isinstance(ev.get("rate_before"), (int, float)) and isinstance(ev.get("rate_after"), (int, float)):
        parts.append(f"backdoor rate {ev['rate_before']:.1%} -> {ev['rate_after']:.1%} after {ev.get('method')} training")
    elif isinstance(ev.get("rate_with_trigger"), (int, float)):
        parts.append(f"{ev.get('signal')}: {ev['rate_with_trigger']:.1%} with trigger vs {ev.get('rate_without_trigger')}")
    text = ". ".join(p for p in parts if p)
    return _printable(text) or "finding"


def _printable(text: str) -> str:
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "?", text)


def build_sarif(report: dict[str, Any]) -> dict[str, Any]:
    """The SARIF log (a dict) for `report`."""
    tool = report.get("tool", {})
    model = report.get("model", {})
    policy = report.get("policy", {})
    rules_by_id: dict[str, dict[str, Any]] = {}
    policy_rules = {r.get("id"): r for r in policy.get("rules", []) if isinstance(r, dict)}
    findings = [f for f in report.get("findings", []) if isinstance(f, dict)]

    # rules: one per check/rule seen in findings, severity = the worst among its findings
    for f in findings:
        rid = _rule_id(f)
        entry = rules_by_id.setdefault(rid, {"check": f.get("check"), "rule": f.get("rule"), "sev": "info", "policy": []})
        if _SEV_RANK.get(f.get("severity"), 0) >= _SEV_RANK.get(entry["sev"], 0):
            entry["sev"] = f.get("severity")
        for pr in f.get("policy_rules") or []:
            if pr not in entry["policy"]:
                entry["policy"].append(pr)
    rule_ids = sorted(rules_by_id)
    rules = []
    for rid in rule_ids:
        e = rules_by_id[rid]
        descs = [
            str(policy_rules[p].get("description")) for p in e["policy"] if p in policy_rules and policy_rules[p].get("description")
        ]
        full = " ".join(descs) or f"Finding {e['rule']} of the {e['check']} check."
        help_text = CHECK_HELP.get(
            str(e["check"]), "See the signed PDF report for the evidence behind this finding."
        )
        props: dict[str, Any] = {"tags": sorted({"security", "ml-model", "backdoor", str(e["check"])}), "check": e["check"]}
        if e["sev"] in SECURITY_SEVERITY:
            props["security-severity"] = SECURITY_SEVERITY[e["sev"]]
        if e["policy"]:
            props["policy_rules"] = e["policy"]
        rules.append(
            {
                "id": rid,
                "name": re.sub(r"[^A-Za-z0-9]+", " ", f"{e['check']} {e['rule']}").title().replace(" ", ""),
                "shortDescription": {"text": _printable(f"{e['check']}: {e['rule']}")},
                "fullDescription": {"text": _printable(full)},
                "help": {"text": _printable(help_text), "markdown": _printable(help_text)},
                "defaultConfiguration": {"level": SEVERITY_LEVEL.get(e["sev"], "warning")},
                "properties": props,
            }
        )
    index = {rid: i for i, rid in enumerate(rule_ids)}

    fallback = _fallback_uri(report)
    results = []
    for f in findings:
        actions = [policy_rules[p].get("action", "fail") for p in f.get("policy_rules") or [] if p in policy_rules]
        if "fail" in actions:
            level = "error"
        elif "warn" in actions:
            level = "warning"
        else:
            level = SEVERITY_LEVEL.get(f.get("severity"), "warning")
        region: dict[str, Any] = {"startLine": 1}
        # "outer.bin!inner/data.pkl" names a member of an archive: locate the outer file
        file = str(f.get("file") or "")
        outer, _, member = file.partition("!")
        loc: dict[str, Any] = {
            "physicalLocation": {"artifactLocation": {"uri": _uri(outer or fallback)}, "region": region}
        }
        where = "; ".join(x for x in (f"member {member}" if member else "", str(f.get("location") or "")) if x)
        if where:
            loc["message"] = {"text": _printable(where)}
        result: dict[str, Any] = {
            "ruleId": _rule_id(f),
            "ruleIndex": index[_rule_id(f)],
            "level": level,
            "message": {"text": _message(f)},
            "locations": [loc],
            "partialFingerprints": {FINGERPRINT_KEY: str(f.get("id"))},
            "properties": {
                "severity": f.get("severity"),
                "check": f.get("check"),
                "finding_id": f.get("id"),
                **({"policy_rules": list(f["policy_rules"])} if f.get("policy_rules") else {}),
            },
        }
        if f.get("waived"):
            waiver = next(
                (
                    rr.get("waiver")
                    for rr in report.get("rule_results", [])
                    if isinstance(rr, dict) and f.get("id") in (rr.get("findings") or []) and isinstance(rr.get("waiver"), dict)
                ),
                None,
            )
            sup: dict[str, Any] = {"kind": "external", "status": "accepted"}
            reason = (waiver or {}).get("reason") or (waiver or {}).get("justification")
            if reason:
                sup["justification"] = _printable(str(reason))
            result["suppressions"] = [sup]
        results.append(result)

    invocation: dict[str, Any] = {
        "executionSuccessful": report.get("verdict") != "error",
        "exitCode": report.get("exit_code"),
        "startTimeUtc": _utc(report.get("started_at")),
        "endTimeUtc": _utc(report.get("finished_at")),
    }
    command = report.get("reproducibility", {}).get("command")
    if isinstance(command, list) and command:
        invocation["arguments"] = [str(a) for a in command]
    notes = [
        {"level": "error", "message": {"text": _printable(f"{e.get('stage')}: {e.get('message')}")}, "descriptor": {"id": str(e.get("stage"))}}
        for e in report.get("errors", [])
        if isinstance(e, dict)
    ]
    if notes:
        invocation["toolExecutionNotifications"] = notes
    invocation = {k: v for k, v in invocation.items() if v is not None}

    driver: dict[str, Any] = {
        "name": str(tool.get("name", "auditor")),
        "version": str(tool.get("version", "0")),
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    if re.fullmatch(r"\d+\.\d+\.\d+(?:[-+].*)?", driver["version"]):
        driver["semanticVersion"] = driver["version"]
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"auditor/{model.get('id')}/"},
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "verdict": report.get("verdict"),
            "model": {
                "id": model.get("id"),
                "revision": model.get("revision"),
                "digest": (model.get("digest") or {}).get("sha256"),
            },
            "policy": {"name": policy.get("name"), "sha256": policy.get("sha256")},
        },
    }
    if model.get("source") == "hub" and model.get("revision"):
        endpoint = str(model.get("endpoint") or "https://huggingface.co").rstrip("/")
        run["versionControlProvenance"] = [
            {"repositoryUri": f"{endpoint}/{urllib.parse.quote(str(model.get('id')), safe='/-._~')}", "revisionId": model["revision"]}
        ]
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _utc(value: Any) -> str | None:
    """SARIF wants UTC date-times ("Z")."""
    import datetime as _dt

    if not isinstance(value, str):
        return None
    try:
        t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
