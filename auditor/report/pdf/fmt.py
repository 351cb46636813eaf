"""Text for reportlab: glyph-safe, markup-escaped, truncated; the shared number formats bound to it.

`clean`/`esc` are the only way report text reaches a Paragraph. The number and
time formats are `auditor.report.fmt`'s (shared with the HTML report), with
`clean` for values that are not numbers.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from typing import Any

from .. import fmt as shared
from ..fmt import (  # noqa: F401 - re-exported for the section modules
    MAX_EXAMPLES,
    MAX_EXCERPTS,
    MAX_FINDINGS_PER_CHECK,
    MAX_TEXT,
    MAX_VALUE,
    SEVERITY_ORDER,
    VERDICT_TAGLINE,
    WHAT_TO_DO,
    compact,
    duration,
    fmt_metric,
    fmt_num,
    severity_key,
)
from .fonts import fonts

MAX_LINES = 30  # lines of one text block (a row of a table cannot be taller than a page)


def _cut_lines(text: str, max_lines: int) -> tuple[str, int]:
    """Collapse runs of blank lines and keep at most `max_lines` lines; return (text, lines dropped)."""
    text = text.replace("\r\n", "\n")
    if text.count("\n") < 3:
        return text, 0
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


def fmt_rate(v: Any) -> str:
    return shared.fmt_rate(v, clean)


def fmt_ci(ci: Any) -> str:
    return shared.fmt_ci(ci, clean)


def fmt_p(p: Any) -> str:
    return shared.fmt_p(p, clean)


def fmt_size(n: Any) -> str:
    return shared.fmt_size(n, clean)


def human_time(iso: Any) -> str:
    return shared.human_time(iso, clean)


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


def highlight(text: Any, spans: Any, font: str) -> str:
    """Paragraph markup for `text` with the character ranges in `spans` in bold red."""
    return "".join(
        f"<font color='#b00020'><b>{esc(seg, font)}</b></font>" if hit else esc(seg, font)
        for seg, hit in shared.highlight_segments(text, spans, MAX_TEXT * 2, MAX_LINES)
    )
