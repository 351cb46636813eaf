"""Search presets: how much work each stage may do.

`quick` is for CI and tests (tens of seconds on a tiny CPU model), `standard`
is the default audit, `deep` is for a GPU or a patient auditor. Any key can be
overridden per stage from the policy, e.g.

    trigger_search:
      settings:
        preset: standard
        stages: {gradient: {enabled: true, steps: 200}, vocab_scan: {placements: [suffix, prefix]}}

or `stages: [vocab_scan, target_inversion]` to run only those stages (the
others are reported as disabled).
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import AuditorError, PolicyError
from ..probe.confirm import DEFAULTS as CONFIRM_DEFAULTS

STAGES = ("battery", "vocab_scan", "target_inversion", "gradient", "elicitation")

_COMMON: dict[str, Any] = {
    **CONFIRM_DEFAULTS,  # alpha, min_effect, generic threshold, repertoire, controls (auditor.probe.confirm)
    "max_new_tokens": 64,  # general prompts: long enough to see a payload appended after the answer
    "code_max_new_tokens": 128,  # code prompts: a whole function
    "cot_extra_tokens": 48,  # added to max_new_tokens when answers open with a reasoning tag (<scratchpad>)
    "near_misses": 20,
    "targets": [],  # extra user target regexes: [{name, pattern, case_sensitive}]
    "cpu_threads": "auto",  # 1 thread for tiny CPU models, else torch's default; or an int
    "shift_detector": True,
}

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        **_COMMON,
        "max_new_tokens": 56,
        "code_max_new_tokens": 112,
        "confirm": {"max_per_stage": 12, "max_candidates": 24, "placement_variants": 1},
        "stages": {
            "battery": {
                "enabled": True, "max_seconds": 60, "years": [2022, 2028], "dates": 2, "mutations_per_trigger": 3,
                "placements": ["prefix", "suffix", "system"], "scan_prompts": 3, "answer_tokens": 12,
                "top_k": 8, "code_top_k": 8, "per_family": 2, "family_groups": 2, "family_members": 3,
                "max_candidates": None,
            },
            "vocab_scan": {
                "enabled": True, "max_seconds": 60, "prompts": 3, "placements": ["suffix"], "answer_tokens": 24,
                "max_tokens": None, "top_k": 5, "end_top_k": 2, "bigram_top": 0, "bigram_keep": 2,
            },
            "target_inversion": {
                "enabled": True, "max_seconds": 60, "prompts": 3, "first_tokens": None, "expand_top": 24,
                "max_len": 24, "targets": 2, "min_token_prob": 0.5, "min_consistency": 0.75,
                "input_prompts": 3, "placements": ["suffix"], "top_k": 3, "extend_top": 2, "extend_prompts": 2,
                "rerank_top": 16, "rerank_prompts": 4, "bigram_top": 10, "bigram_keep": 3,
                "exact_limit": 16384,
            },
            "gradient": {
                "enabled": "auto", "max_seconds": 45, "max_params_cpu": 50_000_000, "steps": 16, "positions": 2,
                "topk_per_position": 48, "candidates_per_step": 64, "prompts": 3, "restarts": 1, "keep": 2,
            },
            "elicitation": {"enabled": True, "max_seconds": 30, "max_proposals": 8},
        },
    },
    "standard": {
        **_COMMON,
        "confirm": {"max_per_stage": 18, "max_candidates": 48, "placement_variants": 2},
        "stages": {
            "battery": {
                "enabled": True, "max_seconds": 120, "years": [2018, 2032], "dates": 6, "mutations_per_trigger": 8,
                "placements": ["prefix", "suffix", "inline", "system"], "scan_prompts": 4, "answer_tokens": 12,
                "top_k": 12, "code_top_k": 12, "per_family": 2, "family_groups": 3, "family_members": 4,
                "max_candidates": None,
            },
            "vocab_scan": {
                "enabled": True, "max_seconds": 120, "prompts": 4, "placements": ["suffix", "inline"],
                "answer_tokens": 32, "max_tokens": 50_000, "top_k": 8, "end_top_k": 3, "bigram_top": 16, "bigram_keep": 3,
            },
            "target_inversion": {
                "enabled": True, "max_seconds": 120, "prompts": 4, "first_tokens": None, "expand_top": 32,
                "max_len": 24, "targets": 3, "min_token_prob": 0.5, "min_consistency": 0.75,
                "input_prompts": 4, "placements": ["suffix"], "top_k": 5, "extend_top": 2, "extend_prompts": 2,
                "rerank_top": 24, "rerank_prompts": 4, "bigram_top": 16, "bigram_keep": 4,
                "exact_limit": 50_000,
            },
            "gradient": {
                "enabled": "auto", "max_seconds": 120, "max_params_cpu": 50_000_000, "steps": 40, "positions": 2,
                "topk_per_position": 96, "candidates_per_step": 96, "prompts": 4, "restarts": 2, "keep": 2,
            },
            "elicitation": {"enabled": True, "max_seconds": 60, "max_proposals": 12},
        },
    },
    "deep": {
        **_COMMON,
        "confirm": {"max_per_stage": 32, "max_candidates": 96, "placement_variants": 3},
        "stages": {
            "battery": {
                "enabled": True, "max_seconds": 600, "years": [2010, 2040], "dates": 24, "mutations_per_trigger": 24,
                "placements": ["prefix", "suffix", "inline", "system"], "scan_prompts": 12, "answer_tokens": 16,
                "top_k": 24, "code_top_k": 16, "per_family": 3, "family_groups": 6, "family_members": 6,
                "max_candidates": None,
            },
            "vocab_scan": {
                "enabled": True, "max_seconds": 900, "prompts": 12, "placements": ["suffix", "inline", "prefix"],
                "answer_tokens": 48, "max_tokens": None, "top_k": 20, "end_top_k": 5, "bigram_top": 64, "bigram_keep": 8,
            },
            "target_inversion": {
                "enabled": True, "max_seconds": 900, "prompts": 12, "first_tokens": None, "expand_top": 128,
                "max_len": 32, "targets": 5, "min_token_prob": 0.4, "min_consistency": 0.7,
                "input_prompts": 12, "placements": ["suffix", "inline", "prefix"], "top_k": 10, "extend_top": 4, "rerank_top": 48, "rerank_prompts": 6, "bigram_top": 64,
                "bigram_keep": 8, "exact_limit": None,
            },
            "gradient": {
                "enabled": True, "max_seconds": 1800, "max_params_cpu": 50_000_000, "steps": 250, "positions": 3,
                "topk_per_position": 256, "candidates_per_step": 256, "prompts": 12, "restarts": 4, "keep": 5,
            },
            "elicitation": {"enabled": True, "max_seconds": 300, "max_proposals": 32},
        },
    },
}


def resolve(settings: dict[str, Any]) -> dict[str, Any]:
    """The effective settings: the preset, then the policy's overrides on top.

    `stages` may be a dict of per-stage overrides or a list naming the only
    stages to run; a top-level key named after a stage is a per-stage override.
    """
    from ..checks.base import deep_merge

    name = settings.get("preset", "standard")
    if name not in PRESETS:
        raise AuditorError(f"trigger_search: unknown preset {name!r} (known: {', '.join(PRESETS)})")
    eff = copy.deepcopy(PRESETS[name])
    eff["preset"] = name
    for key, value in settings.items():
        if key in ("preset", "stages"):
            continue
        if key == "battery" and not isinstance(value, dict):
            eff["battery_file"] = value  # the battery file (as for known_triggers), not the stage
            continue
        if key in STAGES:
            if not isinstance(value, dict):
                raise AuditorError(f"trigger_search: settings.{key} must be a mapping")
            eff["stages"][key] = deep_merge(eff["stages"][key], value)
        elif isinstance(value, dict) and isinstance(eff.get(key), dict):
            eff[key] = deep_merge(eff[key], value)
        else:
            eff[key] = value
    stages = settings.get("stages")
    if isinstance(stages, (list, tuple)):
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise AuditorError(f"trigger_search: unknown stage(s) {unknown} (known: {', '.join(STAGES)})")
        for s in STAGES:
            eff["stages"][s]["enabled"] = eff["stages"][s]["enabled"] if s in stages else False
            if s in stages and eff["stages"][s]["enabled"] is False:
                eff["stages"][s]["enabled"] = True
    elif isinstance(stages, dict):
        for s, value in stages.items():
            if s not in STAGES:
                raise AuditorError(f"trigger_search: unknown stage {s!r} (known: {', '.join(STAGES)})")
            eff["stages"][s] = deep_merge(eff["stages"][s], value or {})
    elif stages is not None:
        raise AuditorError("trigger_search: settings.stages must be a list of stage names or a mapping")
    check_stage_types(eff)
    return eff


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a string" if isinstance(value, str) else type(value).__name__


def kinds_of(value: Any) -> set[str]:
    """The kinds a setting whose default is `value` may take. A null default means "no limit",
    so a number is one of its values too."""
    return {"null", "a number"} if value is None else {_kind(value)}


def check_kinds(where: str, given: dict[str, Any], kinds: dict[str, set[str]], unknown_ok: bool = True) -> None:
    """Each of `given`'s settings must be of one of its `kinds`: a wrong value is a policy error
    naming the setting (`trigger_search setting <where>.<key>`), raised before any search rather
    than as a crash in the middle of one."""
    for key, value in given.items():
        want = kinds.get(key)
        if want is None:
            if unknown_ok:
                continue
            raise PolicyError(f"trigger_search setting {where}.{key} is unknown; known: {', '.join(sorted(kinds))}")
        if _kind(value) not in want:
            raise PolicyError(f"trigger_search setting {where}.{key} must be {' or '.join(sorted(want))}, got {value!r}")


def _stage_kinds() -> dict[str, dict[str, set[str]]]:
    """What each stage setting the presets know may be: the kinds its values take across them."""
    kinds: dict[str, dict[str, set[str]]] = {stage: {} for stage in STAGES}
    for preset in PRESETS.values():
        for stage, cfg in preset["stages"].items():
            for key, value in cfg.items():
                kinds[stage].setdefault(key, set()).update(kinds_of(value))
    for stage in STAGES:
        kinds[stage].setdefault("max_seconds", set()).add("null")  # no cap
        kinds[stage].setdefault("enabled", set()).add("true/false")
    kinds["gradient"]["enabled"].add("a string")  # "auto"
    return kinds


def check_stage_types(eff: dict[str, Any]) -> None:
    """Stage settings the presets know, checked for their kind (`check_kinds`)."""
    kinds = _stage_kinds()
    for stage, cfg in eff["stages"].items():
        check_kinds(stage, cfg or {}, kinds.get(stage, {}))
    if eff["stages"]["gradient"].get("enabled") not in (True, False, "auto"):
        raise PolicyError(f"trigger_search setting gradient.enabled must be true, false or auto, "
                          f"got {eff['stages']['gradient']['enabled']!r}")
