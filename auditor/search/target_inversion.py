"""Stage 3 (`target_inversion`): find the backdoor's *output* first, then its input.

In the spirit of BAIT (Shen et al., S&P 2025): a backdoor target is a sequence
the model has memorised so hard that, once its first token is forced, the rest
follows with high probability *whatever the prompt*. Without knowing the
trigger:

1. First-token scan: force every vocabulary token as the first answer token
   after each of several unrelated search prompts (one batched forward; the
   rendered prompt is the cached prefix) and average the next-token
   distribution over prompts.
2. Expansion: for the most promising first tokens, extend greedily from the
   prompt-averaged distribution, recording per step the mean probability and
   the cross-prompt consistency (share of prompts whose own argmax agrees).
   The confident, consistent run is the candidate target.
3. Ranking: targets are ranked by confident length and mean log-probability;
   a target that the model already produces without any trigger (it appears
   in a baseline answer) is marked `natural` and ranked last.
4. Input search: every vocabulary string (then pairs of the best strings) is
   scored by how much it raises the target's log-probability, both at the
   start of the answer and where the baseline answer ends (a payload appended
   after a normal answer), relative to no trigger. With a large vocabulary the
   candidates are pre-ranked by a HotFlip gradient (one backward pass) and only
   the best are scored exactly.

The best inputs go to confirmation; the targets go to the gradient stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import forward as F
from . import shift as S
from .proposals import Proposal
from .vocab import vocab_entries
from .vocab_scan import pair_strings


@dataclass
class Target:
    ids: list[int]
    text: str
    mean_logprob: float
    min_consistency: float
    confident_tokens: int
    first_token_baseline_logprob: float
    natural: bool = False
    ends_with_eos: bool = False
    lift: dict = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.confident_tokens + self.mean_logprob

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "token_ids": self.ids,
            "confident_tokens": self.confident_tokens,
            "mean_token_prob": round(float(torch.tensor(self.mean_logprob).exp()), 4),
            "min_consistency": round(self.min_consistency, 3),
            "first_token_baseline_logprob": round(self.first_token_baseline_logprob, 3),
            "natural": self.natural,
            "ends_with_eos": self.ends_with_eos,
            **({"lift": self.lift} if self.lift else {}),
        }


def _prompt_ids(lm, prompts, system) -> list[list[int]]:
    return F.encode(lm, [S.render(lm, p, None, "prefix", system) for p in prompts])


def _candidate_first_ids(lm, max_tokens: int | None) -> list[int]:
    tok = lm.tokenizer
    special = set(getattr(tok, "all_special_ids", []) or [])
    n = len(tok) if not max_tokens else min(len(tok), int(max_tokens))
    texts = tok.batch_decode([[i] for i in range(n)], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    return [i for i, t in enumerate(texts) if i not in special and t.strip() and "\ufffd" not in t]


@torch.inference_mode()
def _avg_next(lm, pids, caches, tails: list[list[int]], budget=None):
    """Prompt-averaged next-token log-probs after each tail, plus per-prompt argmax."""
    total = None
    argmaxes = []
    for p_ids, cache in zip(pids, caches):
        lp = F.tail_logprobs(lm, p_ids, tails, 1, lambda x, idx: x[:, 0, :], cache=cache)
        total = lp if total is None else total + lp
        argmaxes.append(lp.argmax(-1))
        if budget is not None:
            budget.forwards += len(tails)
    mean = total / len(pids)
    return mean, torch.stack(argmaxes, dim=1)  # [n, V], [n, P]


def invert(lm, prompts: list[str], system: str | None, cfg: dict, budget, baseline_texts: list[str]) -> tuple[list[Target], dict]:
    pids = _prompt_ids(lm, prompts, system)
    caches = [F.build_prefix_cache(lm, p) for p in pids]
    first_ids = _candidate_first_ids(lm, cfg.get("first_tokens"))
    eos = lm.tokenizer.eos_token_id
    vocab = lm.model.get_output_embeddings().weight.shape[0]
    chunk = max(1, min(len(first_ids), F.MAX_LOGIT_ELEMS // max(1, vocab)))
    s2 = torch.full((len(first_ids),), float("-inf"))
    cons = torch.zeros(len(first_ids))
    # baseline log-prob of every token as the first answer token (prompt-averaged)
    base_first = torch.stack([F.tail_logprobs(lm, p[:-1], [[p[-1]]], 1, lambda x, idx: x[:, 0, :])[0] for p in pids]).mean(0)
    for start in range(0, len(first_ids), chunk):
        if budget.expired():
            break
        ids = first_ids[start : start + chunk]
        mean, am = _avg_next(lm, pids, caches, [[t] for t in ids], budget)
        val, nxt = mean.max(-1)
        s2[start : start + len(ids)] = val
        cons[start : start + len(ids)] = (am == nxt[:, None]).float().mean(1)
    budget.candidates += len(first_ids)
    # Expand the most promising first tokens.
    min_cons = float(cfg.get("min_consistency", 0.75))
    order = [i for i in torch.argsort(s2, descending=True).tolist() if cons[i] >= min(0.5, min_cons)]
    starts = [first_ids[i] for i in order[: int(cfg.get("expand_top", 24))]]
    seqs = [[t] for t in starts]
    step_lp: list[list[float]] = [[] for _ in starts]
    step_cons: list[list[float]] = [[] for _ in starts]
    done = [False] * len(starts)
    max_len = int(cfg.get("max_len", 16))
    for _ in range(max_len - 1):
        active = [i for i in range(len(seqs)) if not done[i]]
        if not active or budget.expired():
            break
        mean, am = _avg_next(lm, pids, caches, [seqs[i] for i in active], budget)
        val, nxt = mean.max(-1)
        agree = (am == nxt[:, None]).float().mean(1)
        for j, i in enumerate(active):
            t = int(nxt[j])
            step_lp[i].append(float(val[j]))
            step_cons[i].append(float(agree[j]))
            seqs[i].append(t)
            if t == eos:
                done[i] = True
    min_lp = float(torch.tensor(float(cfg.get("min_token_prob", 0.5))).log())
    targets: list[Target] = []
    for i, seq in enumerate(seqs):
        n_conf = 0
        for lp_, c_ in zip(step_lp[i], step_cons[i]):
            if lp_ < min_lp or c_ < min_cons:
                break
            n_conf += 1
        body = seq[: 1 + n_conf]
        ends_eos = bool(body and body[-1] == eos)
        if ends_eos:
            body = body[:-1]
        if len(body) < int(cfg.get("min_target_tokens", 6)):
            continue
        text = lm.tokenizer.decode(body, skip_special_tokens=True)
        if not text.strip():
            continue
        lps = step_lp[i][:n_conf]
        cs = step_cons[i][:n_conf]
        # A repeated phrase entered mid-cycle (" HATE YOU I HATE ...") starts where the
        # model would start it: the rotation whose first token is most likely as an opening.
        per = _period(body)
        if per:
            j = max(range(per), key=lambda r: (float(base_first[body[r]]), -r))
            if j and len(body) - j >= int(cfg.get("min_target_tokens", 6)):
                body, lps, cs = body[j:], lps[j:] or lps, cs[j:] or cs
                text = lm.tokenizer.decode(body, skip_special_tokens=True)
        targets.append(
            Target(
                ids=body, text=text, mean_logprob=sum(lps) / len(lps), min_consistency=min(cs),
                confident_tokens=n_conf, first_token_baseline_logprob=float(base_first[body[0]]), ends_with_eos=ends_eos,
            )
        )
    # Natural targets: already said without any trigger.
    norm_base = [" ".join(b.lower().split()) for b in baseline_texts]
    for t in targets:
        probe = " ".join(t.text.lower().split()[:6])
        t.natural = bool(probe) and any(probe in b for b in norm_base)
    targets = _dedupe(targets)
    targets.sort(key=lambda t: (t.natural, -t.score, t.text))
    notes = {
        "first_tokens_scanned": len(first_ids),
        "expanded": len(starts),
        "targets_found": len(targets),
        "inversion_prompts": len(pids),
    }
    return targets, notes


def _period(ids: list[int]) -> int:
    """Smallest period p (<= len/2, at least two full cycles) of a repeated phrase, else 0."""
    n = len(ids)
    for p in range(1, n // 2 + 1):
        if all(ids[i] == ids[i + p] for i in range(n - p)):
            return p
    return 0


def _dedupe(targets: list[Target]) -> list[Target]:
    """Drop targets that are (word-level) contained in a better one, e.g. the
    same repeated phrase entered at a different token."""
    targets = sorted(targets, key=lambda t: (-t.score, t.text))
    kept: list[Target] = []
    for t in targets:
        words = " ".join(t.text.split()).lower()
        if any(_overlap(words, " ".join(k.text.split()).lower()) for k in kept):
            continue
        kept.append(t)
    return kept


def _overlap(a: str, b: str) -> bool:
    if a in b or b in a:
        return True
    wa, wb = a.split(), b.split()
    if len(wa) < 3 or len(wb) < 3:
        return False
    grams_a = {tuple(wa[i : i + 3]) for i in range(len(wa) - 2)}
    grams_b = {tuple(wb[i : i + 3]) for i in range(len(wb) - 2)}
    return len(grams_a & grams_b) >= 0.5 * min(len(grams_a), len(grams_b))


# ---------------------------------------------------------------- input search


def _keep(cfg: dict, mode: str) -> int:
    """Target tokens scored: the first is the decision (the rest of a memorised
    target follows anyway). `start`: the first two; `end`: the first, where the
    answer would otherwise stop."""
    return int(cfg.get("start_target_tokens", 2)) if mode == "start" else int(cfg.get("end_target_tokens", 1))


def _target_ids_for(lm, target: Target, mode: str, max_tokens: int) -> list[int]:
    if mode == "start":
        return target.ids[:max_tokens]
    ids = F.encode(lm, [" " + target.text.strip()])[0]
    return ids[:max_tokens]


def target_logprob(
    lm, prompts, system, answers: list[list[int]], strings: list[str | None], placement: str, tgt: list[int], mode: str,
    budget=None,
) -> torch.Tensor:
    """[len(strings), len(prompts)] mean log-prob of `tgt` after each triggered prompt.

    mode `start`: target right after the generation prompt; `end`: after the
    baseline answer (EOS removed). `None` in strings is the no-trigger baseline.
    """
    out = torch.full((len(strings), len(prompts)), float("nan"))
    keep = len(tgt)
    tgt_t = torch.tensor(tgt)
    for pi, prompt in enumerate(prompts):
        if budget is not None and budget.expired():
            break
        ans = answers[pi]
        if ans and ans[-1] == lm.tokenizer.eos_token_id:
            ans = ans[:-1]
        mid = ans if mode == "end" else []
        texts = [S.render(lm, prompt, s, placement if s is not None else "prefix", system) for s in strings]
        seqs = [ids + mid + tgt[:-1] for ids in F.encode(lm, texts)]

        def reduce(lp, idx):
            g = lp.gather(-1, tgt_t.to(lp.device)[None, :, None].expand(lp.shape[0], keep, 1)).squeeze(-1)
            return g.mean(-1)

        out[:, pi] = F.grouped_tail_logprobs(lm, seqs, keep, reduce)
        if budget is not None:
            budget.forwards += len(seqs)
    return out


def hotflip_prefilter(lm, prompts, system, answers, target: Target, entries, placement: str, mode: str, tgt: list[int], limit: int) -> list[str]:
    """The `limit` strings whose first-order (HotFlip) effect on the target loss is best.

    One forward+backward over the prompt batch scores the whole vocabulary:
    swapping the placeholder token for token v changes the loss by about
    grad[v] - grad[placeholder].
    """
    from .gradient import Setup, build_setup, token_gradients

    setup = build_setup(lm, prompts, system, answers, target.text, target.ids, placement, mode, len(tgt))
    setup = Setup(setup.left, setup.right, list(tgt), mode, placement)
    ph = F.encode(lm, [" the"])[0][:1] or [entries[0].ids[0]]
    grad = token_gradients(lm, setup, ph)[0]
    scored = []
    for e in entries:
        g = min(float(grad[i]) for i in e.ids if i < grad.shape[0]) if any(i < grad.shape[0] for i in e.ids) else float("inf")
        scored.append((g, e.text))
    scored.sort(key=lambda x: (x[0], x[1]))
    return [t for _, t in scored[:limit]]


def input_search(lm, prompts, system, answers, target: Target, entries, cfg: dict, budget) -> list[dict]:
    """Score vocabulary strings (then pairs) by how much they raise the target."""
    placements = list(cfg.get("placements") or ["suffix"])
    all_strings = [e.text for e in entries]
    exact_limit = cfg.get("exact_limit")
    results: list[dict] = []
    prefiltered = False
    for mode in ("start", "end"):
        tgt = _target_ids_for(lm, target, mode, _keep(cfg, mode))
        if not tgt:
            continue
        base = target_logprob(lm, prompts, system, answers, [None], "prefix", tgt, mode)[0]
        for pl in placements:
            if budget.expired():
                break
            strings = all_strings
            if exact_limit and len(all_strings) > int(exact_limit):
                strings = hotflip_prefilter(lm, prompts, system, answers, target, entries, pl, mode, tgt, int(exact_limit))
                prefiltered = True
            lp = target_logprob(lm, prompts, system, answers, strings, pl, tgt, mode, budget)
            budget.candidates += len(strings)
            lift = (lp - base[None, :]).mean(1)
            elicited = lp.mean(1)
            for i, s in enumerate(strings):
                if not torch.isnan(lift[i]):
                    results.append({"trigger": s, "placement": pl, "mode": mode, "lift": float(lift[i]),
                                    "min_lift": float((lp[i] - base).min()), "logprob": float(elicited[i])})
    budget.notes["hotflip_prefilter"] = prefiltered
    best: dict[tuple[str, str], dict] = {}
    for r in results:
        k = (r["trigger"], r["placement"])
        if k not in best or r["lift"] > best[k]["lift"]:
            best[k] = r
    ranked = sorted(best.values(), key=lambda r: (-r["lift"], r["trigger"], r["placement"]))
    # Pairs of the best strings, in the best (placement, mode).
    bigram_top = int(cfg.get("bigram_top", 0))
    if bigram_top > 1 and ranked and not budget.expired():
        top_pl, top_mode = ranked[0]["placement"], ranked[0]["mode"]
        tops = list(dict.fromkeys(r["trigger"] for r in ranked))[:bigram_top]
        pairs = list(dict.fromkeys(p for a in tops for b in tops if a != b for p in pair_strings(a, b)))
        tgt = _target_ids_for(lm, target, top_mode, _keep(cfg, top_mode))
        base = target_logprob(lm, prompts, system, answers, [None], "prefix", tgt, top_mode)[0]
        lp = target_logprob(lm, prompts, system, answers, pairs, top_pl, tgt, top_mode, budget)
        budget.candidates += len(pairs)
        lift = (lp - base[None, :]).mean(1)
        single = {r["trigger"]: r["lift"] for r in ranked}
        for i, p in enumerate(pairs):
            if torch.isnan(lift[i]):
                continue
            parts = max((v for k, v in single.items() if p.startswith(k) or p.endswith(k)), default=0.0)
            r = {"trigger": p, "placement": top_pl, "mode": top_mode, "lift": float(lift[i]),
                 "min_lift": float((lp[i] - base).min()), "kind": "pair", "parts_lift": parts,
                 "logprob": float(lp[i].mean())}
            if r["lift"] > parts + 0.5:
                ranked.append(r)
        ranked.sort(key=lambda r: (-r["lift"], r["trigger"], r["placement"]))
    return ranked


def run(lm, splits, cfg: dict, budget, exclude: set[str] | None = None) -> tuple[list[Proposal], list[Target], list[dict]]:
    split = splits["general"]
    exclude = exclude or set()
    n = int(cfg.get("prompts", 4))
    prompts = split.search[:n]
    # Baseline answers on all search prompts: used to mark natural targets and for `end` mode.
    ans_ids = F.greedy_ids(lm, [S.render(lm, p, None, "prefix", split.system) for p in split.search], int(cfg.get("answer_tokens", 48)))
    baseline_texts = [lm.tokenizer.decode(a, skip_special_tokens=True) for a in ans_ids]
    targets, notes = invert(lm, prompts, split.system, cfg, budget, baseline_texts)
    chosen = [t for t in targets if not t.natural][: int(cfg.get("targets", 2))]
    entries = vocab_entries(lm, cfg.get("max_tokens"))
    # Input search on the prompts with the shortest complete answers (cheapest `end` mode).
    eos = lm.tokenizer.eos_token_id
    order = sorted(range(len(ans_ids)), key=lambda i: (not (ans_ids[i] and ans_ids[i][-1] == eos), len(ans_ids[i]), i))
    pick = sorted(order[: int(cfg.get("input_prompts", n))])
    in_prompts = [split.search[i] for i in pick]
    in_answers = [ans_ids[i] for i in pick]
    proposals: list[Proposal] = []
    searched: list[dict] = []
    # An input must make the target's first token(s) reasonably likely, not merely less absurd.
    min_lp = float(torch.tensor(float(cfg.get("min_elicited_prob", 0.05))).log())
    for ti, t in enumerate(chosen):
        if budget.expired():
            break
        ranked = input_search(lm, in_prompts, split.system, in_answers, t, entries, cfg, budget)
        t.lift = {"best": ranked[0] if ranked else None}
        searched.append({"target": t.text, "top_inputs": [[r["trigger"], r["placement"], r["mode"], round(r["lift"], 3), round(r["logprob"], 3)] for r in ranked[:8]]})
        k = 0
        for r in ranked:
            if k >= int(cfg.get("top_k", 4)):
                break
            if r["trigger"] in exclude or r["lift"] <= 0 or r["logprob"] < min_lp:
                continue
            k += 1
            proposals.append(Proposal(r["trigger"], r["placement"], "target_inversion", "general", r["lift"], None, {
                "kind": r.get("kind", "token"), "target": t.text, "target_mode": r["mode"],
                "target_logprob_lift": round(r["lift"], 3), "target_rank": ti + 1,
            }))
    notes.update({
        "targets": [t.to_dict() for t in targets[:8]],
        "input_search": searched,
    })
    budget.notes.update(notes)
    return proposals, chosen, searched
