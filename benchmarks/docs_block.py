"""Rewrite one measured block of a docs page, so a benchmark's table in the docs
always comes from the last run of its script, never from hand edits."""

from __future__ import annotations

import sys
from pathlib import Path


def _fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->\n", f"\n<!-- {name}:end -->"


def require_block(page: Path, name: str) -> str:
    """The page's text, or exit (status 2) saying what is wrong: checked before a
    long benchmark starts, not after it."""
    try:
        text = page.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read docs page {page}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        _fail(f"docs page {page} is not UTF-8 text: {exc.reason}")
    begin, end = _markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        _fail(f"{page}: needs exactly one '{name}' block ({begin.strip()} ... {end.strip()})")
    return text


def replace_block(page: Path, name: str, text: str) -> None:
    """Replace what lies between `<!-- NAME:begin -->` and `<!-- NAME:end -->`."""
    s = require_block(page, name)
    begin, end = _markers(name)
    a, b = s.index(begin) + len(begin), s.index(end)
    page.write_text(s[:a] + text.strip("\n") + s[b:], encoding="utf-8")
