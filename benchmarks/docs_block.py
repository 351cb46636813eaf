"""Rewrite one measured block of a docs page, so a benchmark's table in the docs
always comes from the last run of its script, never from hand edits."""

from __future__ import annotations

from pathlib import Path


def replace_block(page: Path, name: str, text: str) -> None:
    """Replace what lies between `<!-- NAME:begin -->` and `<!-- NAME:end -->`."""
    s = page.read_text(encoding="utf-8")
    begin, end = f"<!-- {name}:begin -->\n", f"\n<!-- {name}:end -->"
    if begin not in s or end not in s:
        raise SystemExit(f"{page}: no '{name}' block (add {begin.strip()} ... {end.strip()} markers)")
    a, b = s.index(begin) + len(begin), s.index(end)
    page.write_text(s[:a] + text.strip("\n") + s[b:], encoding="utf-8")
