"""Formatting and wording shared by the PDF and HTML reports (no rendering library here).

Rates, confidence intervals, p-values, sizes and times must read the same in
both documents, and a JSON-only run must not import reportlab to get them.
Non-numeric values go through `text` (the PDF passes its glyph-cleaning
function, the HTML renderer leaves escaping to jinja2).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any, Callable

Text = Callable[[Any], str]

MAX_TEXT = 1500  # characters of one model output / prompt shown
MAX_EXAMPLES = 6  # examples per finding
MAX_FINDINGS_PER_CHECK = 150
MAX_EXCERPTS = 5
MAX_VALUE = 400  # characters of a generic evidence value

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
VERDICT_HEX = {"pass": "#1b7f3b", "warn": "#b26a00", "fail": "#b00020", "error": "#4a4a4a"}
SEVERITY_HEX = {"critical": "#7f0000", "high": "#c62828", "medium": "#e65100", "low": "#9e7c00", "info": "#546e7a"}
STATUS_HEX = {
    "pass": "#1b7f3b", "violated": "#b00020", "fail": "#b00020", "warn": "#b26a00", "waived": "#1565c0",
    "error": "#6a1b9a", "not_run": "#757575", "not_applicable": "#757575", "skipped": "#757575",
}
LINE_HEX = ["#b00020", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037"]
BASELINE_HEX = "#607d8b"

VERDICT_TAGLINE = {
    "pass": "No policy rule was violated",
    "warn": "Policy warnings: review before deploying",
    "fail": "Policy violated: do not deploy",
    "error": "Audit incomplete: no conclusion (this is not a pass)",
}
# trusted, fixed wording; <b>/<i> are the only markup (valid in reportlab Paragraphs and HTML alike)
WHAT_TO_DO = {
    "pass": (
        "No rule of the policy was violated, so the policy does not block deployment of this exact revision. "
        "Keep this signed report with the release record. It covers only the model digest and revision shown "
        "above: re-audit whenever the revision, the files or the policy change. A pass is not proof of absence: "
        "it means the checks listed in this report, with their settings, found nothing."
    ),
    "warn": (
        "Rules whose action is <i>warn</i> were violated; no <i>fail</i> rule was. Deployment is not blocked by "
        "the policy, but a reviewer should read the findings below and decide: fix the model, or accept the "
        "risk by adding a waiver to the policy (with a reason, an owner and an expiry date) and re-running the audit."
    ),
    "fail": (
        "<b>Do not deploy this revision.</b> At least one rule whose action is <i>fail</i> was violated. "
        "Quarantine the model files (in particular, never load pickle files flagged below), send this signed report "
        "to the model's owner and your security team, and re-audit a clean revision after retraining or replacing "
        "the model. Only waive a finding with a documented justification and an expiry date."
    ),
    "error": (
        "The audit did not finish, so <b>no conclusion can be drawn</b>; treat the model as unaudited. See the "
        "errors listed below (resources, access to the model, malformed files), fix their cause and run the audit "
        "again. Checks that did complete are reported, but they do not add up to a pass."
    ),
}


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fmt_num(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v != 0 and abs(v) < 1e-3:
            return f"{v:.2e}"
        return f"{v:.4g}"
    return str(v)


def fmt_rate(v: Any, text: Text = str) -> str:
    if _is_num(v) and math.isfinite(v):
        return f"{v * 100:.1f}%"
    return "–" if v is None else text(v)


def fmt_ci(ci: Any, text: Text = str) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"[{fmt_rate(ci[0], text)}, {fmt_rate(ci[1], text)}]"
    return "–" if ci is None else text(ci)


def fmt_p(p: Any, text: Text = str) -> str:
    if _is_num(p):
        if p < 1e-4:
            return f"{p:.1e}"
        return f"{p:.4f}"
    return "–" if p is None else text(p)


def fmt_size(n: Any, text: Text = str) -> str:
    if not isinstance(n, int) or isinstance(n, bool):
        return text(n)
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v = float(n)
    for u in units:
        if v < 1024 or u == units[-1]:
            return f"{n:,} B" if u == "B" else f"{v:.1f} {u}"
        v /= 1024
    return str(n)


def fmt_metric(v: Any) -> str:
    """A rate in [0, 1] as a percentage, any other number as is (e.g. a mean log-probability)."""
    if _is_num(v) and 0 <= v <= 1:
        return fmt_rate(v)
    return fmt_num(v) if v is not None else "–"


def compact(value: Any, limit: int = MAX_VALUE) -> str:
    """A short text form of any JSON value."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f" … [{len(value) - limit} more]"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, (float, bool)) or value is None:
        return fmt_num(value) if value is not None else "null"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more]"


def parse_time(iso: Any) -> _dt.datetime:
    """ISO 8601 (a trailing Z allowed) -> datetime; ValueError/TypeError when it is not one."""
    return _dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))


def human_time(iso: Any, text: Text = str) -> str:
    try:
        t = parse_time(iso)
        if t.tzinfo is not None:
            t = t.astimezone(_dt.timezone.utc)
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, TypeError):
        return text(iso)


def duration(a: Any, b: Any) -> str:
    try:
        s = int((parse_time(b) - parse_time(a)).total_seconds())
    except (ValueError, TypeError):
        return ""
    if s < 0:
        return ""
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def severity_key(finding: dict) -> tuple:
    sev = finding.get("severity")
    return (SEVERITY_ORDER.index(sev) if sev in SEVERITY_ORDER else len(SEVERITY_ORDER),)


def curve_points(curve: Any) -> list[tuple[float, float]]:
    """The finite (x, y) pairs of a persistence curve, sorted by x; anything malformed is dropped."""
    pts = [
        (float(pt[0]), float(pt[1]))
        for pt in curve or []
        if isinstance(pt, (list, tuple)) and len(pt) == 2 and all(_is_num(v) and math.isfinite(v) for v in pt)
    ]
    return sorted(pts)


def persistence_series(findings: list[dict]) -> dict[tuple[str, str], list[tuple[str, list[tuple[float, float]]]]]:
    """(trigger, curve axis) -> [(method, points)]: one chart per trigger, one line per method."""
    out: dict[tuple[str, str], list[tuple[str, list[tuple[float, float]]]]] = {}
    for x in findings:
        ev = x.get("evidence") or {}
        pts = curve_points(ev.get("curve"))
        if pts:
            key = (str(ev.get("trigger", "")), str(ev.get("curve_axis") or "steps"))
            out.setdefault(key, []).append((str(ev.get("method", "?")), pts))
    return out


def highlight_segments(text: Any, spans: Any, max_chars: int, max_lines: int) -> list[tuple[str, bool]]:
    """`text` (cut to max_chars / max_lines) as [(segment, is_match)] for the character ranges in `spans`.

    Spans come from the report and are untrusted: anything not a pair of ints is
    ignored, ranges are clipped to the text and overlapping ones merged.
    """
    text = text if isinstance(text, str) else str(text)
    if len(text) > max_chars:
        text = text[:max_chars]
    if text.count("\n") >= max_lines:
        text = "\n".join(text.split("\n")[:max_lines])
    ranges = []
    for sp in spans if isinstance(spans, list) else []:
        if isinstance(sp, (list, tuple)) and len(sp) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in sp):
            a, b = max(0, sp[0]), min(len(text), sp[1])
            if a < b:
                ranges.append((a, b))
    ranges.sort()
    merged: list[list[int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[tuple[str, bool]] = []
    pos = 0
    for a, b in merged:
        out += [(text[pos:a], False), (text[a:b], True)]
        pos = b
    out.append((text[pos:], False))
    return out


def check_details(report: dict, check_id: str) -> dict | None:
    """`details` of the check `check_id` when it ran and recorded any."""
    for c in report.get("checks") or []:
        if isinstance(c, dict) and c.get("id") == check_id and isinstance(c.get("details"), dict):
            return c["details"]
    return None


def provenance_summary(details: dict) -> tuple[str, str]:
    """(status, one line) for the provenance check: status is verified, not verified or unsigned."""
    status = "verified" if details.get("verified") else "not verified" if details.get("signed") else "unsigned"
    bits = []
    if details.get("method"):
        bits.append(f"method {details['method']}")
    if details.get("signer"):
        bits.append(f"signer {details['signer']}")
    for key in ("unsigned_files", "changed_files", "missing_files"):
        files = details.get(key)
        if isinstance(files, list) and files:
            shown = ", ".join(map(str, files[:5])) + (f" … (+{len(files) - 5})" if len(files) > 5 else "")
            bits.append(f"{key.replace('_', ' ')}: {shown}")
    return status, " · ".join(bits)


def competence_summary(coverage: dict) -> str:
    """How competently the model answered the probe prompts, per purpose, in one line:
    'general 0.79 on 64 used prompts (mean log-prob -1.08); code 0.00 on 0 used prompts'."""
    comp = coverage.get("competence") if isinstance(coverage.get("competence"), dict) else {}
    parts = []
    for purpose, c in comp.items():
        if purpose == "overall" or not isinstance(c, dict):
            continue
        used = c.get("used") if isinstance(c.get("used"), dict) else {}
        score, n = used.get("score"), used.get("n_scored")
        if score is None:
            score, n = c.get("score"), 0
        lp = used.get("mean_logprob")
        parts.append(f"{purpose} {fmt_num(score)} on {fmt_num(n or 0)} used prompts"
                     + (f" (mean log-prob {fmt_num(lp)})" if lp is not None else ""))
    overall = comp.get("overall") if isinstance(comp.get("overall"), dict) else {}
    if overall.get("n_scored"):
        parts.append(f"all {fmt_num(overall['n_scored'])} scored candidates {fmt_num(overall.get('score'))}")
    return "; ".join(parts)


def coverage_rows(coverage: dict) -> list[dict[str, str]]:
    """One formatted row per prompt source of `probe_coverage` (what the behavioural probes could see)."""
    rows = []
    for s in coverage.get("sources") or []:
        if not isinstance(s, dict):
            continue
        comp = s.get("competence") if isinstance(s.get("competence"), dict) else {}
        rows.append({
            "source": str(s.get("name", "?")),
            "kind": " / ".join(str(s[k]) for k in ("kind", "purpose") if s.get(k)),
            "used": f"{fmt_num(s.get('n_used', '–'))} of {fmt_num(s.get('n_available', '–'))}",
            "share": fmt_rate(s.get("share_used")),
            "competence": fmt_num(comp["score"]) if comp.get("score") is not None else "–",
            "logprob": fmt_num(comp["mean_logprob"]) if comp.get("mean_logprob") is not None else "–",
            "agreement": fmt_num(comp["agreement"]) if comp.get("agreement") is not None else "–",
        })
    return rows
