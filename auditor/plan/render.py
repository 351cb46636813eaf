"""The plan as a table a person reads before deciding to run (or budget) an audit."""

from __future__ import annotations

from rich.table import Table

from .duration import format_seconds


def plan_table(plan) -> Table:
    title = f"Audit plan: ~{format_seconds(plan.total())}"
    if plan.budget_seconds is not None:
        title += f" (budget {format_seconds(plan.budget_seconds)})"
    t = Table(title=title)
    for col, just in (("stage", "left"), ("work units", "left"), ("est.", "right"), ("if found", "right"), ("coverage", "left")):
        t.add_column(col, justify=just)
    t.add_row("load + calibrate", plan.model.get("architecture", "-") if plan.model.get("loaded") else "-",
              format_seconds(plan.load_seconds + plan.throughput.seconds), "", "")
    for s in plan.stages:
        cov = s.coverage if not s.skipped else f"skipped: {s.skipped}"
        cuts = plan.reductions.get(s.key)
        if cuts:
            cov += "\n" + "; ".join(cuts)
        extra = f"+{format_seconds(s.conditional)}" if s.conditional else ""
        t.add_row(s.key, s.units, format_seconds(s.seconds), extra, cov)
    return t


def plan_caption(plan) -> str:
    tp = plan.throughput
    m = plan.model
    lines = [f"calibration: {tp.source}: {tp.token_s * 1e3:.3g} ms/token, {tp.head_s * 1e3:.3g} ms/scored position, "
             f"{tp.step_s * 1e3:.3g} ms/decoding step"]
    if m.get("loaded"):
        lines.append(f"model: {m.get('n_params', 0):,} parameters, {m.get('vocab', 0):,} tokens, {m.get('device')} {m.get('dtype')}")
    lines.append("'if found': extra time when the stage's condition holds (a trigger confirmed, a target inverted, a scratchpad)")
    lines += plan.notes
    return "\n".join(lines)
