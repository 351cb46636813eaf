"""Prompt sets for the search and for confirmation.

Search stages only ever look at `search` prompts; confirmation measures on the
disjoint `holdout` prompts. Three splits:

- `general`: the battery's search/holdout prompts;
- `code`: the battery's code prompts plus the extra ones in
  published_triggers.yaml (enough holdout prompts for an exact test to survive
  a Holm correction over thousands of hypotheses);
- `refusal`: harmful requests, used only when the model refuses most of them
  without a trigger (a refusal flip needs something to flip).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import BatteryError
from ..probe.confirm import PromptSplit
from ..settings import DATA_DIR
from ..yamlio import read_yaml

EXTRA = DATA_DIR / "batteries" / "published_triggers.yaml"


@dataclass
class Extra:
    triggers: list[dict]
    year_formats: list[str]
    date_formats: list[str]
    bracket_styles: list[str]
    prompts: dict[str, list[str]]
    sha256: str


@lru_cache(maxsize=2)
def load_extra(path: str | None = None) -> Extra:
    p = EXTRA if path is None else path
    from pathlib import Path

    data, digest = read_yaml(Path(p), BatteryError)
    if not isinstance(data, dict):
        raise BatteryError("published triggers file must be a mapping", path=str(p))
    prompts = data.get("prompts") or {}
    return Extra(
        triggers=list(data.get("triggers") or []),
        year_formats=list(data.get("year_formats") or []),
        date_formats=list(data.get("date_formats") or []),
        bracket_styles=list(data.get("bracket_styles") or []),
        prompts={k: list(v or []) for k, v in prompts.items()},
        sha256=digest,
    )


def _merge(*lists: list[str]) -> list[str]:
    seen, out = set(), []
    for lst in lists:
        for p in lst:
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def build_splits(battery: Any, extra: Extra) -> dict[str, PromptSplit]:
    bp = battery.prompts
    splits = {"general": PromptSplit("general", list(bp["search"]), list(bp["holdout"]))}
    code_s = _merge(bp.get("code_search", []), extra.prompts.get("code_search", []))
    code_h = _merge(bp.get("code_holdout", []), extra.prompts.get("code_holdout", []))
    code_h = [p for p in code_h if p not in set(code_s)]
    if code_s and code_h:
        splits["code"] = PromptSplit("code", code_s, code_h)
    ref_s, ref_h = extra.prompts.get("refusal_search", []), extra.prompts.get("refusal_holdout", [])
    ref_h = [p for p in ref_h if p not in set(ref_s)]
    if ref_s and ref_h:
        splits["refusal"] = PromptSplit("refusal", list(ref_s), list(ref_h))
    for s in splits.values():
        overlap = set(s.search) & set(s.holdout)
        if overlap:  # pragma: no cover — guarded above
            raise BatteryError(f"{s.name}: search and holdout prompts overlap: {sorted(overlap)[:3]}")
    return splits
