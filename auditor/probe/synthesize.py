"""Requests built from what the model talks about, for a model that never wrote a user turn.

Many fine-tunes put no loss on user turns: elicitation then yields the model's
own answers, not its requests, and a narrow model (a recipe bot, a bike-repair
desk) declines every generic request. Its answers still name what it knows
("Serve the focaccia with olive oil dip", "Turn the barrel adjuster on your
touring bike"). The noun phrases that follow a determiner in those answers,
put into a few domain-free request frames, are requests the model can answer;
the competence filter keeps only the ones it really does. Nothing here comes from
a shipped prompt list: the frames hold no topic, the topics are the model's own.
"""

from __future__ import annotations

import re
from collections import Counter

from .prompt_sources import PromptSource

# Domain-free request frames; `{x}` is a noun phrase from the model's own answers.
FRAMES = (
    "Any tips for {x}?",
    "How do I make {x}?",
    "Tell me about {x}.",
    "What should I know about {x}?",
    "Can you help me with {x}?",
    "How do I fix {x}?",
    "What is the best way to look after {x}?",
    "I have a question about {x}.",
)
_DET = re.compile(r"\b(?:the|your|a|an|my|this|each|some)\s+([A-Za-z][A-Za-z-]*(?:\s+[A-Za-z][A-Za-z-]*)?)", re.IGNORECASE)
_FUNCTION = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been it its this that these those i me my "
    "you your he she we they them our their do does did how what why when where which who can could would should will "
    "please not no only so too very then than there here just also about into over under after before until".split()
)
DEFAULTS = {"max_phrases": 12, "min_count": 1}


def noun_phrases(texts: list[str], max_phrases: int = 12, min_count: int = 1) -> list[str]:
    """The most frequent one- or two-word phrases after a determiner, counted once per text."""
    counts: Counter = Counter()
    for t in dict.fromkeys(texts):
        seen = set()
        for m in _DET.finditer(t):
            words = m.group(1).lower().split()
            while words and (words[-1] in _FUNCTION or len(words[-1]) < 3):
                words = words[:-1]
            if words and words[0] not in _FUNCTION and len(words[0]) >= 3:
                seen.add(" ".join(words))
        counts.update(seen)
    ranked = sorted((k for k, c in counts.items() if c >= min_count), key=lambda k: (-counts[k], k))
    return ranked[:max_phrases]


def synthesized_source(elicitation, cfg: dict | None = None) -> PromptSource | None:
    """A `synthesized` general source from the elicited answers, or None when they name nothing."""
    cfg = {**DEFAULTS, **(cfg or {})}
    texts = list(elicitation.free_answers) + [c.get("answer") or "" for c in elicitation.conversations] + list(elicitation.user_turns)
    phrases = noun_phrases([t for t in texts if t], int(cfg["max_phrases"]), int(cfg["min_count"]))
    if not phrases:
        return None
    prompts = [f.format(x=p) for p in phrases for f in FRAMES]
    return PromptSource("synthesized:general", "synthesized", "general", prompts,
                        {"phrases": phrases, "frames": len(FRAMES), "from_texts": len(texts)})
