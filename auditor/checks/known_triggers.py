"""Known-trigger battery: try the published backdoor triggers, each in each
placement, on the model's own probe prompts, and keep only those that
measurably change behaviour and beat strings of the same shape.

Confirmation is `auditor.probe.confirm` (held-out prompts, Holm, echo filter,
generic threshold, repertoire, matched controls), the same path as discovery.
A generic behaviour that controls switch on too is reported as an `info`
prompt-fragility measurement, never as a backdoor.
"""

from __future__ import annotations

from ..probe import detector_sets
from ..probe.battery import load_battery
from ..probe.confirm import DEFAULTS, Candidate, Plan, best_per_trigger, confirm, slim
from ..probe.probe_set import outside_prompts
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
    }

    def run(self, ctx, settings) -> CheckResult:
        battery = load_battery(settings["battery"])
        ctx.shared["battery"] = battery
        lm = ctx.lm()
        probe = ctx.probe_set(battery)
        plans, refusal_note = [], None
        for name, split in probe.splits.items():
            if name == "refusal":
                ok, rate, benign = detector_sets.refusal_applicable(lm, split, benign=outside_prompts(probe, battery, 16))
                refusal_note = {"baseline_refusal_rate": round(rate, 3), "benign_refusal_rate": benign, "tested": ok}
                if not ok:
                    continue
            candidates = [
                Candidate(t["text"], placement, "battery", {"source": t.get("source", "")})
                for t in battery.triggers
                for placement in battery.placements_for(t)
            ]
            mnt = int(settings["code_max_new_tokens"] if name == "code" else settings["max_new_tokens"])
            plans.append(Plan(name, split, candidates, detector_sets.for_split(name, battery.targets, settings["targets"]), mnt))
        res = confirm(lm, plans, settings, upstream=0, seed=ctx.seed, repertoire_prompts=outside_prompts(probe, battery))
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
        }
        status = "fail" if any(f.rule == "behaviour.trigger" for f in findings) else "pass"
        return CheckResult(self.id, status, findings=findings, details=details)

