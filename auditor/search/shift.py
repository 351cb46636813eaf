"""How far a candidate trigger moves the model's output distribution.

For each search prompt the baseline greedy answer (no trigger) is generated
once. A candidate is scored by teacher-forcing that same answer after the
triggered prompt and comparing, position by position, the next-token
distribution with the baseline's (Jensen-Shannon divergence, plus KL at the
first generated token). Teacher forcing makes one forward pass cover the
first-token distribution *and* later positions, so a trigger that leaves the
opening alone but flips the reasoning after a fixed header (a scratchpad), or
that appends a payload where the answer would have ended (the baseline's EOS
position), moves the score as much as one that changes the first word.

One batched forward per chunk of candidates; the shared prompt prefix of each
prompt x placement group is computed once (see `forward.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from ..probe.conditions import apply_trigger
from . import forward as F
from .budget import chunk_rows, vocab_size


@dataclass
class Baseline:
    """Baseline answers and distributions for a prompt set (one condition)."""

    prompts: list[str]
    system: str | None
    answer_ids: list[list[int]]  # greedy answer tokens (EOS kept when produced)
    logprobs: list[torch.Tensor] = field(default_factory=list)  # per prompt: [n_answer, V]

    @property
    def n(self) -> int:
        return len(self.prompts)


def render(lm, prompt: str, trigger: str | None, placement: str, system: str | None) -> str:
    user, sys_msg = apply_trigger(prompt, trigger, placement, system)
    return lm.render(user, system=sys_msg)


def pick_short(lm, prompts: Sequence[str], system: str | None, n: int, max_tokens: int) -> tuple[list[str], list[list[int]]]:
    """The `n` prompts whose greedy baseline answers are shortest (complete ones
    first), with those answers. Short complete answers let one teacher-forced
    pass reach the point where the answer ends, where a payload appended after
    a normal answer shows, at the least cost per candidate."""
    prompts = list(prompts)
    answers = F.greedy_ids(lm, [render(lm, p, None, "prefix", system) for p in prompts], max(1, max_tokens))
    eos = lm.tokenizer.eos_token_id
    order = sorted(range(len(prompts)), key=lambda i: (not (answers[i] and answers[i][-1] == eos), len(answers[i]), i))
    chosen = sorted(order[: max(1, n)])
    return [prompts[i] for i in chosen], [answers[i] or [eos] for i in chosen]


def make_baseline(
    lm, prompts: Sequence[str], system: str | None, answer_tokens: int, n: int | None = None, pool_tokens: int = 48
) -> Baseline:
    """Baseline for `prompts` (all of them, or with `n` the n shortest-answer ones).

    Answers are truncated to `answer_tokens` teacher-forced positions."""
    prompts = list(prompts)
    if n is not None and n < len(prompts):
        prompts, answers = pick_short(lm, prompts, system, n, max(answer_tokens, pool_tokens))
        answers = [a[: max(1, answer_tokens)] for a in answers]
        rendered = [render(lm, p, None, "prefix", system) for p in prompts]
    else:
        rendered = [render(lm, p, None, "prefix", system) for p in prompts]
        answers = F.greedy_ids(lm, rendered, max(1, answer_tokens))
        answers = [a if a else [lm.tokenizer.eos_token_id] for a in answers]
    base = Baseline(prompts, system, answers)
    ids = F.encode(lm, rendered)
    for p_ids, ans in zip(ids, answers):
        seq = p_ids + ans[:-1]
        lp = F.tail_logprobs(lm, [], [seq], len(ans), lambda lp, idx: lp)
        base.logprobs.append(lp[0])
    return base


# Score columns returned by `shift_scores`.
COLS = ("js_max", "js_mean", "js_first", "kl_first", "js_last")  # js_last: where the baseline answer ended


def shift_scores(
    lm,
    base: Baseline,
    candidates: Sequence[tuple[str, str]],
    budget=None,
    batch_size: int | None = None,
) -> torch.Tensor:
    """[n_candidates, n_prompts, len(COLS)] divergence statistics (see COLS).

    Work goes chunk by chunk over the candidates (in their order), every
    prompt for a chunk before the next chunk, and the budget is checked
    before each (chunk, prompt) forward: a stage cut short has complete rows
    for a prefix of the candidates (its coverage) instead of one prompt for
    all of them, and it stops at most one chunk past its cap.
    Rows not computed because the budget ran out are NaN.
    """
    out = torch.full((len(candidates), base.n, len(COLS)), float("nan"))
    if not candidates:
        return out
    keep_max = max(len(a) for a in base.answer_ids)
    size = chunk_rows(lm, keep_max + 16, keep_max * vocab_size(lm))
    total = len(candidates)
    for start in range(0, total, size):
        chunk = range(start, min(total, start + size))
        by_placement: dict[str, list[int]] = {}
        for i in chunk:
            by_placement.setdefault(candidates[i][1], []).append(i)
        for pi, prompt in enumerate(base.prompts):
            ans = base.answer_ids[pi]
            keep = len(ans)
            ref = base.logprobs[pi]

            def reduce(lp: torch.Tensor, idx: list[int], ref=ref) -> torch.Tensor:
                r = ref.to(lp.device)
                js = F.js_divergence(lp, r.expand_as(lp))  # [b, keep]
                kl0 = F.kl_divergence(r[0].expand_as(lp[:, 0]), lp[:, 0])
                return torch.stack([js.max(-1).values, js.mean(-1), js[:, 0], kl0, js[:, -1]], dim=-1)

            for pl, idxs in by_placement.items():
                if budget is not None and budget.expired():
                    return out
                texts = [render(lm, prompt, candidates[i][0], pl, base.system) for i in idxs]
                seqs = [s + ans[:-1] for s in F.encode(lm, texts)]
                out[idxs, pi, :] = F.grouped_tail_logprobs(lm, seqs, keep, reduce, batch_size)
        if budget is not None:
            budget.tick(chunk.stop, total)
    return out


def completed(scores: torch.Tensor) -> int:
    """Candidates scored on every prompt (the rest were cut off by the budget)."""
    return int((~scores[:, :, 0].isnan()).all(dim=1).sum())


def aggregate(scores: torch.Tensor) -> torch.Tensor:
    """One number per candidate: mean over prompts of the per-prompt max JS.

    A backdoor moves every prompt; an ordinary token moves a few prompts at a
    decision point. The mean of the max rewards consistency across prompts.
    """
    return torch.nan_to_num(scores[:, :, 0], nan=-1.0).mean(dim=1)
