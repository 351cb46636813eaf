"""The plan: every stage's estimated cost before any check runs.

Loads the weights once (the same `AuditContext.lm()` the checks then reuse),
calibrates on them, and prices each enabled check's stages with the settings
it will run with. With a time budget the allocation (`allocate.py`) rewrites
those settings and the plan is priced again, so the table a person sees is
the one the audit will follow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import AuditorError
from . import calibrate
from .cost import Env, StageEstimate, estimate, scan_bytes


@dataclass
class Plan:
    stages: list[StageEstimate]
    throughput: calibrate.Throughput
    model: dict[str, Any]
    load_seconds: float = 0.0
    budget_seconds: float | None = None
    overrides: dict[str, dict] = field(default_factory=dict)  # check -> settings merged over the policy's
    skipped_checks: dict[str, str] = field(default_factory=dict)  # check -> why the budget leaves it out
    reductions: dict[str, list[str]] = field(default_factory=dict)  # stage key -> what the budget cut
    notes: list[str] = field(default_factory=list)
    env: Any = None  # the priced environment, kept to re-plan the remaining checks

    def seconds_for(self, check: str) -> float:
        return sum(s.seconds for s in self.stages if s.check == check)

    def total(self) -> float:
        return self.load_seconds + self.throughput.seconds + sum(s.seconds for s in self.stages)

    def eta(self) -> dict[str, float]:
        """Seconds per check and per stage key, for the progress display."""
        out: dict[str, float] = {}
        for s in self.stages:
            out[s.key] = s.seconds
            out[s.stage] = s.seconds
            out[s.check] = out.get(s.check, 0.0) + s.seconds if s.stage != s.check else s.seconds
        return out

    def to_dict(self) -> dict[str, Any]:
        out = {
            "model": self.model,
            "calibration": self.throughput.to_dict(),
            "load_seconds": round(self.load_seconds, 2),
            "estimated_seconds": round(self.total(), 1),
            "budget_seconds": self.budget_seconds,
            "stages": [s.to_dict() | ({"reductions": self.reductions[s.key]} if s.key in self.reductions else {})
                       for s in self.stages],
        }
        if self.skipped_checks:
            out["skipped_checks"] = self.skipped_checks
        if self.overrides:
            out["settings_overrides"] = self.overrides
        if self.notes:
            out["notes"] = self.notes
        return out


def prompt_tokens(lm, prompts: list[str]) -> float:
    """Mean length of the rendered search prompts in this model's tokens."""
    if not prompts:
        return 48.0
    ids = lm.tokenizer([lm.render(p) for p in prompts], add_special_tokens=False)["input_ids"]
    return sum(len(i) for i in ids) / len(ids)


def make_env(ctx, policy, check_ids: list[str], notes: list[str]) -> tuple[Env, dict, float]:
    """Load (once) and calibrate when a behavioural check will run; else a static-only env."""
    from ..checks.registry import get_check
    from ..probe.battery import load_battery
    from ..search.prompts import load_extra

    n_bytes = sum(int(getattr(f, "size", 0) or 0) for f in ctx.model.files)
    battery = load_battery(policy.settings_for("known_triggers").get("battery", "builtin"))
    needs = any(get_check(c).needs_weights for c in check_ids) and not ctx.model.is_file
    tp, model, load_s = calibrate.default(), {"loaded": False}, 0.0
    n_params, vocab, p_tok, device, batch = 0, 0, 48.0, "cpu", 8
    if needs:
        t = time.perf_counter()
        try:
            lm = ctx.lm()
        except AuditorError as exc:
            notes.append(f"weights not loaded, behavioural stages priced with defaults: {exc}")
            lm = None
        load_s = time.perf_counter() - t
        if lm is not None:
            tp = calibrate.measure(lm)
            n_params, vocab, device, batch = lm.n_params, len(lm.tokenizer), lm.device, lm.batch_size
            p_tok = prompt_tokens(lm, battery.prompts["search"])
            model = {"loaded": True, **lm.info(), "vocab": vocab, "prompt_tokens": round(p_tok, 1)}
    env = Env(n_params, vocab, p_tok, device, batch, n_bytes, tp, battery, load_extra(), int(ctx.seed),
              scan_bytes=scan_bytes(ctx.model.files))
    return env, model, load_s


def price(env: Env, policy, check_ids: list[str], overrides: dict[str, dict] | None = None,
          probe_set_built: bool = False) -> list[StageEstimate]:
    from ..checks.base import deep_merge

    from ..checks.registry import get_check

    # The probe set is built by the first behavioural check, whether or not probe_coverage runs
    # (once: a re-plan after it was built does not pay for it again).
    ids = list(check_ids)
    if probe_set_built:
        ids = [c for c in ids if c != "probe_coverage"]
    elif "probe_coverage" not in ids and any(get_check(c).needs_weights for c in ids):
        ids.insert(0, "probe_coverage")
    stages: list[StageEstimate] = []
    for cid in ids:
        settings = deep_merge(policy.settings_for(cid), (overrides or {}).get(cid, {}))
        stages += estimate(cid, settings, env)
    return stages


def build_plan(ctx, policy, check_ids: list[str], budget_seconds: float | None = None, spent: float = 0.0) -> Plan:
    """Price every stage; with `budget_seconds`, fit the stages into it (minus `spent`)."""
    from .allocate import allocate

    notes: list[str] = []
    env, model, load_s = make_env(ctx, policy, check_ids, notes)
    plan = Plan(price(env, policy, check_ids), env.tp, model, load_s, notes=notes, env=env)
    if budget_seconds is not None:
        plan.budget_seconds = budget_seconds
        allocate(plan, env, policy, check_ids, budget_seconds - spent - load_s - env.tp.seconds)
        plan.stages = price(env, policy, [c for c in check_ids if c not in plan.skipped_checks], plan.overrides)
        plan.stages += [StageEstimate(c, c, "-", 0.0, coverage="none", skipped=why) for c, why in plan.skipped_checks.items()]
        for s in plan.stages:  # a stage the budget caps runs at most its cap
            cap = plan_cap(plan.overrides, s)
            if cap is not None:
                s.seconds = min(s.seconds, cap)
    return plan


def plan_cap(overrides: dict, s: StageEstimate) -> float | None:
    if s.check == "trigger_search":
        return (overrides.get("trigger_search", {}).get("stages", {}).get(s.stage) or {}).get("max_seconds")
    return None


def replan(plan: Plan, policy, remaining: list[str], seconds_left: float, slowdown: float,
           probe_set_built: bool = True) -> None:
    """Fit the checks still to run into the time left, on a machine running `slowdown`
    times slower than calibrated (a shared host gets busier; a stage without a chunk loop
    overran). Their overrides, skips and reductions are replaced; the plan's stages are re-priced."""
    from dataclasses import replace

    from .allocate import allocate

    tp = replace(plan.throughput, token_s=plan.throughput.token_s * slowdown, head_s=plan.throughput.head_s * slowdown,
                 step_s=plan.throughput.step_s * slowdown)
    env = replace(plan.env, tp=tp)
    part = Plan(price(env, policy, remaining, probe_set_built=probe_set_built), tp, plan.model, env=env)
    allocate(part, env, policy, remaining, seconds_left)
    for c in remaining:
        plan.overrides.pop(c, None)
        plan.skipped_checks.pop(c, None)
    plan.reductions = {k: v for k, v in plan.reductions.items() if k.partition(".")[0] not in remaining}
    plan.overrides.update(part.overrides)
    plan.skipped_checks.update(part.skipped_checks)
    plan.reductions.update(part.reductions)
    done = [s for s in plan.stages if s.check not in remaining]
    kept = [c for c in remaining if c not in plan.skipped_checks]
    plan.stages = done + price(env, policy, kept, plan.overrides, probe_set_built=probe_set_built)
    plan.stages += [StageEstimate(c, c, "-", 0.0, coverage="none", skipped=plan.skipped_checks[c]) for c in remaining
                    if c in plan.skipped_checks]
    for st in plan.stages:
        cap = plan_cap(plan.overrides, st)
        if cap is not None and st.check in remaining:
            st.seconds = min(st.seconds, cap)
    plan.notes.append(f"re-planned {', '.join(remaining)}: {seconds_left:.0f}s left, running {slowdown:.2f}x the calibrated time")
