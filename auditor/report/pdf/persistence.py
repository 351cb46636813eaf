"""Persistence findings: backdoor rate before and after safety training, and the rate-vs-step line charts."""

from __future__ import annotations

from typing import Any

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Group, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.platypus import KeepTogether

from ..fmt import persistence_series
from .fmt import clean, esc, fmt_ci, fmt_metric, fmt_num, fmt_rate
from .styles import FRAME_W, LINE_COLOURS


class PersistenceMixin:
    def persistence_evidence(self, ev: dict) -> list:
        known = {
            "method", "trigger", "rate_before", "rate_after", "steps", "helpfulness_before", "helpfulness_after",
            "ci95_before", "ci95_after", "curve_axis", "helpfulness_drop", "persistence_ratio",
        }
        axis = str(ev.get("curve_axis") or "steps").replace("_", " ")
        ci_b = f" (95% CI {fmt_ci(ev['ci95_before'])})" if ev.get("ci95_before") is not None else ""
        ci_a = f" (95% CI {fmt_ci(ev['ci95_after'])})" if ev.get("ci95_after") is not None else ""
        ratio = f" · persistence ratio {fmt_num(ev['persistence_ratio'])}" if ev.get("persistence_ratio") is not None else ""
        pairs: list[tuple[str, Any]] = [
            ("Method", ev.get("method")),
            ("Trigger", self.mono(ev.get("trigger"), 600, self.s.cell_mono)),
            (
                "Backdoor rate",
                self.p(
                    f"<b>{fmt_rate(ev.get('rate_before'))}</b>{ci_b} before → <b>{fmt_rate(ev.get('rate_after'))}</b>"
                    f"{ci_a} after {esc(fmt_num(ev.get('steps', '?')))} {esc(axis)}{ratio}",
                    self.s.cell,
                ),
            ),
            ("Helpfulness", f"{fmt_metric(ev.get('helpfulness_before'))} before → {fmt_metric(ev.get('helpfulness_after'))} after"
             + (f" (drop {fmt_num(ev['helpfulness_drop'])})" if ev.get("helpfulness_drop") is not None else "")),
        ]
        rest = []
        for k, v in ev.items():
            if k in known:
                continue
            if (k == "curve" or k.endswith("_curve")) and isinstance(v, list):
                v = f"{len(v)} points (plotted)" if k == "curve" else f"{len(v)} points (report.json)"
            rest.append((k, v))
        out: list = [self.kv_table(pairs)]
        more = self.more_table(rest)
        if more is not None:
            out.append(more)
        return out

    def persistence_plots(self, fs: list[dict]) -> list:
        """One line plot per trigger: backdoor rate vs training step, one line per method."""
        by_trigger = persistence_series(fs)
        out: list = []
        for (trig, axis), series in by_trigger.items():
            title = (
                f"Backdoor rate during safety training — trigger "
                f"<font name='{self.f.mono}'>{esc(trig, self.f.mono, 120)}</font>"
            )
            out.append(KeepTogether([self.p(title, self.s.h3), self.line_plot(series, axis)]))
        return out

    def line_plot(self, series: list[tuple[str, list[tuple[float, float]]]], curve_axis: str = "steps") -> Drawing:
        w, h = FRAME_W, 190
        d = Drawing(w, h)
        lp = LinePlot()
        lp.x, lp.y, lp.width, lp.height = 45, 35, w - 170, h - 50
        lp.data = [pts for _, pts in series]
        xs = [p[0] for _, pts in series for p in pts]
        ys = [p[1] for _, pts in series for p in pts]
        xmin, xmax = min(xs), max(xs)
        if xmax <= xmin:
            xmax = xmin + 1
        lp.xValueAxis.valueMin, lp.xValueAxis.valueMax = xmin, xmax
        ymax = 1.0 if max(ys) <= 1.0 else max(ys) * 1.05
        lp.yValueAxis.valueMin, lp.yValueAxis.valueMax = 0, ymax
        if ymax == 1.0:
            lp.yValueAxis.valueSteps = [0, 0.25, 0.5, 0.75, 1.0]
            lp.yValueAxis.labelTextFormat = lambda v: f"{v * 100:.0f}%"
        for ax in (lp.xValueAxis, lp.yValueAxis):
            ax.labels.fontName = self.f.regular
            ax.labels.fontSize = 7
        lp.yValueAxis.visibleGrid = 1
        lp.yValueAxis.gridStrokeColor = colors.HexColor("#e0e0e0")
        lp.xValueAxis.labelTextFormat = (lambda v: f"{v:,.0f}") if xmax - xmin >= 10 else (lambda v: f"{v:g}")
        lp.joinedLines = 1
        markers = ["FilledCircle", "FilledSquare", "FilledDiamond", "FilledTriangle", "Circle", "Square", "Diamond"]
        for i in range(len(series)):
            colour = LINE_COLOURS[i % len(LINE_COLOURS)]
            lp.lines[i].strokeColor = colour
            lp.lines[i].strokeWidth = 1.5
            lp.lines[i].symbol = makeMarker(markers[i % len(markers)], size=4, fillColor=colour, strokeColor=colour)
        d.add(lp)
        xlabel = "safety-training steps" if curve_axis == "steps" else curve_axis.replace("_", " ")
        d.add(String(lp.x + lp.width / 2, 8, clean(xlabel, self.f.regular, 60), fontName=self.f.regular, fontSize=8, textAnchor="middle"))
        d.add(Group(String(0, 0, "backdoor rate", fontName=self.f.regular, fontSize=8, textAnchor="middle"),
                    transform=(0, 1, -1, 0, 12, lp.y + lp.height / 2)))
        legend = Legend()
        legend.x, legend.y = lp.x + lp.width + 15, lp.y + lp.height
        legend.fontName = self.f.regular
        legend.fontSize = 8
        legend.alignment = "right"
        legend.dx, legend.dy = 8, 8
        legend.columnMaximum = 10
        legend.colorNamePairs = [
            (LINE_COLOURS[i % len(LINE_COLOURS)], clean(f"{name} ({pts[-1][1] * 100:.0f}% at end)" if ymax == 1.0 else name, self.f.regular, 40))
            for i, (name, pts) in enumerate(series)
        ]
        d.add(legend)
        return d
