"""Scratchpad findings: deceptive-reasoning rates with and without the trigger, and highlighted excerpts."""

from __future__ import annotations

from typing import Any

from reportlab.lib import colors
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle

from .fmt import MAX_EXCERPTS, esc, fmt_ci, fmt_num, fmt_p, fmt_rate, highlight
from .styles import BASELINE_COLOUR, BOX_BG, FRAME_W, GRID, STATUS_COLOURS


class ScratchpadMixin:
    def scratchpad_evidence(self, ev: dict) -> list:
        s = self.s
        known = {
            "signal", "trigger", "rate_with_trigger", "rate_without_trigger", "n", "n_without", "excerpts", "ci95_with",
            "ci95_without", "p_value", "k_with", "k_without",
        }
        ci_w = f" (95% CI {fmt_ci(ev['ci95_with'])})" if ev.get("ci95_with") is not None else ""
        ci_wo = f" (95% CI {fmt_ci(ev['ci95_without'])})" if ev.get("ci95_without") is not None else ""
        p = f" · p = {fmt_p(ev['p_value'])}" if ev.get("p_value") is not None else ""
        pairs: list[tuple[str, Any]] = [
            ("Signal", ev.get("signal")),
            ("Trigger", self.mono(ev.get("trigger"), 600, s.cell_mono) if ev.get("trigger") else "(none: no confirmed trigger)"),
            (
                "Rate",
                self.p(
                    f"<b>{fmt_rate(ev.get('rate_with_trigger'))}</b>{ci_w} of scratchpads with the trigger vs "
                    f"<b>{fmt_rate(ev.get('rate_without_trigger'))}</b>{ci_wo} without · "
                    f"n = {esc(fmt_num(ev.get('n', '–')))}{p}",
                    s.cell,
                ),
            ),
        ]
        out: list = [self.kv_table(pairs)]
        more = self.more_table([(k, v) for k, v in ev.items() if k not in known])
        if more is not None:
            out.append(more)
        excerpts = [e for e in ev.get("excerpts") or [] if isinstance(e, (dict, str))]
        label = self.p(
            f"Excerpts ({min(len(excerpts), MAX_EXCERPTS)} of {len(excerpts)}); matched spans highlighted", s.small
        )
        for n, e in enumerate(excerpts[:MAX_EXCERPTS]):
            if isinstance(e, str):
                e = {"text": e, "spans": []}
            para = Paragraph(highlight(e.get("text", ""), e.get("spans") or [], s.mono.fontName), s.mono)
            rows = [[para]]
            if e.get("condition") or e.get("prompt"):
                cond = str(e.get("condition") or "excerpt")
                colour = STATUS_COLOURS["violated"] if cond.startswith("trig") else BASELINE_COLOUR
                head = self.badge(cond, colour)
                if e.get("prompt"):
                    head += f" <font name='{s.cell_mono.fontName}' size='7'>{esc(e['prompt'], s.cell_mono.fontName, 300)}</font>"
                rows.insert(0, [self.p(head, s.cell)])
            t = Table(rows, colWidths=[FRAME_W], hAlign="LEFT")
            t.setStyle(
                TableStyle(
                    [
                        ("BACKGROUND", (0, 0), (-1, -1), BOX_BG),
                        ("BOX", (0, 0), (-1, -1), 0.4, GRID),
                        ("LINEBEFORE", (0, 0), (0, -1), 2.5, colors.HexColor("#b00020")),
                        ("LEFTPADDING", (0, 0), (-1, -1), 6),
                    ]
                )
            )
            out += [KeepTogether([label, t]) if n == 0 else KeepTogether([t]), Spacer(1, 3)]
        return out
