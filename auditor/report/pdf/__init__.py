"""Render the report dict as a PDF (reportlab platypus).

Layout: page 1 is the executive summary (verdict banner, model identity, top
findings, what to do, signing key); then the policy rule results, a section
per check with its findings and their evidence (trigger statistics with example
outputs, persistence curves, highlighted scratchpad excerpts, static-scan
locations); then appendices (file manifest, policy, environment). One module
per part: summary, findings, persistence, scratchpad, appendix; fonts, fmt,
styles and canvas hold what they share.

Everything that came from the model or the model's repository (outputs,
prompts, file names, ids) is hostile input: it is escaped for reportlab's
Paragraph markup, stripped of control/bidi characters (shown as [U+XXXX]),
reduced to glyphs the font has, and truncated. Rendering is deterministic: the
same report dict gives the same bytes (invariant mode, creation date taken from
`finished_at`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from reportlab.platypus import PageBreak, SimpleDocTemplate

from ...errors import ReportError
from .appendix import AppendixMixin
from .canvas import canvas_factory
from .findings import FindingsMixin
from .fmt import (  # noqa: F401 - the module's public helpers, as before the split
    clean,
    compact,
    duration,
    esc,
    fmt_ci,
    fmt_num,
    fmt_p,
    fmt_rate,
    fmt_size,
    highlight,
    human_time,
    pdf_date,
)
from .fonts import Fonts, fonts  # noqa: F401
from .persistence import PersistenceMixin
from .scratchpad import ScratchpadMixin
from .styles import MARGIN, PAGE, Blocks, Styles  # noqa: F401
from .summary import SummaryMixin


class Renderer(SummaryMixin, FindingsMixin, PersistenceMixin, ScratchpadMixin, AppendixMixin, Blocks):
    """The whole document, section by section."""

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
    renderer = Renderer(report)
    try:
        doc.build(renderer.story(), canvasmaker=canvas_factory(report, f))
    except Exception as exc:  # noqa: BLE001 - reportlab raises LayoutError and friends
        raise ReportError(f"cannot render the PDF report: {type(exc).__name__}: {exc}") from None
    return buf.getvalue()


def write_pdf(report: dict[str, Any], path: Path) -> Path:
    path.write_bytes(render_pdf(report))
    return path
