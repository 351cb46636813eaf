"""Fit an audit into a time budget by rewriting the checks' settings.

The seconds left after loading, calibration and the static scan are shared
between the behavioural stages by weight (water-filling: a stage that needs
less than its share gets what it needs, the rest is shared again). A stage
given a fraction f < 1 of its full cost is scaled with the knobs its code
already has — fewer placements and prompts, a deterministic vocabulary sample
(`vocab_fraction` under the audit seed), fewer first tokens, fewer GCG steps,
fewer candidates to confirm, the cheapest persistence methods first — and
gets `max_seconds` as a safety net, checked between chunks of work. A stage
whose share is below its useful minimum is skipped and says so. Checks stay
independent of the planner: they only see settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .cost import Env, StageEstimate, persistence_method_seconds, survivor_seconds, vocab_strings

# Seconds kept back for judging and writing/signing the reports.
REPORT_RESERVE_S = 10.0
CONDITIONAL_CHECKS = ("persistence", "scratchpad")
# A cap is a safety net over the estimate: the share plus this margin.
CAP_MARGIN = 1.1


@dataclass
class Item:
    key: str
    cost: float  # full-work seconds
    weight: float
    min_f: float  # below this fraction of its cost ...
    min_s: float  # ... or these seconds, the stage is not worth running
    skippable: bool = True
    floor: float | None = None  # priced at its smallest settings (fixed costs do not scale)
    limit: float | None = None  # the policy's own cap (max_seconds): more time than this is not used

    @property
    def need(self) -> float:
        """The least time that makes the stage worth running."""
        least = self.floor if self.floor is not None else self.min_f * self.cost
        return min(self.cost, max(least, self.min_s))


# key -> (weight, minimum useful fraction, minimum useful seconds, may be skipped), in priority
# order: minimums are reserved in this order, so when time is short the published-trigger
# battery runs before any search, and a search stage runs before confirmation is paid for.
POLICY: dict[str, tuple[float, float, float, bool]] = {
    "known_triggers": (4.0, 0.05, 0.0, True),
    "trigger_search.vocab_scan": (2.0, 0.0, 10.0, True),
    "trigger_search.battery": (2.0, 0.0, 10.0, True),
    "trigger_search.confirm": (3.0, 0.01, 0.0, False),
    "activation_probe": (1.0, 0.2, 0.0, True),
    "trigger_search.target_inversion": (2.0, 0.0, 15.0, True),
    "scratchpad": (1.0, 0.2, 0.0, True),
    "persistence": (1.0, 0.05, 0.0, True),
    "trigger_search.gradient": (1.0, 0.1, 0.0, True),
}
SEARCH_STAGES = ("trigger_search.vocab_scan", "trigger_search.battery", "trigger_search.target_inversion",
                 "trigger_search.gradient")


def waterfill(items: list[Item], avail: float, floor: dict[str, float] | None = None) -> dict[str, float]:
    """Seconds per item: each keeps its `floor`, then the rest of `avail` is shared by
    weight — full cost for the cheap ones, equal seconds-per-weight for the others."""
    floor = floor or {}
    out = {it.key: floor.get(it.key, 0.0) for it in items}
    remaining = max(0.0, avail - sum(out.values()))
    top = {it.key: min(it.cost, it.limit) if it.limit else it.cost for it in items}
    rest = sorted(items, key=lambda it: (top[it.key] - out[it.key]) / it.weight)
    w_left = sum(it.weight for it in rest)
    for i, it in enumerate(rest):
        level = remaining / w_left if w_left else 0.0
        gap = max(0.0, top[it.key] - out[it.key])
        if gap <= level * it.weight:
            out[it.key] += gap
            remaining -= gap
            w_left -= it.weight
        else:
            for later in rest[i:]:
                out[later.key] += level * later.weight
            break
    return out


def reserve(items: list[Item], avail: float) -> tuple[list[Item], list[Item]]:
    """Minimums in priority order: (kept, dropped). Confirmation is kept only behind a search stage."""
    kept, dropped, left = [], [], avail
    order = {k: i for i, k in enumerate(POLICY)}
    confirm = next((it for it in items if it.key == "trigger_search.confirm"), None)
    for it in sorted(items, key=lambda it: order[it.key]):
        if it is confirm:
            continue
        # The first search stage also pays for confirming what it proposes.
        extra = confirm.need if confirm is not None and it.key in SEARCH_STAGES and confirm not in kept else 0.0
        if it.need + extra <= left or not it.skippable:
            kept.append(it)
            left -= it.need
            if extra:
                kept.append(confirm)
                left -= extra
        else:
            dropped.append(it)
    if confirm is not None and confirm not in kept:
        dropped.append(confirm)
    return kept, dropped


def _items(stages: list[StageEstimate]) -> list[Item]:
    costs: dict[str, float] = {}
    limits: dict[str, float] = {}
    for s in stages:
        if s.skipped or s.check == "static_scan":
            continue
        key = s.key if s.check == "trigger_search" else s.check
        # Full work (not the preset's cap: the budget plans a sample instead of a cut-off);
        # conditional work only for checks that do nothing else (persistence, scratchpad).
        full = s.full if s.full is not None else s.seconds
        costs[key] = costs.get(key, 0.0) + full + (s.conditional if s.check in CONDITIONAL_CHECKS else 0.0)
        if s.full is not None and s.full > s.seconds:
            limits[key] = s.seconds
    return [Item(k, max(1e-3, c), *POLICY[k], limit=limits.get(k)) for k, c in costs.items() if k in POLICY]


PROBE_SET_SHARE = 0.25  # of the budget, at most, for building the probe set every check uses


def _fit_probe_set(plan, env: Env, avail: float) -> float:
    """Scale the probe set (prompts scored for competence, elicitation samples) to at most
    PROBE_SET_SHARE of the budget; its seconds are then fixed, like the static scan's."""
    from ..probe.probe_set import DEFAULT_SETTINGS
    from .cost import probe_coverage

    est = [s for s in plan.stages if s.check == "probe_coverage"]
    if not est:
        return 0.0
    cost, share = est[0].seconds, PROBE_SET_SHARE * max(0.0, avail)
    if cost <= share:
        return cost
    def scaled(f: float) -> dict:
        # at least enough candidates for a reachable probe set (min_general_prompts) with some to spare
        return {"max_candidates": max(24, int(min(64, DEFAULT_SETTINGS["max_candidates"]) * f)),
                "n_elicit": max(24, int(DEFAULT_SETTINGS["n_elicit"] * f)),
                "elicit_max_seconds": max(5.0, float(DEFAULT_SETTINGS["elicit_max_seconds"]) * f),
                "competence_samples": 1}

    f = share / cost
    for _ in range(4):  # not linear (floors, fixed scoring): re-price and tighten
        settings = scaled(f)
        est = probe_coverage({"settings": settings}, env)[0].seconds
        if est <= share * 1.05:
            break
        f *= share / est
    note = f"probe set: {settings['max_candidates']} candidate prompts per purpose, {settings['n_elicit']} elicitation samples"
    if est > share * 1.05:
        # Too dear even at its smallest: no elicitation (the model's own turns and system lines
        # are not sampled, which the probe set's report then says); competence scoring stays.
        settings["elicit"] = False
        note = f"probe set: {settings['max_candidates']} candidate prompts per purpose, no elicitation"
    plan.overrides["probe_coverage"] = {"settings": settings}
    plan.reductions.setdefault("probe_coverage", []).append(note)
    return probe_coverage({"settings": settings}, env)[0].seconds


def allocate(plan, env: Env, policy, check_ids: list[str], avail: float) -> None:
    """Fill `plan.overrides`, `plan.skipped_checks` and `plan.reductions` for `avail` seconds."""
    fixed = sum(s.seconds for s in plan.stages if s.check == "static_scan")
    fixed += _fit_probe_set(plan, env, avail)
    avail = avail - fixed - REPORT_RESERVE_S
    if avail <= 0:
        plan.notes.append(f"the budget leaves {avail:.0f}s after loading, calibration and the static scan")
    items = _items(plan.stages)
    for it in items:  # what the stage costs at its smallest settings (baselines, prefill: work no cap interrupts)
        scratch = type(plan)([], plan.throughput, {})
        APPLY[it.key](scratch, env, policy, max(it.min_f, 1e-4), max(it.min_f, 1e-4) * it.cost)
        it.floor = _priced(env, policy, scratch.overrides, it.key)
    kept, dropped = reserve(items, avail)
    shares = waterfill(kept, avail, {it.key: it.need for it in kept})
    for it in dropped:
        _skip(plan, it.key, f"time budget: it needs at least {it.need:.0f}s of its {it.cost:.0f}s; "
                            f"{max(0.0, avail):.0f}s were shared by priority")
    for it in kept:
        f = shares[it.key] / it.cost
        for _ in range(4):  # scaling is not linear (fixed baselines, floors): re-price and tighten
            if f >= 0.999:
                break
            plan.reductions.pop(it.key, None)
            APPLY[it.key](plan, env, policy, f, shares[it.key])
            est = _priced(env, policy, plan.overrides, it.key)
            if est <= shares[it.key] * 1.05:
                break
            f *= shares[it.key] / est
    ts = plan.overrides.get("trigger_search", {}).get("stages", {})
    if "trigger_search" in check_ids and ts and all(
        (ts.get(s) or {}).get("enabled") is False for s in ("battery", "vocab_scan", "target_inversion")
    ):
        plan.skipped_checks["trigger_search"] = "time budget: no candidate-generation stage fits"


def _priced(env: Env, policy, overrides: dict, key: str) -> float:
    """The estimate for one stage (`check` or `check.stage`) under `overrides`."""
    from .build import price

    check, _, stage = key.partition(".")
    # Uncapped: a stage planned to fit its share needs no cut-off (the cap stays a safety net).
    return sum(s.full if s.full is not None else s.seconds
               for s in price(env, policy, [check], overrides) if s.stage == (stage or check))


def _skip(plan, key: str, why: str) -> None:
    check, _, stage = key.partition(".")
    if stage:
        _set(plan, check, {"stages": {stage: {"enabled": False}}})
        plan.reductions.setdefault(key, []).append(f"skipped — {why}")
    else:
        plan.skipped_checks[check] = why


def _set(plan, check: str, patch: dict) -> None:
    from ..checks.base import deep_merge

    plan.overrides[check] = deep_merge(plan.overrides.get(check, {}), patch)


def _note(plan, key: str, text: str) -> None:
    plan.reductions.setdefault(key, []).append(text)


def _check_settings(policy, check: str) -> dict:
    """A check's settings as it will run with them: its defaults under the policy's."""
    from ..checks.base import deep_merge
    from ..checks.registry import get_check

    return deep_merge(get_check(check).default_settings, policy.settings_for(check))


def _stage_cfg(policy, stage: str) -> dict:
    from ..search.presets import resolve

    return resolve(policy.settings_for("trigger_search"))["stages"][stage]


def _cap(share: float, preset_cap=None) -> float:
    cap = round(share * CAP_MARGIN + 1.0, 1)
    return min(cap, float(preset_cap)) if preset_cap else cap


# ---- how each stage scales --------------------------------------------------------------


def _known(plan, env, policy, f, share):
    """Shorter generations first (a published backdoor shows in its first words), then one
    placement per trigger, then the first published triggers in the battery's order."""
    from .cost import known_trigger_candidates

    s = _check_settings(policy, "known_triggers")
    mnt, cmnt = int(s["max_new_tokens"]), int(s["code_max_new_tokens"])
    new = max(12, int(mnt * max(f, 0.5)))
    # The cap stops the screen; a survivor's holdout and controls follow it and are not cut.
    after = survivor_seconds(env, len(env.battery.prompts["holdout"]), new, int(s.get("controls", 3)))
    patch: dict = {"max_new_tokens": new, "code_max_new_tokens": max(48, cmnt * new // mnt),
                   "max_seconds": _cap(max(10.0, share - after), s.get("max_seconds"))}
    _note(plan, "known_triggers", f"max_new_tokens {mnt}/{cmnt} -> {new}/{patch['code_max_new_tokens']}")
    g = f * mnt / new  # what the shorter generations leave to cut
    n_all, n_trig = known_trigger_candidates(s, env.battery)
    if g < 0.8 and s.get("placements") != "first":
        patch["placements"] = "first"
        g *= n_all / known_trigger_candidates({**s, "placements": "first"}, env.battery)[0]
        _note(plan, "known_triggers", "placements -> the first each trigger lists")
    if g < 1:
        keep = max(3, math.ceil(n_trig * g))
        if keep < n_trig:
            patch["max_triggers"] = keep
            _note(plan, "known_triggers", f"published triggers {n_trig} -> {keep} (battery order)")
    _set(plan, "known_triggers", patch)
    _note(plan, "known_triggers", f"max_seconds {patch['max_seconds']}")


def _battery(plan, env, policy, f, share):
    import random

    from ..search import candidates

    c = _stage_cfg(policy, "battery")
    n = len(candidates.generate(env.battery, env.extra, c, [], random.Random(env.seed)))
    keep = max(10, int(n * f))
    cap = _cap(share, c.get("max_seconds"))
    tops = {k: max(2, int(int(c.get(k, 8)) * min(1.0, 2 * f))) for k in ("top_k", "code_top_k")}
    _set(plan, "trigger_search", {"stages": {"battery": {"max_candidates": keep, "max_seconds": cap, **tops}}})
    _note(plan, "trigger_search.battery", f"candidates {n} -> {keep} (published first), max_seconds {cap}")


def _vocab(plan, env, policy, f, share):
    c = _stage_cfg(policy, "vocab_scan")
    pls = list(c.get("placements") or ["suffix"])
    prompts = int(c.get("prompts", 4))
    patch: dict = {"max_seconds": _cap(share, c.get("max_seconds")), "sample_seed": env.seed}
    if f < 0.6 and len(pls) > 1:
        f *= len(pls)
        patch["placements"] = pls[:1]
        _note(plan, "trigger_search.vocab_scan", f"placements {pls} -> {pls[:1]}")
    if f < 0.25 and prompts > 2:
        f *= prompts / 2
        patch["prompts"] = 2
        _note(plan, "trigger_search.vocab_scan", f"prompts {prompts} -> 2")
    bt = int(c.get("bigram_top", 0))
    if bt > 1 and f < 0.25:  # pairs of the strongest strings: bigram_top^2 sequences per prompt
        new_bt = int(bt * math.sqrt(f / 0.25))
        patch["bigram_top"] = new_bt if new_bt > 1 else 0
        _note(plan, "trigger_search.vocab_scan", f"pairs of the top {bt} -> {patch['bigram_top']}")
    if f < 1:
        patch["vocab_fraction"] = round(f, 4)
        n = vocab_strings(env, c)
        _note(plan, "trigger_search.vocab_scan", f"vocabulary sample: {f:.2%} of {n:,} strings (seed {env.seed}, added tokens always)")
    _set(plan, "trigger_search", {"stages": {"vocab_scan": patch}})


def _inversion(plan, env, policy, f, share):
    c = _stage_cfg(policy, "target_inversion")
    first = max(256, int(env.vocab * f))
    limit = c.get("exact_limit") or env.vocab
    new_limit = max(1024, int(min(limit, env.vocab) * f))
    _set(plan, "trigger_search", {"stages": {"target_inversion": {"first_tokens": first, "exact_limit": new_limit,
                                                                   "max_seconds": _cap(share, c.get("max_seconds"))}}})
    _note(plan, "trigger_search.target_inversion", f"first tokens {env.vocab:,} -> {first:,}; input strings -> {new_limit:,}")


def _gradient(plan, env, policy, f, share):
    c = _stage_cfg(policy, "gradient")
    steps = max(4, int(int(c.get("steps", 20)) * f))
    _set(plan, "trigger_search", {"stages": {"gradient": {"steps": steps, "max_seconds": _cap(share, c.get("max_seconds"))}}})
    _note(plan, "trigger_search.gradient", f"GCG steps {c.get('steps')} -> {steps}")


def _confirm(plan, env, policy, f, share):
    from ..search.presets import resolve

    c = resolve(policy.settings_for("trigger_search"))
    cc = c["confirm"]
    mc, mps = int(cc.get("max_candidates", 24)), int(cc.get("max_per_stage", 8))
    patch: dict = {}
    if f < 0.5:  # shorter generations first: a payload after the answer needs fewer tokens than a whole function
        f *= 2
        patch = {"max_new_tokens": max(24, int(c["max_new_tokens"]) // 2),
                 "code_max_new_tokens": max(48, int(c["code_max_new_tokens"]) // 2)}
        _note(plan, "trigger_search.confirm", f"new tokens {c['max_new_tokens']}/{c['code_max_new_tokens']} -> "
                                              f"{patch['max_new_tokens']}/{patch['code_max_new_tokens']}")
    mnt = int(patch.get("max_new_tokens", c["max_new_tokens"]))
    after = survivor_seconds(env, len(env.battery.prompts["holdout"]), mnt, int(c.get("controls", 3)))
    new = {"max_candidates": max(2, int(mc * f)), "max_per_stage": max(1, int(mps * f)),
           "max_seconds": _cap(max(10.0, share - after), cc.get("max_seconds"))}
    _set(plan, "trigger_search", {**patch, "confirm": new})
    _note(plan, "trigger_search.confirm", f"candidates confirmed {mc} -> {new['max_candidates']}, max_seconds {new['max_seconds']}")


def _persistence(plan, env, policy, f, share):
    """The cheapest methods first, as many as fit; training steps scaled when one training method is left."""
    from ..checks.persistence import resolve_settings

    cfg = resolve_settings(policy.settings_for("persistence"))
    if f < 1:
        cfg = {**cfg, "n_eval_prompts": max(8, int(int(cfg["n_eval_prompts"]) * f)),
               "n_helpfulness": max(8, int(int(cfg["n_helpfulness"]) * f)), "checkpoints": [0, 1.0], "strengths": [1.0]}
    per = max(1, env.n_triggers or 1)
    costs = sorted((persistence_method_seconds(cfg, m, env) * per, m) for m in cfg["methods"])
    chosen, used = [], 0.0
    for secs, m in costs:
        if used + secs <= share:
            chosen.append(m)
            used += secs
    patch: dict = {"methods": chosen or [costs[0][1]]}
    left = [(s, m) for s, m in costs if m not in chosen and m in ("sft", "adversarial")]
    if left and share - used > 0.3 * left[0][0]:
        s, m = left[0]
        steps = max(4, int(int(cfg["steps"]) * (share - used) / s))
        patch["methods"] = chosen + [m]
        patch[m] = {"steps": steps, "max_seconds": _cap(share - used)}
        _note(plan, "persistence", f"{m} steps {cfg['steps']} -> {steps}")
    if f < 1:  # fewer evaluation generations at fewer points (none of them can be cut short)
        patch.update({"n_eval_prompts": max(8, int(int(cfg["n_eval_prompts"]) * f)),
                      "n_helpfulness": max(8, int(int(cfg["n_helpfulness"]) * f)), "checkpoints": [0, 1.0], "strengths": [1.0]})
        _note(plan, "persistence", f"evaluation prompts {cfg['n_eval_prompts']} -> {patch['n_eval_prompts']}, checkpoints -> [0, 1.0]")
    _set(plan, "persistence", patch)
    _note(plan, "persistence", f"methods {cfg['methods']} -> {patch['methods']} (cheapest first)")


def _scaled_prompts(check: str, floor: int) -> Callable:
    def apply(plan, env, policy, f, share):
        n = int(_check_settings(policy, check)["max_prompts"])
        new = max(floor, int(n * f))
        _set(plan, check, {"max_prompts": new})
        _note(plan, check, f"max_prompts {n} -> {new}")

    return apply


APPLY: dict[str, Callable] = {
    "known_triggers": _known,
    "trigger_search.battery": _battery,
    "trigger_search.vocab_scan": _vocab,
    "trigger_search.target_inversion": _inversion,
    "trigger_search.gradient": _gradient,
    "trigger_search.confirm": _confirm,
    "persistence": _persistence,
    "scratchpad": _scaled_prompts("scratchpad", 4),
    "activation_probe": _scaled_prompts("activation_probe", 8),
}
