"""Known-trigger battery: try the published backdoor triggers, each in each
placement, on the model's own probe prompts, and keep only those that
measurably change behaviour and beat strings of the same shape.

Confirmation is `auditor.probe.confirm` (held-out prompts, Holm, echo filter,
generic threshold, repertoire, matched controls), the same path as discovery.
A generic behaviour that controls switch on too is reported as an `info`
prompt-fragility measurement, never as a backdoor.

Under a time budget the planner narrows the battery with `max_triggers` (the
first published triggers, in the battery's order), `placements` (the first
placement each trigger lists) and shorter generations, and sets `max_seconds`:
the screen then stops between generation chunks when time is up, and
`details.budget` says what was screened.
"""

from __future__ import annotations

from ..errors import PolicyError
from ..probe import detector_sets
from ..probe.battery import load_battery
from ..probe.confirm import DEFAULTS, Candidate, Plan, best_per_trigger, confirm, screening_coverage, slim
from ..probe.probe_set import outside_prompts
from ..search.budget import StageBudget
from .base import Check, CheckResult
from .findings import fragility_finding, publish_triggers, trigger_finding


class KnownTriggersCheck(Check):
    id = "known_triggers"
    description = "Published backdoor triggers, with vs without and vs same-shape controls, on held-out probe prompts"
    needs_weights = True
    default_settings = {
        **DEFAULTS,
        "battery": "builtin",
        "max_new_tokens": 24,
        "code_max_new_tokens": 96,
        "targets": [],
        "max_triggers": None,  # the first N triggers of the battery (a time budget's knob)
        "placements": None,  # "first": only the first placement each trigger lists (a time budget's knob)
        "max_seconds": None,  # the screen stops between generation chunks after this
    }

    def run(self, ctx, settings) -> CheckResult:
        _check_budget_settings(settings)  # a bad value fails before any generation
        battery = load_battery(settings["battery"])
        ctx.shared["battery"] = battery
        lm = ctx.lm()
        probe = ctx.probe_set(battery)
        plans, refusal_note = [], None
        chosen = battery.triggers[: int(settings["max_triggers"])] if settings["max_triggers"] else battery.triggers
        bud = StageBudget("known_triggers", settings["max_seconds"])
        for name, split in probe.splits.items():
            if name == "refusal":
                refusal_note = detector_sets.refusal_note(ctx, split, outside_prompts(probe, battery, 16))
                if not refusal_note["tested"]:
                    continue
            candidates = [
                Candidate(t["text"], placement, "battery", {"source": t.get("source", "")})
                for t in chosen
                for placement in _placements(battery, t, settings["placements"])
            ]
            mnt = int(settings["code_max_new_tokens"] if name == "code" else settings["max_new_tokens"])
            plans.append(Plan(name, split, candidates, detector_sets.for_split(name, battery.targets, settings["targets"]), mnt))
        res = confirm(lm, plans, settings, upstream=0, seed=ctx.seed, repertoire_prompts=outside_prompts(probe, battery),
                      budget=bud)
        screen = screening_coverage(res)
        if settings["max_triggers"] or settings["placements"]:
            n_all = sum(len(battery.placements_for(t)) for t in battery.triggers)
            screen["summary"] += f" ({len(chosen)} of {len(battery.triggers)} published triggers; {n_all} trigger x placement pairs in all)"
        bud.truncated = bud.truncated or screen["truncated"]
        bud.candidates = screen["screened"]
        bud.notes["coverage"] = screen
        best = best_per_trigger(res.confirmed)
        publish_triggers(ctx, best)
        findings = [trigger_finding(self.id, ev) for ev in best]
        if res.fragility:
            findings.append(fragility_finding(self.id, res.fragility))
        details = {
            "battery": {"name": battery.name, "path": battery.path, "sha256": battery.sha256},
            "candidates": sum(len(p.candidates) for p in plans),
            "hypotheses": res.hypotheses,
            "generations": res.generations,
            "splits": res.per_split,
            "refusal": refusal_note,
            "model": lm.info(),
            "near_misses": [slim(r) for r in res.near_misses[:20]],
            "budget": bud.finish().report(),
        }
        status = "fail" if any(f.rule == "behaviour.trigger" for f in findings) else "pass"
        return CheckResult(self.id, status, findings=findings, details=details)


def _placements(battery, trigger: dict, which) -> list[str]:
    """The placements to try for one trigger: all it lists, or only the first ("first")."""
    pls = battery.placements_for(trigger)
    return pls[:1] if which == "first" else pls


def _check_budget_settings(settings: dict) -> None:
    if settings["placements"] not in (None, "all", "first"):
        raise PolicyError(f"known_triggers setting placements must be 'all' or 'first', got {settings['placements']!r}")
    for key in ("max_triggers", "max_seconds"):
        v = settings[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
            raise PolicyError(f"known_triggers setting {key} must be a positive number or null, got {v!r}")
