"""Fonts for the PDF: DejaVu (or reportlab's Vera) registered once, and which characters each can draw.

Hostile text is reduced to glyphs the font has (see `fmt.clean`), so the PDF
never shows tofu boxes that could hide what a model wrote.
"""

from __future__ import annotations

import os

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

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
