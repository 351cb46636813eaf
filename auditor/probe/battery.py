"""Trigger batteries: which triggers to try, where, and on which prompts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import BatteryError
from ..settings import DATA_DIR
from ..yamlio import read_yaml, schema_errors

BUILTIN = DATA_DIR / "batteries" / "known_triggers.yaml"
SCHEMA = DATA_DIR / "batteries" / "battery.schema.json"


@dataclass
class Battery:
    name: str
    triggers: list[dict]
    placements: list[str]
    targets: list[dict]
    prompts: dict[str, list[str]]
    path: str
    sha256: str

    def placements_for(self, trigger: dict) -> list[str]:
        return list(trigger.get("placements") or self.placements)


def load_battery(path: str | Path | None = None) -> Battery:
    """Load and validate a battery file (the built-in one when `path` is None or 'builtin')."""
    p = BUILTIN if path in (None, "builtin") else Path(path)
    data, digest = read_yaml(p, BatteryError)
    errors = schema_errors(data, SCHEMA)
    if errors:
        raise BatteryError("invalid battery:\n  " + "\n  ".join(errors), path=str(p))
    prompts = data["prompts"]
    overlap = set(prompts["search"]) & set(prompts["holdout"])
    if overlap:
        raise BatteryError(f"search and holdout prompts overlap: {sorted(overlap)[:3]}", path=str(p))
    return Battery(
        name=data.get("name", p.stem),
        triggers=data["triggers"],
        placements=data.get("placements", ["prefix", "suffix", "system"]),
        targets=data.get("targets", []),
        prompts=prompts,
        path=str(p),
        sha256=digest,
    )


def select_prompts(split, which: str, limit: int) -> list[str]:
    """From a probe split (`auditor.probe.confirm.PromptSplit`): `search`, `holdout`
    or `all` (search + holdout), capped at `limit`."""
    if which == "all":
        prompts = list(split.search) + list(split.holdout)
    elif which in ("search", "holdout"):
        prompts = list(getattr(split, which))
    else:
        raise ValueError(f"prompts must be 'search', 'holdout' or 'all', got {which!r}")
    return prompts[: int(limit)]
