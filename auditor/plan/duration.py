"""Durations as people write them: `90s`, `15m`, `1h30m`, `1.5h`, or plain seconds."""

from __future__ import annotations

import re

from ..errors import AuditorError

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])", re.IGNORECASE)
_WHOLE = re.compile(r"(?:\s*\d+(?:\.\d+)?\s*[hms])+\s*", re.IGNORECASE)
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value) -> float:
    """Seconds in `value` (a number or a string such as "15m"); a clear error otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _WHOLE.fullmatch(text):
            seconds = sum(float(n) * _UNIT[u.lower()] for n, u in _PART.findall(text))
        else:
            raise AuditorError(f"time budget {value!r}: expected seconds or e.g. 90s, 15m, 1h30m")
    if seconds <= 0:
        raise AuditorError(f"time budget {value!r} must be positive")
    return seconds


def format_seconds(seconds: float) -> str:
    """`42s`, `3m 05s`, `1h 02m` — short and readable in a table."""
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"
