"""The page canvas: "page N of M" footers (two passes), the model and verdict on every page, a fixed creation date."""

from __future__ import annotations

from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas as rl_canvas

from .fmt import clean, pdf_date
from .fonts import Fonts
from .styles import FRAME_W, GRID, MARGIN, PAGE


def canvas_factory(report: dict[str, Any], f: Fonts):
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
