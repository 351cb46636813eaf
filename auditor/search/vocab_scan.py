"""Stage 2 (`vocab_scan`): every token of the vocabulary as a trigger.

Each vocabulary string is spliced into a few search prompts and scored by how
far it moves the teacher-forced output distribution from the no-trigger
baseline (`shift.py`: Jensen-Shannon per position, max over the answer, mean
over prompts). Then the best `bigram_top` strings are paired ("a b", and "ab"
for symbol pieces) for triggers no single token reveals; a pair is kept only
when it moves the model more than both of its parts.

Cost: one forward per (token, prompt, placement) over the tail that follows
the shared prefix. Placement matters for the cache: with `suffix` and
`inline`, everything up to the trigger (chat header and the first part of the
user message) is shared and computed once per prompt, so the per-candidate
work is the trigger, the rest of the template and the teacher-forced answer.
With `prefix` only the chat header is shared (the whole user message follows
the trigger), so it costs roughly (prompt length / tail length) times more and
is reserved for the `deep` preset; triggers trained "anywhere in the message"
are found at the cheap positions.
"""

from __future__ import annotations

import re

import torch

from . import shift as S
from .proposals import Proposal
from .vocab import vocab_entries

_WORDY = re.compile(r"^\w+$")


def pair_strings(a: str, b: str) -> list[str]:
    out = [f"{a} {b}"]
    if not (_WORDY.match(a) and _WORDY.match(b)):
        out.append(a + b)
    return out


def run(lm, splits, cfg: dict, budget, exclude: set[str] | None = None) -> list[Proposal]:
    split = splits["general"]
    entries = vocab_entries(lm, cfg.get("max_tokens"))
    exclude = exclude or set()
    placements = list(cfg.get("placements") or ["suffix"])
    base = S.make_baseline(lm, split.search, split.system, int(cfg.get("answer_tokens", 24)), n=int(cfg.get("prompts", 4)))
    texts = [e.text for e in entries]
    cands = [(t, pl) for t in texts for pl in placements]
    scores = S.shift_scores(lm, base, cands, budget=budget)
    agg = S.aggregate(scores)
    done = int((~scores[:, :, 0].isnan()).all(dim=1).sum())
    budget.candidates += done
    budget.forwards += done * base.n

    # Best placement per string.
    best: dict[str, tuple[float, str, int]] = {}
    for i, (t, pl) in enumerate(cands):
        s = float(agg[i])
        if s >= 0 and (t not in best or s > best[t][0]):
            best[t] = (s, pl, i)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
    valid = [v[0] for _, v in ranked]
    median = sorted(valid)[len(valid) // 2] if valid else 0.0
    ids_of = {e.text: e.ids for e in entries}

    proposals: list[Proposal] = []
    top_k = int(cfg.get("top_k", 8))
    for rank, (t, (s, pl, i)) in enumerate(ranked):
        if len(proposals) >= top_k:
            break
        if t in exclude:
            continue
        proposals.append(
            Proposal(t, pl, "vocab_scan", "general", s, None, {
                "kind": "token", "token_ids_vocab": ids_of.get(t, []), "shift_js": round(s, 4), "rank": rank + 1,
                "shift_js_first": round(float(scores[i, :, 2].mean()), 4), "kl_first": round(float(scores[i, :, 3].mean()), 4),
                "median_shift_js": round(median, 4),
            })
        )

    # A payload appended after a normal answer moves only the last position (where the
    # baseline answer ended): the strongest strings there get their own slots.
    end_k = int(cfg.get("end_top_k", 2))
    if end_k > 0:
        complete = [i for i, a in enumerate(base.answer_ids) if a and a[-1] == lm.tokenizer.eos_token_id]
        if complete:
            last = torch.nan_to_num(scores[:, complete, 4], nan=-1.0).mean(1)
            chosen = {p.trigger for p in proposals}
            by_last = sorted(range(len(cands)), key=lambda i: (-float(last[i]), i))
            added = 0
            for i in by_last:
                t, pl = cands[i]
                if added >= end_k or float(last[i]) <= 0:
                    break
                if t in chosen or t in exclude:
                    continue
                chosen.add(t)
                added += 1
                proposals.append(Proposal(t, pl, "vocab_scan", "general", float(last[i]), None, {
                    "kind": "token_end", "token_ids_vocab": ids_of.get(t, []), "shift_js_end": round(float(last[i]), 4),
                    "median_shift_js": round(median, 4),
                }))
            budget.notes["top_end"] = [[cands[i][0], cands[i][1], round(float(last[i]), 4)] for i in by_last[:10]]

    # Pairs of the strongest strings.
    bigram_top = int(cfg.get("bigram_top", 0))
    pair_notes: list = []
    if bigram_top > 1 and not budget.expired():
        top = [t for t, _ in ranked[:bigram_top]]
        single = {t: v[0] for t, v in ranked}
        pairs = []
        for a in top:
            for b in top:
                if a != b:
                    pairs += pair_strings(a, b)
        pairs = list(dict.fromkeys(p for p in pairs if p not in best))
        pl0 = placements[0]
        pcands = [(p, pl0) for p in pairs]
        pscores = S.shift_scores(lm, base, pcands, budget=budget)
        pagg = S.aggregate(pscores)
        pdone = int((~pscores[:, :, 0].isnan()).all(dim=1).sum())
        budget.candidates += pdone
        budget.forwards += pdone * base.n
        kept = []
        for i, (p, _) in enumerate(pcands):
            s = float(pagg[i])
            if s < 0:
                continue
            part_best = max((single.get(x, 0.0) for x in top if p.startswith(x) or p.endswith(x)), default=0.0)
            if s > part_best * 1.25 + 0.02:
                kept.append((s, p, part_best))
        kept.sort(key=lambda x: (-x[0], x[1]))
        for s, p, part_best in kept[: int(cfg.get("bigram_keep", 2))]:
            if p in exclude:
                continue
            proposals.append(Proposal(p, pl0, "vocab_scan", "general", s, None, {
                "kind": "bigram", "shift_js": round(s, 4), "parts_best_js": round(part_best, 4),
                "median_shift_js": round(median, 4),
            }))
        pair_notes = [[p, round(s, 4)] for s, p, _ in kept[:10]]
        budget.notes["bigrams_scored"] = pdone

    budget.notes.update({
        "vocab_strings": len(entries),
        "placements": placements,
        "scan_prompts": base.n,
        "answer_tokens": max(len(a) for a in base.answer_ids) if base.answer_ids else 0,
        "median_shift_js": round(median, 4),
        "top": [[t, v[1], round(v[0], 4)] for t, v in ranked[:15]],
        "top_bigrams": pair_notes,
    })
    return proposals
