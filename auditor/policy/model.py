"""Load and validate a policy file; refuse expired or dangling waivers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PolicyError
from ..yamlio import read_yaml, schema_errors

SCHEMA = Path(__file__).with_name("schema.json")


@dataclass
class Policy:
    name: str
    path: str
    sha256: str
    checks: dict[str, dict[str, Any]]
    rules: list[dict[str, Any]]
    waivers: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    probe: dict[str, Any] = field(default_factory=dict)  # prompts, system prompt, probe-set settings
    budget: dict[str, Any] = field(default_factory=dict)  # e.g. {"time": "15m"} (auditor/plan)

    @property
    def folder(self) -> Path:
        """The policy file's folder: key, certificate, trust-root and prompt-file paths are relative to it."""
        return Path(self.path).resolve().parent

    def enabled_checks(self) -> list[str]:
        from ..checks.registry import ORDER

        return [c for c in ORDER if self.checks.get(c, {}).get("enabled", False)]

    def settings_for(self, check_id: str) -> dict[str, Any]:
        return dict(self.checks.get(check_id, {}).get("settings", {}) or {})

    def to_report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "sha256": self.sha256,
            "rules": [{"action": "fail", **r} for r in self.rules],
            "waivers": self.waivers,
            **({"probe": self.probe} if self.probe else {}),
        }


def validate_policy_data(data: Any, path: str, today: dt.date | None = None) -> list[str]:
    """All problems with a parsed policy: schema errors first, then semantic ones."""
    errors = schema_errors(data, SCHEMA)
    if errors:
        return errors
    problems = []
    ids = [r["id"] for r in data.get("rules", [])]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"rules: duplicate rule id {dup!r}")
    for i, rule in enumerate(data.get("rules", [])):
        check_cfg = data.get("checks", {}).get(rule["check"], {})
        if not check_cfg.get("enabled", False):
            problems.append(f"rules/{i}: rule {rule['id']!r} judges check {rule['check']!r}, which the policy does not enable")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    for i, w in enumerate(data.get("waivers", []) or []):
        if w["rule"] not in ids:
            problems.append(f"waivers/{i}: waives unknown rule {w['rule']!r}")
        try:
            expires = dt.date.fromisoformat(str(w["expires"]))
        except ValueError:
            problems.append(f"waivers/{i}/expires: {w['expires']!r} is not a date (YYYY-MM-DD)")
            continue
        if expires < today:
            problems.append(f"waivers/{i}: waiver of rule {w['rule']!r} approved by {w['approver']} expired on {expires}")
    return problems


def load_policy(path: str | Path, today: dt.date | None = None) -> Policy:
    p = Path(path)
    data, digest = read_yaml(p, PolicyError)
    # YAML turns unquoted dates into date objects; the schema expects strings.
    if isinstance(data, dict):
        for w in data.get("waivers") or []:
            if isinstance(w, dict) and isinstance(w.get("expires"), dt.date):
                w["expires"] = w["expires"].isoformat()
    problems = validate_policy_data(data, str(p), today)
    if problems:
        raise PolicyError("invalid policy:\n  " + "\n  ".join(problems), path=str(p))
    return Policy(
        name=data["name"],
        path=str(p),
        sha256=digest,
        checks=data.get("checks", {}),
        rules=data["rules"],
        waivers=data.get("waivers", []) or [],
        description=data.get("description", ""),
        probe=data.get("probe") or {},
        budget=data.get("budget") or {},
    )
