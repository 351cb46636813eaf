"""Validate a report dict against `schema.json` (JSON Schema Draft 2020-12).

Every report is validated before anything is written: a report that does not
match the schema is a bug in the pipeline, and a signed-but-malformed report is
worse than none. `validate_report` lists *every* problem with its JSON path, not
just the first, so the fix is one round trip.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from ..errors import ReportError

@functools.lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The report JSON Schema shipped with the package."""
    text = resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def _validator():
    from ..jsonschema_lite import draft202012

    return draft202012(load_schema())


def json_path(parts) -> str:
    """`$.findings[3].evidence` style path for an error location."""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(p)):
            out += f".{p}"
        else:
            out += f"[{json.dumps(str(p))}]"
    return out


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report_problems(report: Any) -> list[str]:
    """Every schema and cross-reference problem, as `"<json path>: <message>"`, sorted by path."""
    problems: list[tuple[str, str]] = []
    for err in _validator().iter_errors(report):
        # For oneOf/anyOf failures the leaf errors are more useful than "is not valid under any".
        leaves = [e for e in (err.context or []) if e.validator not in ("oneOf", "anyOf")]
        path = json_path(err.absolute_path)
        if err.validator in ("oneOf", "anyOf") and leaves:
            best = min(leaves, key=lambda e: len(e.absolute_path))
            msg = f"{_short(err.instance)} does not match any allowed form ({best.message})"
        elif err.validator == "additionalProperties":
            msg = err.message
        else:
            msg = err.message if len(err.message) <= 200 else err.message[:199] + "…"
        problems.append((path, msg))
    if isinstance(report, dict):
        problems.extend(_cross_reference_problems(report))
    problems = sorted(set(problems))
    return [f"{p}: {m}" for p, m in problems]


def _cross_reference_problems(report: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks JSON Schema cannot express: ids that must point at something."""
    out: list[tuple[str, str]] = []
    findings = report.get("findings")
    ids = {f.get("id") for f in findings if isinstance(f, dict)} if isinstance(findings, list) else set()
    rule_ids: set[str] = set()
    policy = report.get("policy")
    if isinstance(policy, dict) and isinstance(policy.get("rules"), list):
        rule_ids = {r.get("id") for r in policy["rules"] if isinstance(r, dict)}
    results = report.get("rule_results")
    if isinstance(results, list):
        for i, rr in enumerate(results):
            if not isinstance(rr, dict):
                continue
            for j, fid in enumerate(rr.get("findings") or []):
                if isinstance(fid, str) and fid not in ids:
                    out.append((json_path(["rule_results", i, "findings", j]), f"unknown finding id {fid!r}"))
            rule = rr.get("rule")
            if rule_ids and isinstance(rule, str) and rule not in rule_ids:
                out.append((json_path(["rule_results", i, "rule"]), f"rule {rule!r} is not in policy.rules"))
    if isinstance(findings, list) and rule_ids:
        for i, f in enumerate(findings):
            if not isinstance(f, dict):
                continue
            for j, rid in enumerate(f.get("policy_rules") or []):
                if isinstance(rid, str) and rid not in rule_ids:
                    out.append((json_path(["findings", i, "policy_rules", j]), f"rule {rid!r} is not in policy.rules"))
    return out


def validate_report(report: Any) -> None:
    """Raise `ReportError` listing every problem (with its JSON path) if `report` is invalid."""
    problems = report_problems(report)
    if problems:
        shown = problems[:50]
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        exc = ReportError(
            f"report does not match the report schema ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n  " + "\n  ".join(shown) + more
        )
        exc.problems = problems  # type: ignore[attr-defined]
        raise exc


def is_valid(report: Any) -> bool:
    return not report_problems(report)
