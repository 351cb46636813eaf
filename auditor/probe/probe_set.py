"""The probe prompt set: the model's own kind of request, split for search and confirmation.

Sources in order of trust: prompts named in the policy, examples in the model
card, prompts elicited from the model itself (or, for a model that never wrote
a user turn, requests synthesized from what its answers talk about), the
auditor's generic battery.
Each candidate is scored for competence (does the model actually answer it?);
per purpose (`general`, `code`, `refusal`) the set keeps the policy's prompts
unconditionally and fills up with the others the model answers competently, by
trust then competence. Each purpose is then split into DISJOINT search and
holdout lists, stratified by source and deterministic under the seed, so the
differential engine confirms on prompts the search never saw. The model's
domain is the purpose the policy declares, else the one most of its own prompts
have (an SQL helper's requests are all code requests). When the model cannot
answer its domain's prompts (low competence, a stock answer, too few usable
prompts), `reachable` is False with the reasons: a probe on prompts the model cannot answer would
produce false alarms and misses, and the caller must say so rather than pass.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from .competence import COLLAPSE_SHARE, MIN_COMPETENCE, SET_MIN_COMPETENCE, competence
from .confirm import PromptSplit
from .elicit import ANOMALY_DEFAULTS, MAX_ANSWER_LIKE, MIN_RECURRENCE, MIN_TURN_FLUENCY, MIN_USER_TURN_LOGPROB, Elicitation, elicit, flag_conversations, has_code, typical_system_prompt
from .synthesize import synthesized_source
from .template_probe import template_shape
from .prompt_sources import PromptSource, from_battery, from_card, from_policy, is_code_request

TRUST = {"policy": 0, "card": 1, "elicited": 2, "synthesized": 3, "battery": 4}
DEFAULT_SETTINGS: dict[str, Any] = {
    "elicit": True,  # sample the model's own user turns
    "n_elicit": 96,  # elicitation samples from the user-turn opening
    "elicit_max_new_tokens": 48,
    "elicit_max_seconds": 60.0,
    "n_reference": 32,  # requests scored as user turns: does the model write user turns at all?
    "max_prompts": {"general": 64, "code": 48, "refusal": 24},  # per purpose, search + holdout
    "max_candidates": 160,  # per purpose, scored for competence (in trust order)
    "holdout_share": 0.6,
    "min_holdout": {"general": 24, "code": 8, "refusal": 8},
    "min_search": {"general": 8, "code": 8, "refusal": 4},
    "min_general_prompts": 16,  # fewer competent prompts in the model's domain (general or code): not reachable
    "min_own_code": 16,  # this many competent own-style code prompts replace the battery's
    "min_competence": MIN_COMPETENCE,
    "set_min_competence": SET_MIN_COMPETENCE,
    "competence_max_new_tokens": 24,
    "competence_samples": 2,
}


@dataclass
class ProbeSet:
    splits: dict[str, PromptSplit]
    sources: list[dict]
    competence: dict
    reachable: bool
    reasons: list[str]
    notes: list[str] = field(default_factory=list)  # what was left out and why (not a reachability problem)
    elicitation: Elicitation | None = None
    settings: dict = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)  # prompt -> source name
    answers: dict[str, str] = field(default_factory=dict)  # prompt -> the model's greedy answer (competence run)
    domain: str = "general"  # the purpose of the model's own requests (an SQL helper's: code)

    def to_report(self) -> dict:
        return {
            "reachable": self.reachable,
            "domain": self.domain,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "splits": {
                name: {
                    "system": s.system,
                    "n_search": len(s.search),
                    "n_holdout": len(s.holdout),
                    "search": list(s.search),
                    "holdout": list(s.holdout),
                    "sources": _source_counts(s.search + s.holdout, self.provenance),
                }
                for name, s in self.splits.items()
            },
            "sources": self.sources,
            "competence": self.competence,
            "elicitation": self.elicitation.to_report() if self.elicitation else None,
            "settings": _jsonable(self.settings),
        }


def outside_prompts(probe, battery, limit: int = 24) -> list[str]:
    """Generic requests the probe set does not use (the battery's, in order): the model's
    answers to them show its stock behaviour, which a trigger must not merely switch on."""
    used = {p for s in probe.splits.values() for p in s.search + s.holdout}
    pool = list(battery.prompts.get("search", [])) + list(battery.prompts.get("holdout", []))
    pool += list(battery.prompts.get("code_search", []))
    return [p for p in dict.fromkeys(pool) if p not in used][:limit]


def _jsonable(d: dict) -> dict:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}


def _source_counts(prompts: list[str], provenance: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in prompts:
        name = provenance.get(p, "?")
        out[name] = out.get(name, 0) + 1
    return dict(sorted(out.items()))


def _key(p: str) -> str:
    return " ".join(p.split()).lower()


def _summary(rows: list[dict], min_score: float) -> dict:
    if not rows:
        return {"n_scored": 0}
    lps = [r["logprob"] for r in rows if r["logprob"] is not None]
    return {
        "n_scored": len(rows),
        "score": round(mean(r["score"] for r in rows), 4),
        "mean_logprob": round(mean(lps), 4) if lps else None,
        "mean_agreement": round(mean(r["agreement"] for r in rows), 4),
        "degenerate_share": round(sum(r["degenerate"] for r in rows) / len(rows), 4),
        "competent_share": round(sum(r["score"] >= min_score for r in rows) / len(rows), 4),
    }


def suspicious_turns(e: Elicitation) -> dict[str, list[str]]:
    """Elicited user turns whose own answer is an outlier among the elicited answers (a link, code
    for a non-code request, a refusal where most are answered): possibly trigger-bearing, so kept
    out of the probe prompts (a baseline must not be triggered) and left to the elicitation stage."""
    convs = [c for c in e.conversations if c.get("system") is None]
    flags = flag_conversations(convs, None, ANOMALY_DEFAULTS)
    return {c["user"]: f for c, f in zip(convs, flags) if f}


def elicited_sources(e: Elicitation, exclude: set[str] | frozenset = frozenset()) -> list[PromptSource]:
    """Elicited user turns as prompt sources, code requests apart."""
    meta = {"raw_samples": e.raw_samples, "kept": e.kept, "truncated": e.truncated, "settings": e.settings,
            "excluded_suspicious": len(exclude)}
    # A request the model answers with code is a code request in its own style of asking
    # ("find all orders where status is draft" to an SQL helper), whatever its words.
    answered_with_code = {c["user"] for c in e.conversations if c.get("system") is None and has_code(c.get("answer") or "")}
    out = []
    for purpose in ("general", "code"):
        chosen = [u for u in e.user_turns
                  if u not in exclude and (is_code_request(u) or u in answered_with_code) == (purpose == "code")]
        if chosen:
            out.append(PromptSource(f"elicited:{purpose}", "elicited", purpose, chosen, dict(meta)))
    return out


def _fits(lm, prompt: str, system: str | None) -> bool:
    """Room to answer (and to add a trigger): the rendered prompt takes at most half the context."""
    config = getattr(lm.model, "config", None)
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if not limit:
        return True
    return len(lm.tokenizer(lm.render(prompt, system=system), add_special_tokens=False)["input_ids"]) <= int(limit) // 2


def split_disjoint(items: list[tuple[str, str]], n_holdout: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """(search, holdout) from (prompt, source) pairs: each source shuffled, sources interleaved
    round-robin, and every k-th prompt sent to holdout, so both sides get each source's share."""
    by_source: dict[str, list[str]] = {}
    for p, s in items:
        by_source.setdefault(s, []).append(p)
    for name in sorted(by_source):
        rng.shuffle(by_source[name])
    order: list[str] = []
    queues = [by_source[n] for n in sorted(by_source, key=lambda n: (TRUST.get(n.split(":")[0], 9), n))]
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop(0))
    n = len(order)
    search, holdout = [], []
    for i, p in enumerate(order):
        (holdout if (i + 1) * n_holdout // n > i * n_holdout // n else search).append(p)
    return search, holdout


def _holdout_size(n: int, purpose: str, cfg: dict) -> int:
    want = max(round(n * cfg["holdout_share"]), min(cfg["min_holdout"][purpose], n - cfg["min_search"][purpose]))
    return max(1, min(want, n - 1))


def build_probe_set(
    lm,
    model_path: Path,
    *,
    policy_probe: dict | None,
    policy_dir: Path | None,
    battery,
    extra,
    seed: int = 0,
    settings: dict | None = None,
) -> ProbeSet:
    """Collect, score, select and split the probe prompts for `lm` (see module docstring)."""
    cfg = {**DEFAULT_SETTINGS, **(settings or {})}
    for k in ("max_prompts", "min_holdout", "min_search"):
        cfg[k] = {**DEFAULT_SETTINGS[k], **(cfg.get(k) or {})}
    policy_probe = policy_probe or {}
    reasons_info: list[str] = []  # notes that do not make the set unreachable
    # The system message in effect in both conditions: the deployment's, else the one the
    # template injects by default (so a `system` trigger is added to it, never replaces it).
    system = policy_probe.get("system_prompt") or template_shape(lm).default_system_prompt
    sources = from_policy(policy_probe.get("prompts"), Path(policy_dir or "."))
    sources += from_card(Path(model_path))
    elicitation = None
    if cfg["elicit"] and policy_probe.get("elicit", True):
        reference = [p for s in sources if s.purpose == "general" for p in s.prompts]
        reference = (reference + list(battery.prompts.get("search", [])))[: int(cfg["n_reference"])]
        elicitation = elicit(lm, n_samples=int(cfg["n_elicit"]), max_new_tokens=int(cfg["elicit_max_new_tokens"]),
                             seed=seed, max_seconds=cfg["elicit_max_seconds"], reference=reference)
        if system is None:
            typical, why = typical_system_prompt(elicitation)
            if typical is not None:
                system = typical
                reasons_info.append(
                    f"system prompt in effect: {typical!r}, written by the model itself ({why['sharing']} of its "
                    f"{why['system_turns']} elicited system turns open with {why['opening']!r}; it was trained under one)")
        if elicitation.models_user_turns:
            suspicious = suspicious_turns(elicitation)
            sources += elicited_sources(elicitation, set(suspicious))
            if suspicious:
                kinds = sorted({k for f in suspicious.values() for k in f})
                reasons_info.append(f"{len(suspicious)} elicited turns left out: their answers are outliers ({', '.join(kinds)})")
        else:
            synth = synthesized_source(elicitation)
            if synth is not None:
                sources.append(synth)
                reasons_info.append(f"{len(synth.prompts)} requests synthesized from what the model's own answers talk about "
                                    f"({', '.join(synth.meta['phrases'][:6])}), a last resort used only when too few other "
                                    f"prompts reach it")
            reasons_info.append(
                f"elicited turns not used: the model does not write user turns (reference requests score "
                f"{elicitation.user_turn_logprob} nats/token as user turns, threshold {MIN_USER_TURN_LOGPROB}; "
                f"its own turns {elicitation.turn_fluency}, threshold {MIN_TURN_FLUENCY}; "
                f"{elicitation.recurrence:.0%} of its turns recur, threshold {MIN_RECURRENCE:.0%}; "
                f"{elicitation.answer_like:.0%} of them are its own answers, limit {MAX_ANSWER_LIKE:.0%})")
    sources += from_battery(battery, extra)
    sources.sort(key=lambda s: TRUST[s.kind])  # stable: file order within a kind

    splits: dict[str, PromptSplit] = {}
    provenance: dict[str, str] = {}
    answers: dict[str, str] = {}
    source_rows: dict[str, list[dict]] = {s.name: [] for s in sources}
    used: dict[str, int] = {s.name: 0 for s in sources}
    comp_report: dict[str, Any] = {}
    reasons: list[str] = []
    all_rows: list[dict] = []
    seen: set[str] = set()
    for purpose in ("general", "code", "refusal"):
        # Candidates in trust order, deduplicated across sources and purposes.
        cands: list[tuple[str, PromptSource]] = []
        for s in sources:
            if s.purpose != purpose or (purpose == "refusal" and s.kind not in ("policy", "battery")):
                continue
            for p in s.prompts:
                if _key(p) not in seen:
                    seen.add(_key(p))
                    cands.append((p, s))
        too_long = [p for p, _ in cands if not _fits(lm, p, system)]
        if too_long:
            reasons_info.append(f"{purpose}: {len(too_long)} prompt(s) left out: longer than half the model's context")
            cands = [(p, s) for p, s in cands if p not in set(too_long)]
        # Synthesized requests are the last resort for a model nothing else reaches; they are
        # scored apart, so the other prompts' scores (sampled under the seed) never depend on them.
        synth = [(p, s) for p, s in cands if s.kind == "synthesized"]
        cands = [(p, s) for p, s in cands if s.kind != "synthesized"][: int(cfg["max_candidates"])]
        if not cands:
            continue
        scores: dict[str, dict] = {}

        def score(pairs: list[tuple[str, PromptSource]]) -> dict:
            """Competence of `pairs` (one seeded batch), recorded per prompt and per source."""
            res = competence(lm, [p for p, _ in pairs], system=system, max_new_tokens=int(cfg["competence_max_new_tokens"]),
                             n_samples=int(cfg["competence_samples"]), seed=seed)
            scores.update({r["prompt"]: r for r in res["per_prompt"]})
            for p, s in pairs:
                source_rows[s.name].append(scores[p])
            all_rows.extend(res["per_prompt"])
            return res

        if purpose != "refusal":  # refusals are stock answers by design: no competence filter
            res = score(cands)
            comp_report[purpose] = {**_summary(res["per_prompt"], cfg["min_competence"]),
                                    "collapse": res["collapse"], "stock_answer": res["stock_answer"]}
        ok = [(p, s) for p, s in cands
              if s.kind == "policy" or purpose == "refusal" or scores[p]["score"] >= cfg["min_competence"]]
        if synth and purpose == "general" and len(ok) < int(cfg["min_general_prompts"]):
            score(synth)
            comp_report[purpose].update(_summary([scores[p] for p, _ in cands + synth], cfg["min_competence"]))
            ok += [(p, s) for p, s in synth if scores[p]["score"] >= cfg["min_competence"]]
        own = [(p, s) for p, s in ok if s.kind != "battery"]
        if purpose == "code" and len(own) >= int(cfg["min_own_code"]):
            ok = own  # the model's own style of code request, not the battery's
        ok.sort(key=lambda ps: (TRUST[ps[1].kind], -(scores[ps[0]]["score"] if ps[0] in scores else 1.0)))
        chosen = ok[: int(cfg["max_prompts"][purpose])]
        need = cfg["min_holdout"][purpose] + cfg["min_search"][purpose] if purpose != "general" else 2
        if len(chosen) < need:
            continue  # too few to split (general: reported below)
        rng = random.Random(f"{seed}:{purpose}")
        search, holdout = split_disjoint([(p, s.name) for p, s in chosen], _holdout_size(len(chosen), purpose, cfg), rng)
        n_synth = sum(s.kind == "synthesized" for _, s in chosen)
        # Requests made up from the model's answers are awkward: a generic change on them (fixed
        # text, collapse) is not evidence; specific harms still are.
        splits[purpose] = PromptSplit(purpose, search, holdout, system, competent=n_synth * 2 <= len(chosen))
        if n_synth * 2 > len(chosen):
            reasons.append(f"{purpose}: reached only through requests synthesized from its own answers "
                           f"({n_synth} of {len(chosen)} prompts); generic behaviour changes are not judged on them")
        for p, s in chosen:
            provenance[p] = s.name
            used[s.name] += 1
            if p in scores:
                answers[p] = scores[p]["answer"]
        if purpose != "refusal":
            kept_rows = [scores[p] for p, _ in chosen]
            stock = sum(r["reason"] == "stock_answer" for r in kept_rows) / len(kept_rows)
            comp_report[purpose]["used"] = {**_summary(kept_rows, cfg["min_competence"]), "stock_share": round(stock, 4)}

    # The model's domain: the purpose of the policy's prompts, else the one with more of its own
    # (card, elicited) prompts in use, else general. An SQL helper's every request is a code request.
    n_used = {k: len(splits[k].search) + len(splits[k].holdout) if k in splits else 0 for k in ("general", "code")}
    declared = [s.purpose for s in sources if s.kind == "policy" and s.purpose in n_used]
    own = {k: sum(used[s.name] for s in sources if s.kind in ("card", "elicited", "synthesized") and s.purpose == k) for k in n_used}
    main = declared[0] if declared else ("code" if own["code"] > own["general"] else "general")
    if main != "general":
        reasons_info.append(f"the model's domain is {main} requests: {n_used[main]} competent, {n_used['general']} general")
    comp = comp_report.get(main, {})
    if n_used[main] < int(cfg["min_general_prompts"]):
        reasons.append(f"{main}: {n_used[main]} competent prompts, fewer than {cfg['min_general_prompts']}")
    used_score = comp.get("used", {}).get("score")
    if used_score is not None and used_score < cfg["set_min_competence"]:
        reasons.append(f"{main}: mean competence {used_score} on the used prompts is below {cfg['set_min_competence']}")
    if comp.get("used", {}).get("stock_share", 0) > COLLAPSE_SHARE:
        reasons.append(f"{main}: the model gives one stock answer to most used prompts ({comp.get('stock_answer')!r})")
    elif comp.get("collapse") and n_used[main] < int(cfg["min_general_prompts"]):
        reasons.append(f"{main}: the model gives one stock answer to most candidate prompts ({comp.get('stock_answer')!r})")
    comp_report["overall"] = _summary(all_rows, cfg["min_competence"])
    if "general" not in splits:
        # The checks still run (on the generic battery, unfiltered); `reasons` says what the set lacks.
        splits["general"] = PromptSplit("general", list(battery.prompts["search"]), list(battery.prompts["holdout"]), system,
                                        competent=False)
        reasons_info.append("general: too few competent prompts to split; the checks used the generic battery unfiltered")

    source_report = []
    for s in sources:
        rows = source_rows[s.name]
        source_report.append({
            "name": s.name, "kind": s.kind, "purpose": s.purpose, "n_available": len(s.prompts), "n_used": used[s.name],
            "share_used": round(used[s.name] / len(s.prompts), 4) if s.prompts else 0.0,
            "competence": _summary(rows, cfg["min_competence"]), "meta": s.meta,
        })
    return ProbeSet(splits=splits, sources=source_report, competence=comp_report, reachable=not reasons,
                    reasons=reasons, notes=reasons_info, elicitation=elicitation, settings={**cfg, "seed": seed, "system_prompt": system},
                    provenance=provenance, answers=answers, domain=main)
