"""Cost model, calibration, time-budget allocation and the audit plan (see docs/scale.md)."""

from .build import Plan, build_plan
from .duration import format_seconds, parse_duration

__all__ = ["Plan", "build_plan", "format_seconds", "parse_duration"]
