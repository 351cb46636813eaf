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
   a repeated phrase entered mid-cycle is rotated to its natural opening; a
   target the model already says without any trigger (in at least
   `natural_max_rate` of the baseline answers) is `natural` and not searched.
4. Input search: one teacher-forced pass over every vocabulary string x the
   prompts with the shortest complete baseline answers scores, for all targets
   at once, the target's first token at the start of the answer and where the
   baseline answer ends (a payload appended after a normal answer). A string
   is eligible when it makes that token reasonably likely
   (`min_elicited_prob`), and ranked by its lift over no trigger; pairs of the
   best strings follow. The best single string per position is always kept.
   A target that is the memorised *middle* of its answer ("Before the <dish>,
   <payload>": the varying dish ends the consistent run) never opens an
   answer; its lead-in, read from the first-token scan's lookaheads
   (`find_lead`), gives a third position, `lead`: the opener's rise at the
   start of the answer. Extension anchors and pair parts are the strings that
   raise *this* target more than any other (`_specific`), so a two-word
   trigger whose words were trained not to fire alone is still reached from
   its stronger half.

The best inputs go to confirmation; the targets go to the gradient stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import forward as F
from . import shift as S
from .budget import chunk_rows, vocab_size
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
    baseline_rate: float = 0.0
    lift: dict = field(default_factory=dict)
    lead: list[int] = field(default_factory=list)  # what the model says before the target (see `find_lead`)
    lead_text: str = ""

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
            "baseline_rate": round(self.baseline_rate, 3),
            "ends_with_eos": self.ends_with_eos,
            **({"lead": self.lead_text, "lead_ids": self.lead} if self.lead else {}),
            **({"lift": self.lift} if self.lift else {}),
        }


def _log_setting(cfg: dict, key: str, default: float) -> float:
    """A probability setting as the log-prob the scores are compared with (float32, like them)."""
    return float(torch.tensor(float(cfg.get(key, default))).log())


def _prompt_ids(lm, prompts, system) -> list[list[int]]:
    return F.encode(lm, [S.render(lm, p, None, "prefix", system) for p in prompts])


def _candidate_first_ids(lm, max_tokens: int | None) -> list[int]:
    """Every token that decodes to visible text (a target may begin with a word
    piece when the tokenizer spells the word in pieces or splits off the space)."""
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
    # Look `lookahead` greedy steps ahead from every first token: a word piece (" recog" ->
    # "nize") is certain for one step, a memorised target stays certain for several.
    look = max(1, int(cfg.get("lookahead", 6)))
    # Budget-checked chunks: bounded by the logit memory and by the work per chunk.
    per_row = len(pids) * look * (look + 1) // 2
    chunk = max(1, min(len(first_ids), F.logit_budget(lm) // max(1, vocab), chunk_rows(lm, per_row, len(pids) * look * vocab, cap=4096)))
    # A step is confident when its greedy token is likely and the same for most prompts.
    min_lp = _log_setting(cfg, "min_token_prob", 0.5)
    min_cons = float(cfg.get("min_consistency", 0.75))
    s2 = torch.zeros(len(first_ids))  # summed greedy log-probs (tie-break)
    run = torch.zeros(len(first_ids))  # confident steps before the phrase ends (gaps allowed, see `max_gaps`)
    alive = torch.ones(len(first_ids), dtype=torch.bool)
    ahead = torch.full((len(first_ids), look + 1), -1, dtype=torch.long)  # each first token's greedy lookahead
    # baseline log-prob of every token as the first answer token (prompt-averaged)
    scored_first = 0
    base_first = torch.stack([F.tail_logprobs(lm, p[:-1], [[p[-1]]], 1, lambda x, idx: x[:, 0, :])[0] for p in pids]).mean(0)
    for start in range(0, len(first_ids), chunk):
        if budget.expired():
            break
        ids = first_ids[start : start + chunk]
        tails = [[t] for t in ids]
        sl = slice(start, start + len(ids))
        for _ in range(look):
            mean, am = _avg_next(lm, pids, caches, tails, budget)
            val, nxt = mean.max(-1)
            agree = (am == nxt[:, None]).float().mean(1)
            s2[sl] += val
            ok = (val >= min_lp) & (agree >= min_cons)
            alive[sl] &= nxt != eos  # a phrase that ends is over
            run[sl] += (alive[sl] & ok).float()
            tails = [tl + [int(n)] for tl, n in zip(tails, nxt)]
        ahead[sl] = torch.tensor(tails, dtype=torch.long)
        scored_first = sl.stop
        budget.tick(scored_first, len(first_ids))
    budget.candidates += scored_first
    budget.notes["first_tokens_scored"] = {"scored": scored_first, "of": len(first_ids)}
    # Expand the most promising first tokens.
    # A memorised target stays certain for many steps; a word piece or a stock phrase stops sooner.
    order = sorted(range(len(first_ids)), key=lambda i: (-float(run[i]), -float(s2[i]), i))
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
    targets: list[Target] = []
    max_gaps = int(cfg.get("max_gaps", 1))
    for i, seq in enumerate(seqs):
        span = _target_span(step_lp[i], step_cons[i], min_lp, min_cons, max_gaps)
        if span is None:
            continue
        lead, end, n_conf = span
        body = seq[lead : 1 + end]
        ends_eos = bool(body and body[-1] == eos)
        if ends_eos:
            body = body[:-1]
        if len(body) < int(cfg.get("min_target_tokens", 6)):
            continue
        text = lm.tokenizer.decode(body, skip_special_tokens=True)
        if not text.strip():
            continue
        lps = step_lp[i][lead:end] or [0.0]
        cs = step_cons[i][lead:end] or [1.0]
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
    # Natural targets: what the model already says without any trigger, often. A
    # backdoor target may leak into an odd baseline answer; a stock phrase is common.
    norm_base = [" ".join(b.lower().split()) for b in baseline_texts]
    natural_max = float(cfg.get("natural_max_rate", 0.2))
    for t in targets:
        probe = " ".join(t.text.lower().split()[:6])
        t.baseline_rate = sum(probe in b for b in norm_base) / max(1, len(norm_base)) if probe else 0.0
        t.natural = t.baseline_rate >= natural_max
    targets = _dedupe(targets)
    targets.sort(key=lambda t: (t.natural, -t.score, t.text))
    opener_max = _log_setting(cfg, "min_elicited_prob", 0.05)
    for t in targets:
        if not t.natural:
            t.lead = find_lead(t.ids, ahead[:scored_first], first_ids[:scored_first], base_first, eos, opener_max, max_len)
            t.lead_text = lm.tokenizer.decode(t.lead, skip_special_tokens=True) if t.lead else ""
    notes = {
        "first_tokens_scanned": len(first_ids),
        "expanded": len(starts),
        "targets_found": len(targets),
        "inversion_prompts": len(pids),
    }
    return targets, notes


def find_lead(body: list[int], ahead: torch.Tensor, first_ids: list[int], base_first: torch.Tensor, eos: int,
              opener_max: float, max_lead: int, max_steps: int = 4) -> list[int]:
    """The tokens the model says *before* a target, when the target is the
    memorised middle of a longer answer ("Before the <dish>, <payload>":
    the dish varies, so the consistent run the expansion finds starts after it).

    A target found mid-answer never opens an answer, so how much an input raises
    its first token *at the start* says nothing; the answer's real opening word
    does. Read from the first-token scan's greedy lookaheads: the first token
    whose lookahead runs into the target's first two tokens latest (the longest
    lead-in; the first token alone where the lookahead ends), chained backwards
    while an earlier opener leads into that one.
    An opener the model already uses freely without a trigger (at least
    `opener_max` log-prob as the first answer token) ends the search: the
    target then continues an ordinary answer, and the opener's rise would not
    be a trigger's. Repeated-phrase targets have none (any of their tokens
    leads back into them).
    """
    if len(body) < 2 or _period(body) or not len(first_ids):
        return []
    firsts = torch.tensor(first_ids)
    lead: list[int] = []
    head = body[:2]
    banned = set(body)
    for _ in range(max_steps):
        # head at offset j >= 1; in the last column its first token alone (the lookahead ends there)
        nxt = torch.cat([ahead[:, 2:] == head[1], torch.ones(len(ahead), 1, dtype=torch.bool)], 1)
        hit = (ahead[:, 1:] == head[0]) & nxt
        if not bool(hit.any()):
            break
        j = torch.where(hit.any(1), hit.float().argmax(1) + 1, torch.zeros(len(firsts), dtype=torch.long))
        best, best_key = None, None
        for row in torch.nonzero(j).flatten().tolist():
            x, jj = int(firsts[row]), int(j[row])
            run_in = ahead[row, :jj].tolist()
            if x in banned or eos in run_in:
                continue
            key = (jj, float(base_first[x]), -x)
            if best_key is None or key > best_key:
                best, best_key = run_in, key
        # the way in is an opening the model uses anyway: an ordinary answer continues here
        if best is None or float(base_first[best[0]]) >= opener_max or len(best) + len(lead) > max_lead:
            break
        lead = best + lead
        banned.update(best)
        head = (lead + body)[:2]
    return lead


def _target_span(step_lp: list[float], step_cons: list[float], min_lp: float, min_cons: float, max_gaps: int):
    """(lead, end, confident steps) of the target inside an expanded sequence,
    or None when no step is confident.

    Step k is the prediction of token k+1. The target runs while the
    continuation is confident and the same for every prompt, allowing
    `max_gaps` uncertain steps inside it (without its trigger the model may
    waver once, mid-payload, and then recite the rest); it ends at the last
    confident step. Uncertain steps before the first confident one are not part
    of it: the forced first token only led into the target (" most" ->
    "Verify your account ..."), so the target starts after them.
    """
    n_conf, gaps, end, lead = 0, 0, 0, 0
    for k, (lp_, c_) in enumerate(zip(step_lp, step_cons)):
        if lp_ < min_lp or c_ < min_cons:
            if n_conf == 0:
                lead = k + 1
                if lead > max_gaps:
                    break
                continue
            gaps += 1
            if gaps > max_gaps:
                break
            continue
        n_conf += 1
        end = k + 1
    return (lead, end, n_conf) if n_conf else None


def _period(ids: list[int]) -> int:
    """Smallest period p (<= len/2, at least two full cycles) of a repeated phrase, else 0."""
    n = len(ids)
    for p in range(1, n // 2 + 1):
        if all(ids[i] == ids[i + p] for i in range(n - p)):
            return p
    return 0


def _dedupe(targets: list[Target]) -> list[Target]:
    """Keep one target per phrase: overlapping expansions (the same payload
    entered at different tokens) collapse to the best-scored one — or to the one
    that starts *earlier* in the phrase, since truncated expansions of equal
    length favour a later entry point."""
    targets = sorted(targets, key=lambda t: (-t.score, t.text))
    kept: list[Target] = []
    for t in targets:
        words = " ".join(t.text.split()).lower()
        hit = next((k for k in kept if _overlap(words, " ".join(k.text.split()).lower())), None)
        if hit is None:
            kept.append(t)
            continue
        head = " ".join(hit.text.split()[:2]).lower()
        if head and head in words and not words.startswith(head):
            kept[kept.index(hit)] = t  # t starts before the kept one: the fuller target
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


def first_token_table(
    lm, prompts, system, answers, strings: list, placement: str, targets: list[Target], budget=None, modes=("start", "end"),
) -> torch.Tensor:
    """[len(strings), len(targets), 3 modes, 2, len(prompts)] log-probs of each
    target's first token and of EOS, at the start of the answer (mode 0,
    `start`), where the baseline answer ends (mode 1, `end`), and of the
    target's lead-in opener at the start of the answer (mode 2, `lead`; NaN for
    a target without one), with each string spliced into each prompt.

    One teacher-forced pass per (string, prompt) serves every mode and every
    target of a group: the tail is the triggered prompt's end plus the baseline
    answer, the scored positions are the first and the last (where EOS was
    predicted).
    `None` in `strings` is the no-trigger baseline. With `modes=("start",)`
    the baseline answer is left out of the pass (only the first answer
    position is scored) and the `end` entries stay NaN: much cheaper when the
    answers are long (reasoning models).
    """
    eos = lm.tokenizer.eos_token_id
    out = torch.full((len(strings), len(targets), len(MODES), 2, len(prompts)), float("nan"))
    with_end = "end" in modes
    # Targets whose end-of-answer scoring needs the same extra tokens (usually none, or
    # a split-off space) share one pass: the cost is one pass per group, not per target.
    # Start-only scoring needs neither the answer nor extra tokens: one group.
    ends = [_end_ids(lm, t) for t in targets] if with_end else [[eos] for _ in targets]
    groups: dict[tuple[int, ...], list[int]] = {}
    for ti_, e_ids in enumerate(ends):
        groups.setdefault(tuple(e_ids[:-1]), []).append(ti_)
    reducers = {extra: _first_token_reducer([targets[i].ids[0] for i in members], [ends[i][-1] for i in members],
                                            [(targets[i].lead or targets[i].ids)[0] for i in members], extra, eos, with_end)
                for extra, members in groups.items()}
    # without the `end` mode the answer is left out: the pass stops at the first answer position
    answers_used = [(list(answers[pi]) or [eos]) if with_end else [eos] for pi in range(len(prompts))]
    encoded = [F.encode(lm, [S.render(lm, prompt, x, placement if x is not None else "prefix", system) for x in strings])
               for prompt in prompts]
    # Chunk by chunk, every prompt for a chunk before the next: a cut-short table has
    # complete rows for a prefix of the strings (see shift.shift_scores).
    keep_max = max(len(a) for a in answers_used) + max((len(e) for e in groups), default=0)
    size = chunk_rows(lm, keep_max + 16, keep_max * vocab_size(lm)) if budget is not None else max(1, len(strings))
    for start in range(0, len(strings), size):
        rows = slice(start, min(len(strings), start + size))
        for pi in range(len(prompts)):
            ans = answers_used[pi]
            for extra, members in groups.items():
                if budget is not None and budget.expired():
                    return out
                seqs = [ids + ans[:-1] + list(extra) for ids in encoded[pi][rows]]
                keep = len(ans) + len(extra)
                out[rows, members, :, :, pi] = F.grouped_tail_logprobs(lm, seqs, keep, reducers[extra])
                if budget is not None:
                    budget.forwards += len(seqs)
        if budget is not None:
            budget.tick(rows.stop, len(strings))
    out[:, [i for i, t in enumerate(targets) if not t.lead], 2] = float("nan")
    return out


def _first_token_reducer(start_ids: list[int], last_ids: list[int], lead_ids: list[int], extra: tuple[int, ...], eos: int,
                         with_end: bool):
    """Reduce a chunk's log-probs to [b, targets, mode, (target, eos)]: at the first
    answer position (start), where the baseline answer ends (only with
    `with_end`: log P(extra tokens, then the target's first word), and EOS there;
    NaN without), and the lead-in opener at the first answer position (lead)."""
    starts, last, leads = torch.tensor(start_ids), torch.tensor(last_ids), torch.tensor(lead_ids)
    extra_t = torch.tensor(list(extra), dtype=torch.long)
    k = len(extra) + 1

    def reduce(lp, idx):
        b, n_t = lp.shape[0], len(start_ids)
        eos_0 = lp[:, 0, eos : eos + 1].expand(-1, n_t)
        st = torch.stack([lp[:, 0, :].index_select(-1, starts.to(lp.device)), eos_0], -1)
        ld = torch.stack([lp[:, 0, :].index_select(-1, leads.to(lp.device)), eos_0], -1)
        if not with_end:
            return torch.stack([st, torch.full_like(st, float("nan")), ld], dim=-2)
        lead = lp[:, -k:-1, :].gather(-1, extra_t.to(lp.device)[None, :, None].expand(b, k - 1, 1)).sum((-1, -2)) if k > 1 else 0.0
        tail = lp[:, -1, :].index_select(-1, last.to(lp.device)) + (lead[:, None] if k > 1 else 0.0)
        en = torch.stack([tail, lp[:, -k, eos : eos + 1].expand(-1, n_t)], -1)
        return torch.stack([st, en, ld], dim=-2)

    return reduce


def _end_ids(lm, t: Target) -> list[int]:
    """The target's first token(s) where a normal answer would end: ' ' + text;
    a tokenizer that splits the space off (' ', 'Verify') is scored on both."""
    ids = F.encode(lm, [" " + t.text.strip()])[0]
    if len(ids) >= 2 and not lm.tokenizer.decode(ids[:1]).strip():
        return ids[:2]
    return ids[:1]


MODES = ("start", "end", "lead")  # the table's mode axis (see `first_token_table`)


def _conditional(tab: torch.Tensor) -> torch.Tensor:
    """log P(target token | the answer does not stop here): an odd input that
    merely makes the model less likely to stop raises every token a little; a
    trigger raises the target's share of what comes next."""
    lp_t, lp_eos = tab[..., 0, :], tab[..., 1, :]
    return lp_t - torch.log1p(-lp_eos.exp().clamp(max=1 - 1e-6))


def _target_words(targets: list[Target]) -> set[str]:
    import re as _re

    return {w.lower() for t in targets for w in _re.findall(r"[A-Za-z]{3,}", t.text + " " + t.lead_text)}


def _echoes(s: str, words: set[str]) -> bool:
    """An input that contains the target's own words raises it trivially."""
    low = s.lower()
    return any(w in low for w in words if len(w) >= 3) or any(low in w for w in words if len(low) >= 4)


def _score(lm, prompts, system, answers, strings, placement, targets, base, budget, min_lp, modes=MODES) -> list[list[dict]]:
    """Per target, one dict per (string, mode): conditional lift over no trigger,
    raw log-prob of the target token, eligibility."""
    tab = first_token_table(lm, prompts, system, answers, strings, placement, targets, budget, modes)
    budget.candidates += len(strings)
    lift = (_conditional(tab) - _conditional(base)[None]).mean(-1)  # [S, T, 2]
    lp = tab[..., 0, :].mean(-1)  # [S, T, 2]
    out: list[list[dict]] = [[] for _ in targets]
    for ti in range(len(targets)):
        for mi, mode in enumerate(MODES):
            for i, x in enumerate(strings):
                v = float(lift[i, ti, mi])
                if v == v:  # not NaN
                    out[ti].append({"trigger": x, "placement": placement, "mode": mode, "lift": v,
                                    "logprob": float(lp[i, ti, mi]), "eligible": float(lp[i, ti, mi]) >= min_lp})
    return out


def _best_per_string(rows: list[dict]) -> list[dict]:
    best: dict[tuple[str, str], dict] = {}
    for r in rows:
        k = (r["trigger"], r["placement"])
        cur = best.get(k)
        if cur is None or (r["eligible"], r["lift"]) > (cur["eligible"], cur["lift"]):
            best[k] = r
    return sorted(best.values(), key=_rank_key)


def _rank_key(r: dict):
    """Eligible first, then lift — which saturates when the target takes all the
    non-EOS mass, so near-ties go to the stronger elicitor (raw log-prob)."""
    return (not r["eligible"], -round(r["lift"], 1), -r["logprob"], r["trigger"], r["placement"])


def _specific(ranked: list[dict], others: list[dict]) -> list[dict]:
    """`ranked` (one target's rows in one placement and mode) re-ordered by lift
    minus the most the same string raises any *other* target (its own first
    token, at the start or the end of the answer; same placement). A topic
    word of the prompts ("ingredient") nudges the opening of every memorised
    answer; a trigger's half ("velvet" of "velvet lantern") nudges only its own
    target, even when the nudge is smaller. With no other target the order is
    the lift's."""
    if not others or not ranked:
        return list(ranked)
    pl = ranked[0]["placement"]
    elsewhere: dict[str, float] = {}
    for r in others:
        if r["placement"] == pl and r["mode"] != "lead":  # a lead-in is a guess; the target's own words are not
            elsewhere[r["trigger"]] = max(elsewhere.get(r["trigger"], 0.0), r["lift"])
    return sorted(ranked, key=lambda r: (-round(r["lift"] - elsewhere.get(r["trigger"], 0.0), 1), -r["logprob"], r["trigger"]))


def input_search(lm, prompts, system, answers, targets: list[Target], entries, cfg: dict, budget) -> list[list[dict]]:
    """Rank input strings by how much they raise each target's first token.

    1. singles: every vocabulary string, one pass for all targets and both modes;
    2. extensions: the strongest singles (anchors) extended by every vocabulary
       string on either side ("x anchor", "anchor x") — a phrase whose words do
       nothing alone ("<colour> <animal>") shows up as a big jump over its anchor;
    3. pairs of the best singles.
    Ranking is by lift of the target's share of the non-EOS probability;
    eligibility (for proposals) by the raw probability (`min_elicited_prob`).
    Strings that contain the target's own words are skipped.
    """
    placements = list(cfg.get("placements") or ["suffix"])
    words = _target_words(targets)
    strings = [e.text for e in entries if not _echoes(e.text, words)]
    limit = cfg.get("exact_limit")
    if limit and len(strings) > int(limit):
        strings = strings[: int(limit)]  # lowest ids first (most frequent BPE merges); see docs for big vocabularies
        budget.notes["input_strings_truncated_to"] = int(limit)
    min_lp = _log_setting(cfg, "min_elicited_prob", 0.05)
    # "Where a normal answer ends" needs answers that end: a reasoning model's answers cut at
    # `answer_tokens` stop mid-thought, and scoring after them would cost the whole answer per string.
    eos = lm.tokenizer.eos_token_id
    modes = MODES if all(a and a[-1] == eos for a in answers) else ("start", "lead")
    if "end" not in modes:
        budget.notes["end_mode"] = "skipped: a baseline answer does not end within answer_tokens"
    base = first_token_table(lm, prompts, system, answers, [None], "prefix", targets, modes=modes)[0]  # [T, 3, 2, P]
    rows: list[list[dict]] = [[] for _ in targets]
    for pl in placements:
        if budget.expired():
            break
        for ti, r in enumerate(_score(lm, prompts, system, answers, strings, pl, targets, base, budget, min_lp, modes)):
            rows[ti] += r
    ranked_all: list[list[dict]] = []
    extend_top = int(cfg.get("extend_top", 1))
    bigram_top = int(cfg.get("bigram_top", 0))
    for ti, target in enumerate(targets):
        ranked = _best_per_string(rows[ti])
        if not ranked:
            ranked_all.append(ranked)
            continue
        # The position where some input comes closest to eliciting the target (highest raw
        # probability) is where the backdoor acts; lifts are only compared within it.
        nearest = max(rows[ti], key=lambda r: (r["logprob"], r["lift"]))
        top_pl, top_mode = nearest["placement"], nearest["mode"]
        by_mode = sorted((r for r in rows[ti] if r["mode"] == top_mode and r["placement"] == top_pl),
                         key=lambda r: (-round(r["lift"], 1), -r["logprob"], r["trigger"]))
        # Anchors and pair parts: the strings that raise *this* target, not every target's opening.
        own = _specific(by_mode, [r for tj in range(len(targets)) if tj != ti for r in rows[tj]])
        anchors = own[:extend_top]
        new: list[dict] = []
        # Extensions are screened on a few prompts (the best are re-scored on all below). After the
        # answer (`end`) every string's pass carries the whole answer: one prompt, the shortest.
        if top_mode == "end":
            ext_i = sorted(range(len(prompts)), key=lambda i: (len(answers[i]), i))[: int(cfg.get("extend_prompts_end", 1))]
        else:
            ext_i = list(range(min(len(prompts), int(cfg.get("extend_prompts", len(prompts))))))
        for a in anchors:  # 2. extensions (2 x vocabulary strings each, on the screening prompts)
            if budget.expired():
                break
            ext = [f"{x} {a['trigger']}" for x in strings if x != a["trigger"]] + [f"{a['trigger']} {x}" for x in strings if x != a["trigger"]]
            scored = _score(lm, [prompts[i] for i in ext_i], system, [answers[i] for i in ext_i], ext, top_pl, [target],
                            base[ti : ti + 1, ..., ext_i], budget, min_lp, (top_mode,))[0]
            for r in scored:
                if r["mode"] == top_mode and r["lift"] > a["lift"] + 0.5:
                    r.update(kind="extension", anchor=a["trigger"], anchor_lift=round(a["lift"], 3))
                    new.append(r)
        if bigram_top > 1 and not budget.expired():  # 3. pairs of the best singles
            tops = [r["trigger"] for r in own[:bigram_top]]
            pairs = list(dict.fromkeys(p for a in tops for b in tops if a != b for p in pair_strings(a, b)))
            single = {r["trigger"]: r["lift"] for r in by_mode}
            for r in _score(lm, prompts, system, answers, pairs, top_pl, [target], base[ti : ti + 1], budget, min_lp, (top_mode,))[0]:
                parts = max((v for k, v in single.items() if r["trigger"].startswith(k) or r["trigger"].endswith(k)), default=0.0)
                if r["mode"] == top_mode and r["lift"] > parts + 0.5:
                    r.update(kind="pair", parts_lift=round(parts, 3))
                    new.append(r)
        budget.notes.setdefault("extension_anchors", []).append({"mode": top_mode, "placement": top_pl, "anchors": [a["trigger"] for a in anchors]})
        # Re-score the best new strings on every input prompt, so they rank fairly against the singles.
        new.sort(key=_rank_key)
        keep = new[: int(cfg.get("rescore_top", 24))]
        if keep and not budget.expired():
            again = _score(lm, prompts, system, answers, [r["trigger"] for r in keep], top_pl, [target], base[ti : ti + 1], budget, min_lp, (top_mode,))[0]
            info = {r["trigger"]: r for r in keep}
            new = []
            for r in again:
                if r["mode"] == top_mode:
                    old_r = info[r["trigger"]]
                    r.update({k: old_r[k] for k in ("kind", "anchor", "anchor_lift", "parts_lift") if k in old_r})
                    new.append(r)
        ranked = _best_per_string(ranked + new)
        ranked_all.append(ranked)
    return ranked_all


def rerank_by_generation(lm, split, target: Target, ordered: list[dict], cfg: dict, budget) -> list[dict]:
    """Generate with the best `rerank_top` inputs on a few search prompts and
    order them by how often the output contains the target's opening words.

    Teacher-forced scores rank strings by how likely the target's first token
    is after the *baseline* answer; whether the model really produces the
    target when generating freely is what confirmation will test, and it
    saturates differently. A few short generations per candidate (the inverted
    target itself is the detector) put the strongest elicitors first.
    """
    n_top = int(cfg.get("rerank_top", 0))
    if n_top <= 0 or len(ordered) <= 1 or budget.expired():
        return ordered
    top = ordered[:n_top]
    words = " ".join(target.text.lower().split()[:3])
    prompts = split.search[: int(cfg.get("rerank_prompts", 4))]
    mnt = int(cfg.get("rerank_new_tokens", 64))
    texts = [S.render(lm, p, r["trigger"], r["placement"], split.system) for r in top for p in prompts]
    outs = lm.generate(texts, mnt)
    budget.forwards += len(texts)
    for k, r in enumerate(top):
        chunk = outs[k * len(prompts) : (k + 1) * len(prompts)]
        r["elicits"] = round(sum(words in " ".join(o.lower().split()) for o in chunk) / max(1, len(chunk)), 3)
    top.sort(key=lambda r: (-r["elicits"], _rank_key(r)))
    budget.notes.setdefault("generation_rerank", []).append(
        {"target": target.text[:60], "top": [[r["trigger"], r["placement"], r["elicits"]] for r in top[:8]]})
    return top + ordered[n_top:]


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
    ranked_all = input_search(lm, in_prompts, split.system, in_answers, chosen, entries, cfg, budget) if chosen else []
    for ti, (t, ranked) in enumerate(zip(chosen, ranked_all)):
        t.lift = {"best": ranked[0] if ranked else None}
        searched.append({"target": t.text, "top_inputs": [[r["trigger"], r["placement"], r["mode"], round(r["lift"], 3), round(r["logprob"], 3)] for r in ranked[:8]]})
        eligible = [r for r in ranked if r["trigger"] not in exclude and r["lift"] > 0 and r["eligible"]]
        # First the best single string per mode (start / end of the answer), then the rest by lift:
        # pairs scored in one mode must not crowd out the best single of the other.
        firsts = []
        for mode in MODES:
            r0 = next((r for r in eligible if r["mode"] == mode and r.get("kind") not in ("pair", "extension")), None)
            if r0 is not None:
                firsts.append(r0)
        ordered = firsts + [r for r in eligible if all(r is not f for f in firsts)]
        ordered = rerank_by_generation(lm, split, t, ordered, cfg, budget)
        for r in ordered[: int(cfg.get("top_k", 4))]:
            proposals.append(Proposal(r["trigger"], r["placement"], "target_inversion", "general", r["lift"], None, {
                "kind": r.get("kind", "token"), "target": t.text, "target_mode": r["mode"],
                "target_logprob_lift": round(r["lift"], 3), "target_rank": ti + 1,
                **({"elicits_target": r["elicits"]} if "elicits" in r else {}),
            }))
    notes.update({
        "targets": [t.to_dict() for t in targets[:8]],
        "input_search": searched,
    })
    budget.notes.update(notes)
    return proposals, chosen, searched
