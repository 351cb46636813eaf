"""report.html: one self-contained page with the same evidence as report.pdf.

No network at view time: CSS and SVG charts are inline, no fonts, no scripts.
Every string from the report (model outputs, prompts, file names) is hostile
and goes through jinja2's autoescaping; the only unescaped markup is the fixed
wording in `fmt.WHAT_TO_DO`. Rendering is deterministic (same dict, same bytes).
"""

from __future__ import annotations

import shlex
import unicodedata
from typing import Any

from .. import fmt
from . import svg

TRIGGER_CHECKS = ("known_triggers", "trigger_search")


def _kind(finding: dict) -> str:
    """Which evidence layout a finding gets (same dispatch as the PDF)."""
    ev = finding.get("evidence") if isinstance(finding.get("evidence"), dict) else {}
    check = finding.get("check")
    if check in TRIGGER_CHECKS or ("trigger" in ev and "triggered_rate" in ev):
        return "trigger"
    if check == "persistence" or ("method" in ev and "rate_before" in ev):
        return "persistence"
    if check == "scratchpad" or "excerpts" in ev:
        return "scratchpad"
    return "generic"


def pair_examples(examples: list[dict], limit: int) -> list[tuple[dict | None, dict | None]]:
    """Rows of (triggered, baseline) examples, so the two conditions are read side by side."""
    trig = [e for e in examples if str(e.get("condition", "")).startswith("trig")]
    base = [e for e in examples if not str(e.get("condition", "")).startswith("trig")]
    n = min(limit, max(len(trig), len(base)))
    return [(trig[i] if i < len(trig) else None, base[i] if i < len(base) else None) for i in range(n)]


def _sections(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per check (plus checks that only appear in findings), with its findings sorted by severity."""
    findings = [x for x in report.get("findings", []) if isinstance(x, dict)]
    checks = [c for c in report.get("checks", []) if isinstance(c, dict)]
    ids = [c.get("id") for c in checks]
    for x in findings:
        if x.get("check") not in ids:
            ids.append(x.get("check"))
            checks.append({"id": x.get("check"), "status": "?"})
    out = []
    for c in checks:
        fs = sorted((x for x in findings if x.get("check") == c.get("id")), key=fmt.severity_key)
        charts = [
            {"trigger": trig, "chart": svg.line_chart(series, axis)}
            for (trig, axis), series in fmt.persistence_series(fs).items()
        ]
        out.append({"check": c, "findings": fs[: fmt.MAX_FINDINGS_PER_CHECK], "more": max(0, len(fs) - fmt.MAX_FINDINGS_PER_CHECK), "charts": charts})
    return out


def visible(value: Any) -> Any:
    """Control, format and bidi characters (U+202E ...) shown as [U+XXXX], as in the PDF, so hostile
    text cannot reorder or hide what the reader sees; markup we built ourselves passes unchanged."""
    from markupsafe import Markup

    if not isinstance(value, str) or isinstance(value, Markup):
        return value
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else f"[U+{ord(ch):04X}]"
        for ch in value
    )


def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("auditor.report", "html"),
        autoescape=True,  # every template here is HTML
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=visible,  # every {{ value }}, before escaping
    )
    env.filters.update(
        rate=fmt.fmt_rate, ci=fmt.fmt_ci, pval=fmt.fmt_p, num=fmt.fmt_num, size=fmt.fmt_size, metric=fmt.fmt_metric,
        compact=fmt.compact, htime=fmt.human_time, kind=_kind, pair_examples=pair_examples, rate_bars=svg.rate_bars, shell=lambda a: shlex.quote(str(a)),
        segments=lambda t, spans: fmt.highlight_segments(t, spans, fmt.MAX_TEXT * 2, 30),
        cut=lambda t, n=fmt.MAX_TEXT: (t if isinstance(t, str) else fmt.compact(t))[:n]
        + (f" … [{len(t) - n} more characters in report.json]" if isinstance(t, str) and len(t) > n else ""),
    )
    return env


def render_html(report: dict[str, Any]) -> bytes:
    """The report as a UTF-8 HTML document."""
    from markupsafe import Markup

    verdict = str(report.get("verdict", "error"))
    findings = [x for x in report.get("findings", []) if isinstance(x, dict)]
    active = [x for x in findings if not x.get("waived")]
    files = [f for f in (report.get("model") or {}).get("files") or [] if isinstance(f, dict)]
    rule_results = [x for x in report.get("rule_results", []) if isinstance(x, dict)]
    prov = fmt.check_details(report, "provenance")
    coverage = report.get("probe_coverage") if isinstance(report.get("probe_coverage"), dict) else None
    page = _env().get_template("report.html.jinja").render(
        r=report,
        verdict=verdict,
        verdict_colour=fmt.VERDICT_HEX.get(verdict, fmt.VERDICT_HEX["error"]),
        tagline=fmt.VERDICT_TAGLINE.get(verdict, ""),
        what_to_do=Markup(fmt.WHAT_TO_DO.get(verdict, fmt.WHAT_TO_DO["error"])),  # fixed wording, not report data
        counts={sev: sum(1 for x in active if x.get("severity") == sev) for sev in fmt.SEVERITY_ORDER},
        waived=len(findings) - len(active),
        top=sorted(active, key=fmt.severity_key)[:6],
        n_active=len(active),
        rule_results=rule_results,
        unrun=[x for x in rule_results if x.get("status") in ("not_run", "error")],
        files=files,
        total_size=sum(int(f.get("size") or 0) for f in files if isinstance(f.get("size"), int)),
        provenance=fmt.provenance_summary(prov) if prov else None,
        coverage=coverage,
        coverage_rows=fmt.coverage_rows(coverage) if coverage else [],
        competence=fmt.competence_summary(coverage) if coverage else "",
        sections=_sections(report),
        sev_hex=fmt.SEVERITY_HEX,
        status_hex=fmt.STATUS_HEX,
        max_examples=fmt.MAX_EXAMPLES,
        max_excerpts=fmt.MAX_EXCERPTS,
        duration=fmt.duration(report.get("started_at"), report.get("finished_at")),
    )
    return page.encode("utf-8")
