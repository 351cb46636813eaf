"""Page geometry, colours, paragraph styles, tables, and the building blocks every section uses."""

from __future__ import annotations

from typing import Any, Iterable

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Table, TableStyle

from .. import fmt as shared
from .fmt import MAX_TEXT, MAX_VALUE, compact, esc
from .fonts import Fonts, fonts

VERDICT_COLOURS = {k: colors.HexColor(v) for k, v in shared.VERDICT_HEX.items()}
SEVERITY_COLOURS = {k: colors.HexColor(v) for k, v in shared.SEVERITY_HEX.items()}
STATUS_COLOURS = {k: colors.HexColor(v) for k, v in shared.STATUS_HEX.items()}
LINE_COLOURS = [colors.HexColor(v) for v in shared.LINE_HEX]
BASELINE_COLOUR = colors.HexColor(shared.BASELINE_HEX)
GRID = colors.HexColor("#c8c8c8")
HEAD_BG = colors.HexColor("#eceff1")
BOX_BG = colors.HexColor("#f7f7f7")

PAGE = A4
MARGIN = 18 * mm
FRAME_W = PAGE[0] - 2 * MARGIN


class Styles:
    def __init__(self, f: Fonts) -> None:
        base = dict(fontName=f.regular, fontSize=9, leading=11.5, splitLongWords=1)
        self.body = ParagraphStyle("body", **base, spaceAfter=4)
        self.small = ParagraphStyle("small", **{**base, "fontSize": 7.5, "leading": 9.5})
        self.cell = ParagraphStyle("cell", **{**base, "fontSize": 8, "leading": 10})
        self.cell_b = ParagraphStyle("cellb", parent=self.cell, fontName=f.bold)
        self.cell_mono = ParagraphStyle("cellm", **{**base, "fontName": f.mono, "fontSize": 7, "leading": 9})
        self.digest = ParagraphStyle("digest", **{**base, "fontName": f.mono, "fontSize": 6.5, "leading": 8.5})
        self.mono = ParagraphStyle("mono", **{**base, "fontName": f.mono, "fontSize": 7.5, "leading": 9.5})
        self.title = ParagraphStyle("title", **{**base, "fontName": f.bold, "fontSize": 18, "leading": 22}, spaceAfter=6)
        self.h1 = ParagraphStyle(
            "h1", **{**base, "fontName": f.bold, "fontSize": 14, "leading": 18}, spaceBefore=10, spaceAfter=6
        )
        self.h2 = ParagraphStyle(
            "h2", **{**base, "fontName": f.bold, "fontSize": 11.5, "leading": 14}, spaceBefore=8, spaceAfter=4
        )
        self.h3 = ParagraphStyle(
            "h3", **{**base, "fontName": f.bold, "fontSize": 9.5, "leading": 12}, spaceBefore=6, spaceAfter=2
        )
        self.banner = ParagraphStyle(
            "banner",
            **{**base, "fontName": f.bold, "fontSize": 34, "leading": 40},
            textColor=colors.white,
            alignment=TA_CENTER,
        )
        self.banner_sub = ParagraphStyle(
            "bannersub", **{**base, "fontSize": 11, "leading": 14}, textColor=colors.white, alignment=TA_CENTER
        )


def table(rows, widths, *, header: bool = True, zebra: bool = True, extra: Iterable = ()) -> Table:
    t = Table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    cmds = [
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        cmds.append(("BACKGROUND", (0, 0), (-1, 0), HEAD_BG))
    if zebra:
        for i in range(1 if header else 0, len(rows)):
            if (i % 2 == 0) == header:
                cmds.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fafafa")))
    cmds.extend(extra)
    t.setStyle(TableStyle(cmds))
    return t


# --------------------------------------------------------------------------- the renderer



class Blocks:
    """The renderer's state and the small building blocks every section uses."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.r = report
        self.f = fonts()
        self.s = Styles(self.f)
        self.findings = [x for x in report.get("findings", []) if isinstance(x, dict)]

    # small helpers ---------------------------------------------------------
    def p(self, markup: str, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(markup, style or self.s.body)

    def t(self, text: Any, style: ParagraphStyle | None = None, limit: int | None = None) -> Paragraph:
        """A paragraph of *untrusted* text."""
        style = style or self.s.cell
        return Paragraph(esc(text, style.fontName, limit), style)

    def mono(self, text: Any, limit: int | None = MAX_TEXT, style: ParagraphStyle | None = None) -> Paragraph:
        style = style or self.s.mono
        return Paragraph(esc(text, style.fontName, limit, keep_indent=True), style)

    def badge(self, label: str, colour) -> str:
        return (
            f'<font backColor="{colour.hexval().replace("0x", "#")}" color="#ffffff">'
            f"&nbsp;{esc(label.upper())}&nbsp;</font>"
        )

    def sev_badge(self, sev: str) -> str:
        return self.badge(sev, SEVERITY_COLOURS.get(sev, colors.grey))

    def status_badge(self, status: str) -> str:
        return self.badge(status.replace("_", " "), STATUS_COLOURS.get(status, colors.grey))

    def kv_table(self, pairs: list[tuple[str, Any]], key_w: float = 42 * mm, mono_keys: Iterable[str] = ()) -> Table:
        mono_keys = set(mono_keys)
        rows = []
        for k, v in pairs:
            if isinstance(v, Paragraph):
                cell = v
            elif k in mono_keys:
                cell = self.t(v, self.s.cell_mono)
            else:
                cell = self.t(compact(v) if not isinstance(v, str) else v, limit=MAX_VALUE * 3)
            rows.append([self.t(k, self.s.cell_b), cell])
        return table(rows, [key_w, FRAME_W - key_w], header=False)

    def more_table(self, pairs: list[tuple[str, Any]]) -> Table | None:
        """Secondary evidence in two key/value columns; long values get a full-width row."""
        if not pairs:
            return None
        kw = 42 * mm
        vw = (FRAME_W - 2 * kw) / 2
        st = self.s.small
        key_st = ParagraphStyle("mk", parent=st, fontName=self.f.bold)
        rows: list[list] = []
        spans: list[int] = []
        pending: list | None = None
        for k, v in pairs:
            text = v if isinstance(v, str) else compact(v)
            cell = self.t(text, st, limit=MAX_VALUE * 3)
            if len(text) > 48:
                if pending:
                    rows.append(pending + ["", ""])
                    pending = None
                spans.append(len(rows))
                rows.append([self.t(k, key_st), cell, "", ""])
            elif pending is None:
                pending = [self.t(k, key_st), cell]
            else:
                rows.append(pending + [self.t(k, key_st), cell])
                pending = None
        if pending:
            rows.append(pending + ["", ""])
        extra = [("SPAN", (1, r), (3, r)) for r in spans]
        extra.append(("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fcfcfc")))
        extra.append(("TEXTCOLOR", (0, 0), (-1, -1), colors.HexColor("#333333")))
        return table(rows, [kw, vw, kw, vw], header=False, zebra=False, extra=extra)

    # page 1 ----------------------------------------------------------------
