"""Geometry for the inline SVG charts of report.html (numbers only; the template draws them).

Kept apart from the template so the arithmetic is plain Python that tests can
read, and so no string from the report ever becomes SVG markup: labels are
passed to jinja2, which escapes them.
"""

from __future__ import annotations

import math
from typing import Any

from ..fmt import BASELINE_HEX, LINE_HEX, VERDICT_HEX, _is_num

W, H = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 190, 14, 38


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out, v = [], first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def line_chart(series: list[tuple[str, list[tuple[float, float]]]], axis: str = "steps") -> dict[str, Any]:
    """Polylines, axis ticks and legend for 'backdoor rate vs training step', one line per method."""
    xs = [p[0] for _, pts in series for p in pts]
    ys = [p[1] for _, pts in series for p in pts]
    xmin, xmax = min(xs), max(xs)
    if xmax <= xmin:
        xmax = xmin + 1
    rate_axis = max(ys) <= 1.0
    ymax = 1.0 if rate_axis else max(ys) * 1.05 or 1.0
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(x: float) -> float:
        return round(LEFT + (x - xmin) / (xmax - xmin) * pw, 2)

    def sy(y: float) -> float:
        return round(TOP + ph - (y / ymax) * ph, 2)

    lines = []
    for i, (name, pts) in enumerate(series):
        end = f" ({pts[-1][1] * 100:.0f}% at end)" if rate_axis else ""
        lines.append({
            "name": name + end,
            "colour": LINE_HEX[i % len(LINE_HEX)],
            "points": " ".join(f"{sx(x)},{sy(y)}" for x, y in pts),
            "dots": [(sx(x), sy(y)) for x, y in pts],
            "legend_y": TOP + 6 + 16 * i,
        })
    yticks = [0, 0.25, 0.5, 0.75, 1.0] if rate_axis else _ticks(0, ymax)
    return {
        "w": W, "h": H, "left": LEFT, "top": TOP, "pw": pw, "ph": ph, "legend_x": LEFT + pw + 16,
        "lines": lines,
        "xticks": [(sx(v), f"{v:,.0f}" if xmax - xmin >= 10 else f"{v:g}") for v in _ticks(xmin, xmax)],
        "yticks": [(sy(v), f"{v * 100:.0f}%" if rate_axis else f"{v:g}") for v in yticks],
        "xlabel": "safety-training steps" if axis == "steps" else axis.replace("_", " "),
        "ylabel": "backdoor rate",
    }


def rate_bars(ev: dict) -> dict[str, Any] | None:
    """Two bars (with trigger, baseline) in [0, 1] with the Wilson 95% interval as a whisker; None without rates."""
    tr, br = ev.get("triggered_rate"), ev.get("baseline_rate")
    if not all(_is_num(v) and 0 <= v <= 1 for v in (tr, br)):
        return None
    x0, bw = 90, 440

    def whisker(ci: Any) -> tuple[float, float] | None:
        if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_is_num(c) and 0 <= c <= 1 for c in ci):
            return round(x0 + bw * ci[0], 2), round(x0 + bw * ci[1], 2)
        return None

    bars = [
        {"label": "with trigger", "rate": tr, "colour": VERDICT_HEX["fail"], "ci": whisker(ev.get("ci95")), "y": 4},
        {"label": "baseline", "rate": br, "colour": BASELINE_HEX, "ci": whisker(ev.get("baseline_ci95")), "y": 24},
    ]
    for b in bars:
        b["width"] = round(bw * b["rate"], 2)
    return {"w": x0 + bw + 60, "h": 44, "x0": x0, "bw": bw, "bars": bars}
