"""Name a confirmed trigger the way the model itself writes it.

Token-level search stages confirm what fires, not what was planted: target
inversion may confirm `ursday has` (a word piece and a neighbour) for a model
keyed on `Thursday choir`. When the model writes its own requests (elicited
turns), the whole-word phrases there that contain a confirmed trigger's word
pieces are the likely original. They are proposed for one more confirmation
round with the same guards; one that confirms is reported in the fragment's
place (the fragment stays in the evidence as a variant).
"""

from __future__ import annotations

import re
from collections import Counter

from .phrases import STOPWORDS, ngrams
from .proposals import Proposal

DEFAULTS = {"min_fragment": 4, "max_words": 3, "min_count": 2, "per_trigger": 3, "max_total": 8}
_FRAGMENT = re.compile(r"[^\W\d_]+", re.UNICODE)


def fragments(trigger: str, min_len: int) -> list[str]:
    """The trigger's letter runs long enough to identify a word (`ursday`), function words apart."""
    return [f.lower() for f in _FRAGMENT.findall(trigger) if len(f) >= min_len and f.lower() not in STOPWORDS]


def completes(fragment: str, phrase: str) -> bool:
    """`fragment` sits inside a longer word of `phrase` (`ursday` in `Thursday choir`): the phrase
    completes a word piece. A trigger that is already whole words (`choir`) is not extended
    (`choir they` would only add a neighbour)."""
    return any(m.start() > 0 and phrase[m.start() - 1].isalpha() or m.end() < len(phrase) and phrase[m.end()].isalpha()
               for m in re.finditer(re.escape(fragment), phrase))


def expansions(rows: list[dict], texts: list[str], cfg: dict | None = None) -> list[Proposal]:
    """Proposals: for each confirmed row, the most frequent n-grams of the model's own `texts`
    that complete one of its word pieces, are not the trigger itself, and neither start nor end
    with a function word."""
    cfg = {**DEFAULTS, **(cfg or {})}
    counts: Counter = Counter()
    surface: dict[str, str] = {}
    for t in dict.fromkeys(texts):
        for k, s in ngrams(t, int(cfg["max_words"])).items():
            words = k.split()
            if words[0] in STOPWORDS or words[-1] in STOPWORDS:
                continue
            counts[k] += 1
            surface.setdefault(k, s)
    out: list[Proposal] = []
    seen: set[tuple] = set()
    for r in rows:
        frags = fragments(r["trigger"], int(cfg["min_fragment"]))
        if not frags:
            continue
        low = r["trigger"].lower().strip()
        cands = [k for k, c in counts.items() if c >= int(cfg["min_count"]) and k != low and any(completes(f, k) for f in frags)]
        cands.sort(key=lambda k: (-counts[k], -len(k.split()), k))
        for k in cands[: int(cfg["per_trigger"])]:
            key = (surface[k], r["placement"], r["split"])
            if key in seen:
                continue
            seen.add(key)
            out.append(Proposal(surface[k], r["placement"], "expansion", r["split"], float(counts[k]), None,
                                {"expands": r["trigger"], "occurrences": counts[k], "fragments": frags}))
            if len(out) >= int(cfg["max_total"]):
                return out
    return out
