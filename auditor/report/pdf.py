"""Render the report dict as a PDF (reportlab platypus).

Layout: page 1 is the executive summary (verdict banner, model identity, top
findings, what to do, signing key); then the policy rule results, a section
per check with its findings and their evidence (trigger statistics with example
outputs, persistence curves, highlighted scratchpad excerpts, static-scan
locations); then appendices (file manifest, policy, environment).

Everything that came from the model or the model's repository (outputs,
prompts, file names, ids) is hostile input: it is escaped for reportlab's
Paragraph markup, stripped of control/bidi characters (shown as [U+XXXX]),
reduced to glyphs the font has, and truncated. Rendering is deterministic: the
same report dict gives the same bytes (invariant mode, creation date taken from
`finished_at`).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import unicodedata
from pathlib import Path
from typing import Any, Iterable

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Group, Line, Rect, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ..errors import ReportError

# --------------------------------------------------------------------------- constants

VERDICT_COLOURS = {
    "pass": colors.HexColor("#1b7f3b"),
    "warn": colors.HexColor("#b26a00"),
    "fail": colors.HexColor("#b00020"),
    "error": colors.HexColor("#4a4a4a"),
}
VERDICT_TAGLINE = {
    "pass": "No policy rule was violated",
    "warn": "Policy warnings: review before deploying",
    "fail": "Policy violated: do not deploy",
    "error": "Audit incomplete: no conclusion (this is not a pass)",
}
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
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
SEVERITY_COLOURS = {
    "critical": colors.HexColor("#7f0000"),
    "high": colors.HexColor("#c62828"),
    "medium": colors.HexColor("#e65100"),
    "low": colors.HexColor("#9e7c00"),
    "info": colors.HexColor("#546e7a"),
}
STATUS_COLOURS = {
    "pass": colors.HexColor("#1b7f3b"),
    "violated": colors.HexColor("#b00020"),
    "fail": colors.HexColor("#b00020"),
    "warn": colors.HexColor("#b26a00"),
    "waived": colors.HexColor("#1565c0"),
    "error": colors.HexColor("#6a1b9a"),
    "not_run": colors.HexColor("#757575"),
    "not_applicable": colors.HexColor("#757575"),
    "skipped": colors.HexColor("#757575"),
}
LINE_COLOURS = [
    colors.HexColor("#b00020"),
    colors.HexColor("#1565c0"),
    colors.HexColor("#2e7d32"),
    colors.HexColor("#ef6c00"),
    colors.HexColor("#6a1b9a"),
    colors.HexColor("#00838f"),
    colors.HexColor("#5d4037"),
]
GRID = colors.HexColor("#c8c8c8")
HEAD_BG = colors.HexColor("#eceff1")
BOX_BG = colors.HexColor("#f7f7f7")

PAGE = A4
MARGIN = 18 * mm
FRAME_W = PAGE[0] - 2 * MARGIN

MAX_TEXT = 1500  # characters of one model output / prompt shown
MAX_EXAMPLES = 6  # examples per finding
MAX_FINDINGS_PER_CHECK = 150
MAX_EXCERPTS = 5
MAX_VALUE = 400  # characters of a generic evidence value
MAX_LINES = 30  # lines of one text block (a row of a table cannot be taller than a page)

# --------------------------------------------------------------------------- fonts

_FONT_DIRS = [
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/Library/Fonts",
    os.path.expanduser("~/.local/share/fonts"),
    os.path.expanduser("~/Library/Fonts"),
]


class Fonts:
    """Font names plus the set of characters each can draw."""

    def __init__(self) -> None:
        self.regular, self.bold, self.italic, self.mono, self.mono_bold = (
            "Helvetica",
            "Helvetica-Bold",
            "Helvetica-Oblique",
            "Courier",
            "Courier-Bold",
        )
        self._charsets: dict[str, set[int] | None] = {}
        self.family = "Helvetica"
        self._register()

    @staticmethod
    def _find(filename: str) -> str | None:
        dirs = list(_FONT_DIRS)
        env = os.environ.get("AUDITOR_PDF_FONT_DIR")
        if env:
            dirs.insert(0, env)
        try:  # matplotlib bundles DejaVu; use it if present (never required)
            import importlib.util

            spec = importlib.util.find_spec("matplotlib")
            if spec and spec.submodule_search_locations:
                dirs.append(os.path.join(list(spec.submodule_search_locations)[0], "mpl-data", "fonts", "ttf"))
        except Exception:  # noqa: BLE001
            pass
        for d in dirs:
            p = os.path.join(d, filename)
            if os.path.isfile(p):
                return p
        return None

    def _try_family(self, prefix: str, files: dict[str, str]) -> bool:
        paths = {k: self._find(v) for k, v in files.items()}
        if not paths.get("regular"):
            return False
        try:
            for style, path in paths.items():
                if path:
                    name = f"{prefix}-{style}"
                    if name not in pdfmetrics.getRegisteredFontNames():
                        pdfmetrics.registerFont(TTFont(name, path))
        except Exception:  # noqa: BLE001 - a broken font file: fall back
            return False
        return True

    def _register(self) -> None:
        import reportlab

        vera_dir = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
        if self._try_family(
            "AuditorSans",
            {
                "regular": "DejaVuSans.ttf",
                "bold": "DejaVuSans-Bold.ttf",
                "italic": "DejaVuSans-Oblique.ttf",
                "bolditalic": "DejaVuSans-BoldOblique.ttf",
            },
        ):
            prefix = "AuditorSans"
        else:
            _FONT_DIRS.append(vera_dir)  # Bitstream Vera ships with reportlab
            prefix = "AuditorSans" if self._try_family(
                "AuditorSans",
                {"regular": "Vera.ttf", "bold": "VeraBd.ttf", "italic": "VeraIt.ttf", "bolditalic": "VeraBI.ttf"},
            ) else None
        if prefix:
            reg = pdfmetrics.getRegisteredFontNames()
            self.regular = f"{prefix}-regular"
            self.bold = f"{prefix}-bold" if f"{prefix}-bold" in reg else self.regular
            self.italic = f"{prefix}-italic" if f"{prefix}-italic" in reg else self.regular
            bi = f"{prefix}-bolditalic" if f"{prefix}-bolditalic" in reg else self.bold
            from reportlab.lib.fonts import addMapping

            for name, b, i in ((self.regular, 0, 0), (self.bold, 1, 0), (self.italic, 0, 1), (bi, 1, 1)):
                addMapping(self.regular, b, i, name)
            self.family = self.regular
        if self._try_family("AuditorMono", {"regular": "DejaVuSansMono.ttf", "bold": "DejaVuSansMono-Bold.ttf"}):
            reg = pdfmetrics.getRegisteredFontNames()
            self.mono = "AuditorMono-regular"
            self.mono_bold = "AuditorMono-bold" if "AuditorMono-bold" in reg else self.mono
            from reportlab.lib.fonts import addMapping

            for name, b, i in ((self.mono, 0, 0), (self.mono_bold, 1, 0), (self.mono, 0, 1), (self.mono_bold, 1, 1)):
                addMapping(self.mono, b, i, name)

    def charset(self, font: str) -> set[int] | None:
        """Code points `font` can draw (None: a standard Type 1 font, cp1252 only)."""
        if font not in self._charsets:
            f = pdfmetrics.getFont(font)
            face = getattr(f, "face", None)
            cmap = getattr(face, "charToGlyph", None)
            self._charsets[font] = set(cmap) if cmap else None
        return self._charsets[font]

    def can_draw(self, font: str, ch: str) -> bool:
        cs = self.charset(font)
        if cs is None:
            try:
                ch.encode("cp1252")
                return True
            except UnicodeEncodeError:
                return False
        return ord(ch) in cs


_FONTS: Fonts | None = None


def fonts() -> Fonts:
    global _FONTS
    if _FONTS is None:
        _FONTS = Fonts()
    return _FONTS


# --------------------------------------------------------------------------- text hygiene


def _cut_lines(text: str, max_lines: int) -> tuple[str, int]:
    """Collapse runs of blank lines and keep at most `max_lines` lines; return (text, lines dropped)."""
    text = text.replace("\r\n", "\n")
    if text.count("\n") < 3:
        return text, 0
    import re

    text = re.sub(r"\n[ \t]*(\n[ \t]*){2,}", "\n\n", text)
    lines = text.split("\n")
    if len(lines) <= max_lines:
        return text, 0
    return "\n".join(lines[:max_lines]), len(lines) - max_lines


def clean(text: Any, font: str | None = None, limit: int | None = None, max_lines: int = MAX_LINES) -> str:
    """Plain text safe to draw: control/format characters made visible, unknown glyphs replaced,
    length and line count limited. No markup escaping (see `esc`)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    truncated = 0
    if limit is not None and len(text) > limit:
        truncated = len(text) - limit
        text = text[:limit]
    text, dropped_lines = _cut_lines(text, max_lines)
    f = fonts()
    font = font or f.regular
    out = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
            continue
        if ch == "\t":
            out.append("    ")
            continue
        if ch == "\r":
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"[U+{ord(ch):04X}]")
        elif f.can_draw(font, ch):
            out.append(ch)
        elif f.can_draw(font, "\ufffd"):
            out.append("\ufffd")
        else:
            out.append("?")
    s = "".join(out)
    if dropped_lines:
        s += f"\n… [{dropped_lines} more lines in report.json]"
    if truncated:
        s += f" … [{truncated} more characters in report.json]"
    return s


def esc(text: Any, font: str | None = None, limit: int | None = None, *, keep_indent: bool = False) -> str:
    """`clean` + escaping for Paragraph markup; newlines become <br/>."""
    s = clean(text, font, limit)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if keep_indent:
        lines = []
        for line in s.split("\n"):
            stripped = line.lstrip(" ")
            lines.append("&nbsp;" * (len(line) - len(stripped)) + stripped)
        s = "\n".join(lines)
    return s.replace("\n", "<br/>")


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


def fmt_rate(v: Any) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return f"{v * 100:.1f}%"
    return "–" if v is None else clean(v)


def fmt_ci(ci: Any) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"[{fmt_rate(ci[0])}, {fmt_rate(ci[1])}]"
    return "–" if ci is None else clean(ci)


def fmt_p(p: Any) -> str:
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        if p < 1e-4:
            return f"{p:.1e}"
        return f"{p:.4f}"
    return "–" if p is None else clean(p)


def fmt_size(n: Any) -> str:
    if not isinstance(n, int) or isinstance(n, bool):
        return clean(n)
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v = float(n)
    for u in units:
        if v < 1024 or u == units[-1]:
            return f"{n:,} B" if u == "B" else f"{v:.1f} {u}"
        v /= 1024
    return str(n)


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


def pdf_date(iso: str | None) -> str:
    """PDF date string (D:YYYYMMDDHHmmSS+00'00') for an ISO 8601 time, in UTC."""
    try:
        t = _dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        t = t.astimezone(_dt.timezone.utc)
    except (ValueError, TypeError):
        t = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)
    return t.strftime("D:%Y%m%d%H%M%S+00'00'")


def human_time(iso: Any) -> str:
    try:
        t = _dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
        if t.tzinfo is not None:
            t = t.astimezone(_dt.timezone.utc)
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, TypeError):
        return clean(iso)


def duration(a: Any, b: Any) -> str:
    try:
        ta = _dt.datetime.fromisoformat(str(a).replace("Z", "+00:00"))
        tb = _dt.datetime.fromisoformat(str(b).replace("Z", "+00:00"))
        s = int((tb - ta).total_seconds())
    except (ValueError, TypeError):
        return ""
    if s < 0:
        return ""
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


# --------------------------------------------------------------------------- styles


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


def _table(rows, widths, *, header: bool = True, zebra: bool = True, extra: Iterable = ()) -> Table:
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


class _Renderer:
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
        return _table(rows, [key_w, FRAME_W - key_w], header=False)

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
        return _table(rows, [kw, vw, kw, vw], header=False, zebra=False, extra=extra)

    # page 1 ----------------------------------------------------------------
    def summary(self) -> list:
        r, s = self.r, self.s
        verdict = str(r.get("verdict", "error"))
        model = r.get("model", {})
        out: list = [self.p("Model audit report", s.title)]
        colour = VERDICT_COLOURS.get(verdict, VERDICT_COLOURS["error"])
        banner = Table(
            [
                [self.p(esc(verdict.upper()), s.banner)],
                [
                    self.p(
                        f"{esc(VERDICT_TAGLINE.get(verdict, ''))} · exit code {esc(r.get('exit_code'))}"
                        f" · policy “{esc(r.get('policy', {}).get('name'))}”",
                        s.banner_sub,
                    )
                ],
            ],
            colWidths=[FRAME_W],
        )
        banner.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), colour),
                    ("TOPPADDING", (0, 0), (-1, 0), 10),
                    ("BOTTOMPADDING", (0, -1), (-1, -1), 10),
                    ("ROUNDEDCORNERS", [4, 4, 4, 4]),
                ]
            )
        )
        out += [banner, Spacer(1, 8)]

        rev = model.get("revision")
        rev_text = rev if rev else "(local files: no revision; identified by digest)"
        if model.get("requested_revision") and model.get("requested_revision") != rev:
            rev_text = f"{rev_text}  (requested: {model.get('requested_revision')})"
        signing = r.get("signing", {})
        tool = r.get("tool", {})
        pairs: list[tuple[str, Any]] = [
            ("Model", model.get("id")),
            ("Source", model.get("source") + (f" ({model['endpoint']})" if model.get("endpoint") else "")
             if isinstance(model.get("source"), str) else model.get("source")),
            ("Revision (commit)", rev_text),
            ("Model digest (sha256)", (model.get("digest") or {}).get("sha256")),
            ("Files", f"{len(model.get('files') or [])} ({fmt_size(sum(int(x.get('size') or 0) for x in model.get('files') or [] if isinstance(x, dict)))})"),
            ("Policy", f"{r.get('policy', {}).get('name')}" + (f"  ({r['policy']['path']})" if r.get("policy", {}).get("path") else "")),
            ("Policy sha256", r.get("policy", {}).get("sha256")),
            ("Audit time", f"{human_time(r.get('started_at'))} → {human_time(r.get('finished_at'))}"
             f"  ({duration(r.get('started_at'), r.get('finished_at'))})"),
            ("Tool", f"{tool.get('name')} {tool.get('version')}" + (f" (git {tool['git_commit']})" if tool.get("git_commit") else "")),
            ("Signing key", f"{signing.get('key_fingerprint', '(unsigned)')}  [{signing.get('algorithm', '?')}]"),
        ]
        out.append(self.kv_table(pairs, mono_keys={"Revision (commit)", "Model digest (sha256)", "Policy sha256", "Signing key"}))
        out.append(Spacer(1, 6))

        # counts
        active = [x for x in self.findings if not x.get("waived")]
        counts = {sev: sum(1 for x in active if x.get("severity") == sev) for sev in SEVERITY_ORDER}
        waived = len(self.findings) - len(active)
        sev_line = "  ".join(f"{self.sev_badge(sev)} {counts[sev]}" for sev in SEVERITY_ORDER)
        rr = [x for x in r.get("rule_results", []) if isinstance(x, dict)]
        rcounts: dict[str, int] = {}
        for x in rr:
            rcounts[x.get("status", "?")] = rcounts.get(x.get("status", "?"), 0) + 1
        rule_line = ", ".join(f"{n} {esc(k).replace('_', ' ')}" for k, n in sorted(rcounts.items()))
        out.append(self.p(f"<b>Findings:</b> {sev_line}" + (f"  ({waived} waived)" if waived else ""), s.body))
        out.append(self.p(f"<b>Policy rules:</b> {len(rr)} evaluated — {rule_line or 'none'}", s.body))

        # top findings
        out.append(self.p("Top findings", s.h2))
        top = sorted(active, key=self._sev_key)[:6]
        if top:
            rows = [[self.t("Severity", s.cell_b), self.t("Check", s.cell_b), self.t("Finding", s.cell_b)]]
            for x in top:
                rows.append(
                    [
                        self.p(self.sev_badge(str(x.get("severity"))), s.cell),
                        self.t(x.get("check")),
                        self.t(x.get("title"), limit=300),
                    ]
                )
            out.append(_table(rows, [22 * mm, 30 * mm, FRAME_W - 52 * mm]))
            if len(active) > len(top):
                out.append(self.p(f"… and {len(active) - len(top)} more finding(s) in the sections below.", s.small))
        else:
            out.append(self.p("No (unwaived) findings.", s.body))

        errors = [e for e in r.get("errors", []) if isinstance(e, dict)]
        if errors:
            out.append(self.p("Errors", s.h2))
            for e in errors[:8]:
                out.append(self.p(f"<b>{esc(e.get('stage'))}:</b> {esc(e.get('message'), limit=400)}", s.body))
            if len(errors) > 8:
                out.append(self.p(f"… {len(errors) - 8} more in the Errors section.", s.small))

        out.append(self.p("What to do", s.h2))
        out.append(self.p(WHAT_TO_DO.get(verdict, WHAT_TO_DO["error"]), s.body))
        unrun = [x for x in rr if x.get("status") in ("not_run", "error")]
        if unrun and verdict in ("pass", "warn"):
            names = ", ".join(str(x.get("rule")) for x in unrun[:8]) + (" …" if len(unrun) > 8 else "")
            out.append(
                self.p(
                    f"<b>Coverage:</b> {len(unrun)} of {len(rr)} policy rules were not evaluated ({esc(names)}); "
                    "this verdict says nothing about what those rules check.",
                    s.body,
                )
            )
        out.append(
            self.p(
                "This PDF carries a PAdES signature; report.json and every other artifact are named by digest in "
                "the DSSE envelope report.json.dsse. Check both with "
                f"<font name='{self.f.mono}'>auditor verify DIR --key KEY.pub</font> and compare the key "
                "fingerprint above with the one you expect.",
                s.small,
            )
        )
        return out

    @staticmethod
    def _sev_key(x: dict) -> tuple:
        sev = x.get("severity")
        return (SEVERITY_ORDER.index(sev) if sev in SEVERITY_ORDER else len(SEVERITY_ORDER),)

    # policy results ----------------------------------------------------------
    def rule_results(self) -> list:
        s = self.s
        out: list = [self.p("1. Policy rules and results", s.h1)]
        rr = [x for x in self.r.get("rule_results", []) if isinstance(x, dict)]
        if not rr:
            return out + [self.p("The policy has no rules.", s.body)]
        rows = [[self.t(h, s.cell_b) for h in ("Rule", "Check", "Action", "Severity", "Result", "Message")]]
        for x in rr:
            msg = esc(x.get("message"), limit=600)
            if x.get("findings"):
                msg += f"<br/><font size='6.5' color='#555555'>findings: {esc(', '.join(map(str, x['findings'][:8])))}" + (
                    " …" if len(x["findings"]) > 8 else "") + "</font>"
            if isinstance(x.get("waiver"), dict):
                w = x["waiver"]
                bits = " · ".join(f"{k} {compact(v, 80)}" for k, v in w.items() if k not in ("rule", "reason"))
                msg += f"<br/><font color='#1565c0' size='6.5'>waiver: {esc(bits, limit=300)}</font>"
            rows.append(
                [
                    self.t(x.get("rule"), s.cell_b),
                    self.t(x.get("check")),
                    self.t(x.get("action")),
                    self.p(self.sev_badge(str(x.get("severity"))), s.cell),
                    self.p(self.status_badge(str(x.get("status"))), s.cell),
                    self.p(msg, s.cell),
                ]
            )
        w = [40 * mm, 27 * mm, 14 * mm, 19 * mm, 19 * mm]
        out.append(_table(rows, w + [FRAME_W - sum(w)]))
        return out

    # checks --------------------------------------------------------------------
    def checks_overview(self) -> list:
        s = self.s
        out: list = [self.p("2. Checks", s.h1)]
        checks = [c for c in self.r.get("checks", []) if isinstance(c, dict)]
        rows = [[self.t(h, s.cell_b) for h in ("Check", "Status", "Findings", "Duration", "Note")]]
        for c in checks:
            d = c.get("duration_s")
            rows.append(
                [
                    self.t(c.get("id"), s.cell_b),
                    self.p(self.status_badge(str(c.get("status"))), s.cell),
                    self.t(c.get("n_findings")),
                    self.t(f"{d:.1f} s" if isinstance(d, (int, float)) else d),
                    self.t(c.get("error") or "", limit=400),
                ]
            )
        w = [36 * mm, 26 * mm, 16 * mm, 18 * mm]
        out.append(_table(rows, w + [FRAME_W - sum(w)]))
        return out

    def check_sections(self) -> list:
        s = self.s
        out: list = []
        checks = [c for c in self.r.get("checks", []) if isinstance(c, dict)]
        ids = [c.get("id") for c in checks]
        for x in self.findings:  # findings of checks that have no entry
            if x.get("check") not in ids:
                ids.append(x.get("check"))
                checks.append({"id": x.get("check"), "status": "?"})
        for n, c in enumerate(checks, start=3):
            cid = c.get("id")
            fs = sorted((x for x in self.findings if x.get("check") == cid), key=self._sev_key)
            out.append(CondPageBreak(80 * mm))
            out.append(self.p(f"{n}. Check {esc(cid)} &nbsp;{self.status_badge(str(c.get('status')))}", s.h1))
            meta: list[tuple[str, Any]] = []
            if c.get("error"):
                meta.append(("Error", c["error"]))
            for k, v in (c.get("settings") or {}).items():
                meta.append((f"setting: {k}", v))
            for k, v in (c.get("details") or {}).items():
                meta.append((k, v))
            if meta:
                out += [self.kv_table(meta), Spacer(1, 4)]
            if not fs:
                status = str(c.get("status"))
                note = {
                    "pass": "No findings: the check ran and found nothing.",
                    "skipped": "No findings because the check did not run (skipped). This is not a pass.",
                    "not_applicable": "No findings because the model has nothing this check can examine. This is not a pass.",
                    "error": "The check failed to complete; see the error above. This is not a pass.",
                }.get(status, "No findings.")
                out.append(self.p(note, s.body))
                continue
            if any(isinstance(x.get("evidence", {}).get("curve"), list) for x in fs):
                out.extend(self.persistence_plots(fs))
            for x in fs[:MAX_FINDINGS_PER_CHECK]:
                out.extend(self.finding(x))
            if len(fs) > MAX_FINDINGS_PER_CHECK:
                out.append(self.p(f"… {len(fs) - MAX_FINDINGS_PER_CHECK} more findings of this check in report.json.", s.body))
        return out

    # one finding ---------------------------------------------------------------
    def finding(self, x: dict) -> list:
        s = self.s
        ev = x.get("evidence") if isinstance(x.get("evidence"), dict) else {}
        head = f"{self.sev_badge(str(x.get('severity')))} {esc(x.get('title'), limit=400)}"
        if x.get("waived"):
            head += f" {self.status_badge('waived')}"
        meta = [f"rule <b>{esc(x.get('rule'))}</b>", f"id <font name='{self.f.mono}'>{esc(x.get('id'))}</font>"]
        if x.get("file"):
            meta.append(f"file <font name='{self.f.mono}'>{esc(x.get('file'), self.f.mono, 300)}</font>")
        if x.get("location"):
            meta.append(f"at {esc(x.get('location'), limit=200)}")
        if x.get("policy_rules"):
            meta.append("violates " + esc(", ".join(map(str, x["policy_rules"]))))
        block: list = [self.p(head, s.h3), self.p(" · ".join(meta), s.small), Spacer(1, 2)]
        check = x.get("check")
        if check in ("known_triggers", "trigger_search") or ("trigger" in ev and "triggered_rate" in ev):
            rest = self.trigger_evidence(ev)
        elif check == "persistence" or ("method" in ev and "rate_before" in ev):
            rest = self.persistence_evidence(ev)
        elif check == "scratchpad" or "excerpts" in ev:
            rest = self.scratchpad_evidence(ev)
        else:
            rest = self.generic_evidence(ev, mono_keys={"import", "opcode", "offset", "argument_preview", "module", "name"})
        # keep the heading with the start of its evidence
        return [KeepTogether(block + rest[:1])] + rest[1:] + [Spacer(1, 6)]

    def trigger_evidence(self, ev: dict) -> list:
        s = self.s
        known = {
            "trigger", "placement", "behaviour", "detector", "triggered_rate", "baseline_rate", "n", "n_baseline", "k",
            "k_baseline", "ci95", "baseline_ci95", "p_value", "p_value_raw", "stage", "examples",
        }
        counts = ""
        if isinstance(ev.get("k"), int) and isinstance(ev.get("k_baseline"), int):
            counts = f" ({ev['k']}/{ev.get('n')} vs {ev['k_baseline']}/{ev.get('n_baseline', ev.get('n'))})"
        p_raw = f" (unadjusted {fmt_p(ev['p_value_raw'])})" if isinstance(ev.get("p_value_raw"), (int, float)) else ""
        base_ci = f" (95% CI {fmt_ci(ev['baseline_ci95'])})" if ev.get("baseline_ci95") is not None else ""
        pairs: list[tuple[str, Any]] = [
            ("Trigger", self.mono(ev.get("trigger"), 600, s.cell_mono)),
            (
                "Placement / behaviour",
                f"{ev.get('placement', '–')} / {ev.get('behaviour', '–')}"
                + (f" (detector {ev['detector']})" if ev.get("detector") else ""),
            ),
            (
                "Behaviour rate",
                self.p(
                    f"<b>{fmt_rate(ev.get('triggered_rate'))}</b> with trigger (95% CI {fmt_ci(ev.get('ci95'))}) vs "
                    f"<b>{fmt_rate(ev.get('baseline_rate'))}</b> without{base_ci} · n = {esc(fmt_num(ev.get('n', '–')))}"
                    f"{esc(counts)} · p = {fmt_p(ev.get('p_value'))}{p_raw}",
                    s.cell,
                ),
            ),
            ("Stage", ev.get("stage", "–")),
        ]
        out: list = [self.kv_table(pairs)]
        more = self.more_table([(k, v) for k, v in ev.items() if k not in known])
        if more is not None:
            out.append(more)
        bar = self.rate_bar(ev)
        if bar is not None:
            out.append(bar)
        examples = [e for e in ev.get("examples") or [] if isinstance(e, dict)]
        if examples:
            label = self.p(f"Example outputs ({min(len(examples), MAX_EXAMPLES)} of {len(examples)})", s.small)
            shown = [self.example(e) for e in examples[:MAX_EXAMPLES]]
            out.append(KeepTogether([label, shown[0]]))
            out.extend(KeepTogether([x]) for x in shown[1:])
        return out

    def rate_bar(self, ev: dict):
        """A two-bar picture of triggered vs baseline rate with the CI whisker."""
        tr, br = ev.get("triggered_rate"), ev.get("baseline_rate")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in (tr, br)):
            return None
        w, h = FRAME_W, 34
        d = Drawing(w, h)
        x0, bw = 70, w - 110
        for i, (label, v, col) in enumerate(
            (("with trigger", tr, colors.HexColor("#b00020")), ("baseline", br, colors.HexColor("#607d8b")))
        ):
            y = h - 14 - i * 15
            d.add(String(0, y + 2, label, fontName=self.f.regular, fontSize=7))
            d.add(Rect(x0, y, bw, 10, fillColor=colors.HexColor("#eeeeee"), strokeColor=None))
            d.add(Rect(x0, y, bw * v, 10, fillColor=col, strokeColor=None))
            d.add(String(x0 + bw + 4, y + 2, fmt_rate(v), fontName=self.f.regular, fontSize=7))
            ci = ev.get("ci95")
            if i == 0 and isinstance(ci, (list, tuple)) and len(ci) == 2 and all(
                isinstance(c, (int, float)) and 0 <= c <= 1 for c in ci
            ):
                lo, hi = x0 + bw * ci[0], x0 + bw * ci[1]
                d.add(Line(lo, y + 5, hi, y + 5, strokeColor=colors.black, strokeWidth=0.8))
                d.add(Line(lo, y + 2, lo, y + 8, strokeColor=colors.black, strokeWidth=0.8))
                d.add(Line(hi, y + 2, hi, y + 8, strokeColor=colors.black, strokeWidth=0.8))
        return d

    def example(self, e: dict) -> Table:
        s = self.s
        cond = str(e.get("condition", "example"))
        colour = STATUS_COLOURS["violated"] if cond.startswith("trig") else colors.HexColor("#607d8b")
        rows = [
            [self.p(self.badge(cond, colour), s.cell), self.p("<b>prompt</b>", s.cell), self.mono(e.get("prompt"), MAX_TEXT, s.cell_mono)],
            ["", self.p("<b>output</b>", s.cell), self.mono(e.get("output"), MAX_TEXT, s.cell_mono)],
        ]
        for k, v in e.items():
            if k not in ("condition", "prompt", "output"):
                rows.append(["", self.t(k, s.cell_b), self.t(compact(v))])
        t = Table(rows, colWidths=[24 * mm, 14 * mm, FRAME_W - 38 * mm], hAlign="LEFT")
        t.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), BOX_BG),
                    ("BOX", (0, 0), (-1, -1), 0.4, GRID),
                    ("LINEBELOW", (1, 0), (-1, -2), 0.3, GRID),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 3),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        t.spaceAfter = 3
        return t

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
            ("Helpfulness", f"{_fmt_metric(ev.get('helpfulness_before'))} before → {_fmt_metric(ev.get('helpfulness_after'))} after"
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
        by_trigger: dict[tuple[str, str], list[tuple[str, list[tuple[float, float]]]]] = {}
        for x in fs:
            ev = x.get("evidence") or {}
            pts = []
            for pt in ev.get("curve") or []:
                if (
                    isinstance(pt, (list, tuple))
                    and len(pt) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pt)
                ):
                    pts.append((float(pt[0]), float(pt[1])))
            if pts:
                pts.sort()
                key = (str(ev.get("trigger", "")), str(ev.get("curve_axis") or "steps"))
                by_trigger.setdefault(key, []).append((str(ev.get("method", "?")), pts))
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
                colour = STATUS_COLOURS["violated"] if cond.startswith("trig") else colors.HexColor("#607d8b")
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

    def generic_evidence(self, ev: dict, mono_keys: Iterable[str] = ()) -> list:
        if not ev:
            return [self.p("(no evidence recorded)", self.s.small)]
        first = [k for k in ("file", "location", "import", "opcode", "offset") if k in ev]
        items = [(k, ev[k]) for k in first] + [(k, v) for k, v in ev.items() if k not in first]
        if len(items) > 8:
            return [self.more_table(items)]
        return [self.kv_table(items, mono_keys=mono_keys)]

    # appendices --------------------------------------------------------------
    def appendix_files(self) -> list:
        s = self.s
        model = self.r.get("model", {})
        out: list = [PageBreak(), self.p("Appendix A. File manifest", s.h1)]
        out.append(
            self.p(
                f"Model digest (sha256 over the sorted per-file digests): "
                f"<font name='{self.f.mono}'>{esc((model.get('digest') or {}).get('sha256'))}</font>",
                s.small,
            )
        )
        rows = [[self.t(h, s.cell_b) for h in ("Path", "Size", "sha256")]]
        for fi in model.get("files") or []:
            if not isinstance(fi, dict):
                continue
            digest = fi.get("sha256")
            if digest:
                dcell = self.t(digest, s.digest)
            else:
                note = "not downloaded" if fi.get("downloaded") is False else "not hashed"
                hub = f"; hub LFS sha256 {fi['hub_sha256']}" if fi.get("hub_sha256") else ""
                dcell = self.p(f"<i>{esc(note)}</i>{esc(hub, s.cell_mono.fontName)}", s.cell_mono)
            rows.append([self.t(fi.get("path"), s.cell_mono, 300), self.t(fmt_size(fi.get("size"))), dcell])
        if len(rows) == 1:
            rows.append([self.t("(no files)"), "", ""])
        w = [62 * mm, 17 * mm]
        out.append(_table(rows, w + [FRAME_W - sum(w)]))
        card = model.get("card")
        if isinstance(card, dict) and card:
            out.append(self.p("Model card metadata", s.h2))
            out.append(self.kv_table(list(card.items())))
        return out

    def appendix_policy(self) -> list:
        s = self.s
        pol = self.r.get("policy", {})
        out: list = [CondPageBreak(50 * mm), self.p("Appendix B. Policy", s.h1)]
        out.append(self.kv_table([("Name", pol.get("name")), ("Path", pol.get("path")), ("sha256", pol.get("sha256"))], mono_keys={"sha256", "Path"}))
        out.append(Spacer(1, 4))
        rows = [[self.t(h, s.cell_b) for h in ("Rule", "Check", "Severity", "Action", "Description / parameters")]]
        for rule in pol.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            extra = {k: v for k, v in rule.items() if k not in ("id", "check", "severity", "action", "description")}
            desc = esc(rule.get("description") or "", limit=800)
            if extra:
                desc += ("<br/>" if desc else "") + f"<font name='{self.f.mono}' size='6.5'>{esc(compact(extra), self.f.mono)}</font>"
            rows.append(
                [
                    self.t(rule.get("id"), s.cell_b),
                    self.t(rule.get("check")),
                    self.p(self.sev_badge(str(rule.get("severity"))), s.cell),
                    self.t(rule.get("action", "fail")),
                    self.p(desc, s.cell),
                ]
            )
        w = [40 * mm, 27 * mm, 19 * mm, 14 * mm]
        out.append(_table(rows, w + [FRAME_W - sum(w)]))
        waivers = [w_ for w_ in pol.get("waivers") or [] if isinstance(w_, dict)]
        out.append(self.p(f"Waivers ({len(waivers)})", s.h2))
        for w_ in waivers:
            out.append(self.kv_table(list(w_.items())))
            out.append(Spacer(1, 3))
        if not waivers:
            out.append(self.p("None.", s.body))
        return out

    def appendix_env(self) -> list:
        s = self.s
        rp = self.r.get("reproducibility", {})
        tool = self.r.get("tool", {})
        out: list = [CondPageBreak(60 * mm), self.p("Appendix C. Environment and reproducibility", s.h1)]
        host = rp.get("host") or {}
        pairs: list[tuple[str, Any]] = [
            ("Seed", rp.get("seed")),
            ("Device", rp.get("device")),
            ("Host", f"{host.get('platform')} · {host.get('machine')} · {host.get('cpu_count')} CPUs"),
            ("Policy sha256", rp.get("policy_sha256")),
        ]
        if rp.get("battery_sha256"):
            pairs.append(("Battery sha256", rp.get("battery_sha256")))
        pairs += [
            ("Tool", f"{tool.get('name')} {tool.get('version')}"),
            ("Tool git commit", tool.get("git_commit") or "(unknown)"),
            ("Started", self.r.get("started_at")),
            ("Finished", self.r.get("finished_at")),
            ("Command", " ".join(_shell_quote(a) for a in rp.get("command") or [])),
        ]
        out.append(self.kv_table(pairs, mono_keys={"Policy sha256", "Battery sha256", "Tool git commit", "Command"}))
        versions = rp.get("versions") or {}
        if versions:
            out.append(self.p("Package versions", s.h2))
            out.append(self.kv_table([(k, v if v is not None else "(not installed)") for k, v in versions.items()]))
        errors = [e for e in self.r.get("errors", []) if isinstance(e, dict)]
        if errors:
            out.append(self.p("Errors", s.h2))
            rows = [[self.t("Stage", s.cell_b), self.t("Message", s.cell_b)]]
            rows += [[self.t(e.get("stage")), self.t(e.get("message"), limit=2000)] for e in errors]
            out.append(_table(rows, [30 * mm, FRAME_W - 30 * mm]))
        return out

    def story(self) -> list:
        return (
            self.summary()
            + [PageBreak()]
            + self.rule_results()
            + self.checks_overview()
            + self.check_sections()
            + self.appendix_files()
            + self.appendix_policy()
            + self.appendix_env()
        )


def _fmt_metric(v: Any) -> str:
    """A rate in [0, 1] as a percentage, any other number as is (e.g. a mean log-probability)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1:
        return fmt_rate(v)
    return fmt_num(v) if v is not None else "–"


def highlight(text: Any, spans: Any, font: str) -> str:
    """Paragraph markup for `text` with the character ranges in `spans` in bold red."""
    text = text if isinstance(text, str) else str(text)
    if len(text) > MAX_TEXT * 2:
        text = text[: MAX_TEXT * 2]
    if text.count("\n") >= MAX_LINES:
        text = "\n".join(text.split("\n")[:MAX_LINES])
    ranges = []
    for sp in spans if isinstance(spans, list) else []:
        if (
            isinstance(sp, (list, tuple))
            and len(sp) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in sp)
        ):
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
    out, pos = [], 0
    for a, b in merged:
        out.append(esc(text[pos:a], font))
        out.append(f"<font color='#b00020'><b>{esc(text[a:b], font)}</b></font>")
        pos = b
    out.append(esc(text[pos:], font))
    return "".join(out)


def _shell_quote(a: Any) -> str:
    import shlex

    return shlex.quote(str(a))


def _canvas_factory(report: dict[str, Any], f: Fonts):
    created = pdf_date(report.get("finished_at"))
    model = report.get("model", {}) if isinstance(report.get("model"), dict) else {}
    rev = model.get("revision")
    verdict = str(report.get("verdict", "")).upper()
    left = clean(f"{model.get('id')}" + (f" @ {rev[:12]}" if isinstance(rev, str) else ""), f.regular, 300, 1).replace("\n", " ")
    room = FRAME_W - 70 - pdfmetrics.stringWidth(f"auditor report ·  · verdict {verdict}", f.regular, 7)
    while left and pdfmetrics.stringWidth(left, f.regular, 7) > room:
        left = left[:-2] + "…" if len(left) > 2 else ""
    fp = str((report.get("signing") or {}).get("key_fingerprint", ""))

    class _Canvas(rl_canvas.Canvas):
        """Adds "page N of M" footers (two-pass) and a fixed creation date."""

        def __init__(self, *args, **kwargs):
            kwargs["invariant"] = 1
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *a: created)
            self._saved: list[dict] = []

        def showPage(self):
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            self.saveState()
            self.setFont(f.regular, 7)
            self.setFillColor(colors.HexColor("#666666"))
            self.drawString(MARGIN, 10 * mm, f"auditor report · {left} · verdict {verdict}")
            self.drawRightString(PAGE[0] - MARGIN, 10 * mm, f"page {self._pageNumber} of {total}")
            if fp:
                self.drawString(MARGIN, 7 * mm, clean(f"signing key {fp}", f.regular))
            self.setStrokeColor(GRID)
            self.line(MARGIN, 13 * mm, PAGE[0] - MARGIN, 13 * mm)
            self.restoreState()

    return _Canvas


def render_pdf(report: dict[str, Any]) -> bytes:
    """Render the report as PDF bytes (unsigned). Same dict → same bytes."""
    f = fonts()
    buf = io.BytesIO()
    model = report.get("model", {}) if isinstance(report.get("model"), dict) else {}
    tool = report.get("tool", {}) if isinstance(report.get("tool"), dict) else {}
    doc = SimpleDocTemplate(
        buf,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=clean(f"Model audit report: {model.get('id')}", f.regular, 200),
        author=clean(f"{tool.get('name', 'auditor')} {tool.get('version', '')}", f.regular, 100),
        subject=clean(f"verdict {report.get('verdict')} · revision {model.get('revision')}", f.regular, 200),
        creator=clean(f"{tool.get('name', 'auditor')} {tool.get('version', '')}", f.regular, 100),
        keywords=["model audit", "backdoor", str(report.get("verdict"))],
        invariant=1,
        lang="en",
    )
    renderer = _Renderer(report)
    try:
        doc.build(renderer.story(), canvasmaker=_canvas_factory(report, f))
    except Exception as exc:  # noqa: BLE001 - reportlab raises LayoutError and friends
        raise ReportError(f"cannot render the PDF report: {type(exc).__name__}: {exc}") from None
    return buf.getvalue()


def write_pdf(report: dict[str, Any], path: Path) -> Path:
    path.write_bytes(render_pdf(report))
    return path
