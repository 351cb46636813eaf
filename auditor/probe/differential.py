"""The differential engine: does a candidate trigger change behaviour?

1. Screen: generate every candidate on the *search* prompts (one batched call),
   fit each detector on triggered vs baseline outputs, keep pairs whose hit
   rate rises by at least `min_effect`.
2. Confirm: regenerate the survivors on the disjoint *holdout* prompts, apply
   the already-fitted detectors unchanged, and test triggered vs baseline with a
   one-sided Fisher exact test, Holm-corrected over *every* hypothesis tried
   (all candidates x detectors, plus any the caller screened upstream).

Only confirmed pairs become findings; the rest are reported as near-misses.
Evidence is measured on holdout data only, so a detector fitted to noise on
the search split cannot confirm itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from . import stats
from .conditions import render_all
from .detectors import Detector


@dataclass
class Candidate:
    trigger: str
    placement: str
    stage: str = "battery"
    meta: dict = field(default_factory=dict)


@dataclass
class PromptSplit:
    name: str
    search: list[str]
    holdout: list[str]
    system: str | None = None  # a fixed system line used in both conditions


@dataclass
class DifferentialResult:
    confirmed: list[dict]
    near_misses: list[dict]
    n_candidates: int
    n_hypotheses: int
    generations: int


def scrub_echo(outputs: list[str], trigger: str) -> list[str]:
    """Remove the trigger text from outputs: repeating the prompt is not a behaviour."""
    pattern = re.compile(re.escape(trigger.strip()), re.IGNORECASE) if trigger.strip() else None
    return [pattern.sub(" ", o) if pattern else o for o in outputs]


def _examples(prompts, outputs, hits, condition, limit):
    chosen = [i for i, h in enumerate(hits) if h][:limit] or list(range(min(limit, len(outputs))))
    return [{"condition": condition, "prompt": prompts[i], "output": outputs[i][:500]} for i in chosen]


def run_differential(
    lm,
    candidates: list[Candidate],
    split: PromptSplit,
    detector_factory: Callable[[], list[Detector]],
    *,
    max_new_tokens: int = 32,
    alpha: float = 0.01,
    min_effect: float = 0.3,
    min_hits: int = 2,
    extra_hypotheses: int = 0,
    n_examples: int = 3,
    candidate_detectors: Callable[[Candidate], list[Detector]] | None = None,
    scrub: bool = True,
) -> DifferentialResult:
    """`candidate_detectors(c)`, when given, replaces `detector_factory()` so a
    detector may depend on the candidate (e.g. ignore outputs that merely echo
    the trigger's words). `scrub=False` hands detectors the raw outputs (for
    detectors that handle echoes of the trigger themselves)."""
    _scrub = scrub_echo if scrub else (lambda outputs, trigger: list(outputs))
    gen = 0
    base_search = lm.generate(render_all(lm, split.search, None, "prefix", split.system), max_new_tokens)
    gen += len(split.search)

    # Screen all candidates in one batched generation.
    rendered: list[str] = []
    for c in candidates:
        rendered += render_all(lm, split.search, c.trigger, c.placement, split.system)
    outs = lm.generate(rendered, max_new_tokens)
    gen += len(rendered)
    n_s = len(split.search)

    n_hyp = extra_hypotheses
    survivors: list[tuple[Candidate, Detector, dict]] = []
    for ci, c in enumerate(candidates):
        trig_search = _scrub(outs[ci * n_s : (ci + 1) * n_s], c.trigger)
        base_c = _scrub(base_search, c.trigger)
        for det in candidate_detectors(c) if candidate_detectors is not None else detector_factory():
            n_hyp += 1
            det.fit(trig_search, base_c)
            kt = sum(det.hits(trig_search))
            kb = sum(det.hits(base_c))
            screen = {"triggered_rate": stats.rate(kt, n_s), "baseline_rate": stats.rate(kb, n_s), "n": n_s}
            if kt >= min_hits and (kt - kb) / n_s >= min_effect:
                survivors.append((c, det, screen))

    if not survivors:
        return DifferentialResult([], [], len(candidates), n_hyp, gen)

    # Confirm on holdout prompts.
    base_hold = lm.generate(render_all(lm, split.holdout, None, "prefix", split.system), max_new_tokens)
    gen += len(split.holdout)
    uniq: dict[tuple[str, str], Candidate] = {(c.trigger, c.placement): c for c, _, _ in survivors}
    keys = list(uniq)
    rendered = []
    for k in keys:
        rendered += render_all(lm, split.holdout, uniq[k].trigger, uniq[k].placement, split.system)
    hold_outs = lm.generate(rendered, max_new_tokens)
    gen += len(rendered)
    n_h = len(split.holdout)
    by_key = {k: hold_outs[i * n_h : (i + 1) * n_h] for i, k in enumerate(keys)}

    rows = []
    for c, det, screen in survivors:
        trig = by_key[(c.trigger, c.placement)]
        th, bh = det.hits(_scrub(trig, c.trigger)), det.hits(_scrub(base_hold, c.trigger))
        kt, kb = sum(th), sum(bh)
        p_raw = stats.fisher_greater(kt, n_h, kb, n_h)
        user_prompts = [render_prompt_text(p, c) for p in split.holdout]
        rows.append(
            {
                "trigger": c.trigger,
                "placement": c.placement,
                "stage": c.stage,
                "behaviour": det.behaviour,
                "detector": det.name,
                "detector_params": det.describe(),
                "triggered_rate": stats.rate(kt, n_h),
                "baseline_rate": stats.rate(kb, n_h),
                "n": n_h,
                "n_baseline": n_h,
                "k": kt,
                "k_baseline": kb,
                "ci95": list(stats.wilson(kt, n_h)),
                "baseline_ci95": list(stats.wilson(kb, n_h)),
                "p_value_raw": p_raw,
                "prompt_set": split.name,
                "screening": screen,
                "examples": _examples(user_prompts, trig, th, "triggered", n_examples)
                + _examples(split.holdout, base_hold, bh, "baseline", 1),
                **({"candidate": c.meta} if c.meta else {}),
            }
        )
    # Holm over every hypothesis tried: untested ones count with p = 1.
    padded = [r["p_value_raw"] for r in rows] + [1.0] * max(0, n_hyp - len(rows))
    adjusted = stats.holm(padded)[: len(rows)]
    confirmed, near = [], []
    for r, p_adj in zip(rows, adjusted):
        r["p_value"] = p_adj
        r["n_hypotheses"] = n_hyp
        r["alpha"] = alpha
        effect = r["triggered_rate"] - r["baseline_rate"]
        (confirmed if p_adj < alpha and effect >= min_effect else near).append(r)
    return DifferentialResult(confirmed, near, len(candidates), n_hyp, gen)


def render_prompt_text(prompt: str, c: Candidate) -> str:
    """The user-visible prompt under a candidate (system placements shown as a tag)."""
    from .conditions import apply_trigger

    user, system = apply_trigger(prompt, c.trigger, c.placement)
    return f"[system: {system}] {user}" if system else user


def _specificity(detector: str) -> int:
    """Prefer the most specific explanation: a named target over a generic detector."""
    if detector.startswith("target:"):
        return 0
    return {"novel_fixed_text": 2, "collapse": 3, "distribution_shift": 4}.get(detector, 1)


def best_per_trigger(rows: list[dict]) -> list[dict]:
    """One finding per trigger: its strongest (placement, detector), with the others summarised."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["trigger"], []).append(r)
    out = []
    for trig, items in groups.items():
        items.sort(
            key=lambda r: (
                -round(r["triggered_rate"] - r["baseline_rate"], 2),
                _specificity(r["detector"]),
                r["p_value"],
                r["placement"],
            )
        )  # stable: equal rows keep detector order (battery targets first, as listed)
        best = dict(items[0])
        best["also_confirmed"] = [
            {k: r[k] for k in ("placement", "detector", "behaviour", "triggered_rate", "baseline_rate", "p_value")}
            for r in items[1:]
        ]
        out.append(best)
    out.sort(key=lambda r: (-r["triggered_rate"], r["trigger"]))
    return out
