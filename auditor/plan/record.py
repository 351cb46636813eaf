"""What the plan promised beside what the audit did: the report's `plan` block
and every check's `coverage`, so a budgeted or cut-short audit is never
mistaken for a complete one."""

from __future__ import annotations

from typing import Any


def stage_actuals(result) -> dict[str, dict[str, Any]]:
    """Measured seconds, coverage and truncation per stage of one check result."""
    d = result.details or {}
    if result.id == "trigger_search" and isinstance(d.get("stages"), dict):
        out = {}
        for name, st in d["stages"].items():
            row = {"seconds": st.get("time_s"), "ran": st.get("ran", True), "truncated": bool(st.get("truncated"))}
            if st.get("coverage"):
                row["coverage"] = st["coverage"]
            if st.get("reason"):
                row["reason"] = st["reason"]
            out[name] = row
        if isinstance(d.get("confirm"), dict):
            c = d["confirm"]
            out["confirm"] = {"seconds": c.get("time_s"), "ran": True, "truncated": bool(c.get("truncated"))}
            if c.get("coverage"):
                out["confirm"]["coverage"] = c["coverage"]
        return out
    row = {"seconds": round(result.duration_s, 3), "ran": result.status not in ("skipped", "not_applicable")}
    if isinstance(d.get("budget"), dict):  # a single-stage check with its own StageBudget report
        row["truncated"] = bool(d["budget"].get("truncated"))
        if d["budget"].get("coverage"):
            row["coverage"] = d["budget"]["coverage"]
    return {result.id: row}


def coverage(result, plan) -> dict[str, Any]:
    """The `coverage` entry of a check's details: per stage, what ran and what was cut."""
    out: dict[str, Any] = {}
    actual = stage_actuals(result)
    for s in (plan.stages if plan else []):
        if s.check != result.id:
            continue
        a = actual.get(s.stage, {})
        entry: dict[str, Any] = {"planned": s.coverage}
        if s.key in plan.reductions:
            entry["reductions"] = plan.reductions[s.key]
        if a.get("coverage"):
            entry["covered"] = a["coverage"].get("summary", a["coverage"])
        if a.get("truncated"):
            entry["truncated"] = True
        if s.skipped or a.get("ran") is False:
            entry["skipped"] = s.skipped or a.get("reason")
        out[s.stage] = entry
    if result.status == "skipped" and result.details.get("reason"):
        out["skipped"] = result.details["reason"]
    return out


def plan_block(plan, results, peak_mb: dict[str, float | None]) -> dict[str, Any]:
    """The report's top-level `plan`: the estimate, then the measurement, per stage."""
    block = plan.to_dict()
    by_check = {r.id: r for r in results}
    rows = []
    for s in plan.stages:
        r = by_check.get(s.check)
        a = stage_actuals(r).get(s.stage, {}) if r is not None else {}
        row = {"stage": s.key, "estimated_s": round(s.seconds, 2), "actual_s": a.get("seconds"),
               "truncated": bool(a.get("truncated")), "ran": bool(a.get("ran", False)) and r is not None}
        if r is not None and peak_mb.get(s.check) is not None:
            row["peak_rss_mb_after_check"] = peak_mb[s.check]
        rows.append(row)
    block["actual"] = rows
    return block
