"""fleet.json (schema-checked), fleet.html (self-contained, escaped) and their
DSSE signature: one signed page that says which models of a fleet may ship."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..checks.base import SEVERITIES, severity_rank
from ..errors import ReportError
from ..report import dsse, keys
from ..report.writer import REPORT_JSON, _atomic_write
from ..yamlio import schema_errors
from .manifest import FleetJob

SCHEMA = Path(__file__).with_name("schema.json")
TEMPLATE = Path(__file__).with_name("fleet.html.jinja")
FLEET_JSON, FLEET_HTML, FLEET_ENVELOPE = "fleet.json", "fleet.html", "fleet.json.dsse"
FLEET_PREDICATE = "https://auditor.dev/attestation/fleet-audit/v1"
TOP_FINDINGS = 5


def _seconds(report: dict) -> float:
    try:
        start = dt.datetime.fromisoformat(report["started_at"].replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(report["finished_at"].replace("Z", "+00:00"))
    except (KeyError, ValueError, AttributeError):
        return 0.0
    return max(0.0, (end - start).total_seconds())


def entry_for(job: FleetJob, report: dict | None, digest: str | None, *, duration_s: float | None = None,
              error: str | None = None, reused: bool = False) -> dict[str, Any]:
    """One row of fleet.json: from a written report, or from an audit that produced none (exit 2)."""
    base = {
        "model": job.model, "requested_revision": job.revision, "slug": job.slug,
        "policy_sha256": job.policy_sha256, "reused": reused,
    }
    if report is None:
        return {**base, "id": job.model, "revision": None, "model_digest": None, "verdict": "error", "exit_code": 2,
                "top_findings": [], "n_findings": 0, "duration_s": round(duration_s or 0.0, 3),
                "report_digest": None, "error": error or "the audit produced no report"}
    findings = sorted(
        (f for f in report["findings"] if not f.get("waived")),
        key=lambda f: (-severity_rank(f["severity"]) if f["severity"] in SEVERITIES else 0, f["id"]),
    )
    errors = "; ".join(f"{e['stage']}: {e['message']}" for e in report.get("errors", [])) or None
    return {
        **base,
        "id": report["model"]["id"],
        "revision": report["model"].get("revision"),
        "model_digest": report["model"]["digest"]["sha256"],
        "verdict": report["verdict"],
        "exit_code": report["exit_code"],
        "top_findings": [{k: f[k] for k in ("id", "check", "severity", "title")} for f in findings[:TOP_FINDINGS]],
        "n_findings": len(report["findings"]),
        "duration_s": round(duration_s if duration_s is not None else _seconds(report), 3),
        "report_digest": digest,
        "error": error or errors,
    }


def build_summary(entries: list[dict], manifest_path: Path, manifest_sha256: str, started_at: str, key) -> dict:
    counts = {v: sum(e["verdict"] == v for e in entries) for v in ("pass", "warn", "fail", "error")}
    counts["reused"] = sum(e["reused"] for e in entries)
    summary = {
        "schema_version": "1.0",
        "tool": {"name": "auditor", "version": __version__},
        "manifest": {"path": str(manifest_path), "sha256": manifest_sha256},
        "started_at": started_at,
        "finished_at": now_iso(),
        "exit_code": max((e["exit_code"] for e in entries), default=0),
        "counts": counts,
        "models": entries,
        "signing": {"algorithm": keys.algorithm_of(key), "key_fingerprint": keys.fingerprint(key.public_key())},
    }
    problems = schema_errors(summary, SCHEMA)
    if problems:  # a bug, not bad input: never write a summary that breaks its own schema
        raise ReportError("fleet.json does not match its schema:\n  " + "\n  ".join(problems[:10]))
    return summary


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def render_html(summary: dict) -> bytes:
    from jinja2 import Environment

    env = Environment(autoescape=True, keep_trailing_newline=True)
    return env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(s=summary).encode("utf-8")


def write_summary(summary: dict, out_dir: Path, key) -> dict[str, Path]:
    """Write fleet.json and fleet.html, then fleet.json.dsse over them and every model's report.json."""
    data = {
        FLEET_JSON: (json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"),
        FLEET_HTML: render_html(summary),
    }
    subjects = [{"name": n, "digest": {"sha256": hashlib.sha256(b).hexdigest()}} for n, b in sorted(data.items())]
    subjects += [
        {"name": f"{e['slug']}/{REPORT_JSON}", "digest": {"sha256": e["report_digest"]}}
        for e in summary["models"] if e["report_digest"]
    ]
    statement = {
        "_type": dsse.STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": FLEET_PREDICATE,
        "predicate": predicate_for(summary),
    }
    envelope = dsse.sign_envelope(dsse.statement_bytes(statement), key)
    (out_dir / FLEET_ENVELOPE).unlink(missing_ok=True)  # a half-written summary must not verify
    written = {name: _atomic_write(out_dir, name, b) for name, b in data.items()}
    written[FLEET_ENVELOPE] = _atomic_write(out_dir, FLEET_ENVELOPE, dsse.envelope_bytes(envelope))
    return written


def predicate_for(summary: dict) -> dict:
    return {
        "exit_code": summary["exit_code"],
        "counts": summary["counts"],
        "manifest_sha256": summary["manifest"]["sha256"],
        "tool": summary["tool"],
        "finished_at": summary["finished_at"],
    }
