"""Resource limits of the static scan, so hostile files cannot exhaust time, memory or disk."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import PolicyError, ResourceLimitError

GiB = 1 << 30


@dataclass
class Limits:
    """Every bound the scanner enforces. Hitting one makes the audit incomplete, never a pass."""

    max_files: int = 100_000
    max_file_size: int = 256 * GiB
    max_total_size: int = 4096 * GiB
    max_opcodes: int = 100_000_000
    max_nesting_depth: int = 4
    max_decompressed_size: int = 64 * GiB
    max_members: int = 100_000
    max_pickle_stack: int = 2_000_000
    max_pickle_memo: int = 50_000_000
    max_header_size: int = 100 * (1 << 20)
    max_line_length: int = 16 * (1 << 20)
    max_text_scan: int = 64 * (1 << 20)
    max_findings_per_file: int = 200

    @classmethod
    def from_settings(cls, value: Any) -> "Limits":
        """Build from a settings dict (unknown keys are an error), a Limits, or None."""
        if value is None:
            return cls()
        if isinstance(value, Limits):
            return value
        if not isinstance(value, dict):
            raise PolicyError("static_scan limits must be a mapping of limit name to integer")
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise PolicyError(f"unknown static_scan limit(s): {', '.join(sorted(unknown))}")
        try:
            return cls(**{k: int(v) for k, v in value.items()})
        except (TypeError, ValueError):
            raise PolicyError(f"static_scan limits must be integers: {value}") from None

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def exceeded(what: str, limit: int, seen: int, where: str | None = None) -> ResourceLimitError:
    """The error raised when a limit is hit (message names the limit so a policy can raise it)."""
    loc = f" in {where}" if where else ""
    return ResourceLimitError(f"scan limit {what}={limit} exceeded{loc} (saw {seen}); audit incomplete")
