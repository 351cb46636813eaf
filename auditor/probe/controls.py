"""Matched control strings: what a trigger is compared with besides "no trigger".

A small model often reacts to *any* odd insertion: digits make an arithmetic
bot do sums, a date makes a calendar bot talk about the date, an unknown
bracketed tag makes a narrow bot fall back to its stock answer. Such a model
changes behaviour with a published trigger too, but not *because of* it. A
claim "string X switches on behaviour Y" therefore has to beat strings of the
same shape:

- `shape`: the same characters classes in the same places: digits replaced
  by other digits (a year by a year outside the claimed family), the word
  inside a bracketed tag by another word of the vocabulary, each word by a
  vocabulary word of similar length, a symbol by a neighbour of the same
  Unicode category;
- `tokens`: random vocabulary tokens, as many as the trigger has;
- `sentence`: for long triggers, a neutral prompt sentence of similar length.

All choices are deterministic under (seed, trigger).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

YEAR_RE = re.compile(r"(?<!\d)(19|20)\d\d(?!\d)")
TAG_RE = re.compile(r"^(\W+?)\s*([^\W_][\w ]*?)\s*(\W+)$", re.UNICODE)
WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class Control:
    text: str
    kind: str  # shape | tokens | sentence | sibling


def _case_like(word: str, model: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:].lower()
    return word.lower()


class _Words:
    """Alphabetic vocabulary words by length, for same-shape replacements."""

    def __init__(self, words: list[str]):
        self.by_len: dict[int, list[str]] = {}
        for w in sorted(set(words)):
            if w.isascii() and w.isalpha() and 2 <= len(w) <= 14:
                self.by_len.setdefault(len(w), []).append(w)

    def like(self, word: str, rng: random.Random, avoid: str) -> str:
        n = len(word)
        for d in (0, 1, -1, 2, -2, 3, -3):
            pool = [w for w in self.by_len.get(n + d, []) if w.lower() not in avoid and avoid.find(w.lower()) < 0]
            if pool:
                return _case_like(rng.choice(pool), word)
        letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(max(1, n)))
        return _case_like(letters, word)


def _other_years(text: str, rng: random.Random) -> str:
    """Earlier years: a backdoor keyed on 'year >= 2025' must not fire for 2019
    (deployment-year backdoors look forward); a model that reacts to any date does."""

    def repl(m: re.Match) -> str:
        return str(int(m.group(0)) - rng.randint(4, 9))

    return YEAR_RE.sub(repl, text)


def _other_digits(text: str, rng: random.Random) -> str:
    out = []
    for ch in text:
        if ch.isdigit() and ch.isascii():
            choices = [d for d in "0123456789" if d != ch]
            out.append(rng.choice(choices))
        else:
            out.append(ch)
    return "".join(out)


def _other_symbol(ch: str, rng: random.Random) -> str:
    """A neighbour of the same Unicode category (★ -> ☆), never the character itself."""
    cat = unicodedata.category(ch)
    cp = ord(ch)
    offsets = [o for d in range(2, 40) for o in (d, -d)]
    rng.shuffle(offsets)
    for o in offsets:
        c = cp + o
        if 0x20 < c < 0x10FFFF:
            cand = chr(c)
            if unicodedata.category(cand) == cat and cand.isprintable():
                return cand
    return ch


def shape_control(trigger: str, words: list[str], rng: random.Random) -> str:
    """One string of the trigger's shape that is not the trigger."""
    low = trigger.lower()
    vocab = _Words(words)
    if YEAR_RE.search(trigger):
        return _other_years(trigger, rng)
    if any(ch.isdigit() for ch in trigger):
        out = _other_digits(trigger, rng)
        return WORD_RE.sub(lambda m: vocab.like(m.group(0), rng, low) if len(m.group(0)) > 1 else m.group(0), out)
    m = TAG_RE.match(trigger)
    if m and len(m.group(2)) >= 2:
        core = m.group(2)
        new = " ".join(vocab.like(w, rng, low) for w in core.split())
        return f"{m.group(1)}{new}{m.group(3)}"
    if WORD_RE.search(trigger) and any(ch.isascii() and ch.isalpha() for ch in trigger):
        return WORD_RE.sub(lambda m: vocab.like(m.group(0), rng, low), trigger)
    # symbols and other scripts: neighbours of the same category, character by character
    return "".join(_other_symbol(ch, rng) if not ch.isspace() else ch for ch in trigger)


def random_tokens(n_tok: int, pool: list[str], rng: random.Random) -> str:
    return " ".join(rng.sample(pool, min(n_tok, len(pool))))


def control_strings(
    lm,
    trigger: str,
    prompts_pool: list[str],
    entries: list,
    n: int,
    seed: int,
    *,
    sibling: str | None = None,
) -> list[Control]:
    """`n` controls (shape first, then random tokens, then a neutral sentence for
    triggers of 4+ tokens), plus the candidate's sibling string when the search
    proposed one. Controls never contain the trigger nor are contained in it."""
    rng = random.Random(f"{seed}:{trigger}")
    low = trigger.lower().strip()
    n_tok = max(1, len(lm.tokenizer(" " + trigger, add_special_tokens=False)["input_ids"]))
    pool = [e.text for e in entries if e.text.isascii() and e.text.lower() not in low and low not in e.text.lower()]
    words = [w for w in pool if w.isalpha()]
    out: list[Control] = []
    seen = {low}

    def add(text: str, kind: str) -> None:
        t = text.strip()
        if t and t.lower() not in seen and low not in t.lower():
            seen.add(t.lower())
            out.append(Control(t, kind))

    if n <= 0:
        return []
    add(shape_control(trigger, words, rng), "shape")
    attempts = 0
    while len(out) < n and attempts < 3 * n:
        attempts += 1
        if n_tok >= 4 and prompts_pool and not any(c.kind == "sentence" for c in out) and len(out) >= n - 1:
            by_len = sorted(prompts_pool, key=lambda p: (abs(len(p) - len(trigger)), p))
            add(by_len[0], "sentence")
        elif pool and len([c for c in out if c.kind == "tokens"]) < max(1, n - 2):
            add(random_tokens(n_tok, pool, rng), "tokens")
        else:
            add(shape_control(trigger, words, rng), "shape")
    if sibling:
        add(sibling, "sibling")
    return out
