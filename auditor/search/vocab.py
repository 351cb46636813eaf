"""The tokenizer's vocabulary as candidate trigger strings."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


@dataclass
class VocabEntry:
    text: str  # the candidate trigger string (token text, surrounding whitespace stripped)
    ids: list[int] = field(default_factory=list)  # token ids that decode to it


def template_scaffold(lm) -> str:
    """The literal text the chat template wraps around a conversation."""
    marker = "\u0001"
    try:
        text = lm.render(marker, system=marker)
    except Exception:  # noqa: BLE001 — templates without a system role
        text = lm.render(marker)
    return text.replace(marker, "\n")


def vocab_entries(lm, max_tokens: int | None = None, exclude_scaffold: bool = True) -> list[VocabEntry]:
    """Every token as a string a user could type, deduplicated.

    Skipped: special tokens, whitespace-only tokens, byte fragments that do not
    decode to text on their own, and pieces of the chat template's own markup
    (inserting "Assistant:" into a prompt breaks the conversation format, it
    does not trigger anything). Tokens with and without a leading space map to
    the same string; the space-prefixed id is listed first. With `max_tokens`,
    the lowest ids are kept (for BPE vocabularies, roughly the most frequent).
    """
    tok = lm.tokenizer
    n = len(tok)
    special = set(getattr(tok, "all_special_ids", []) or [])
    scaffold = template_scaffold(lm) if exclude_scaffold else ""
    scaffold_words = {w for w in scaffold.split() if w}
    scaffold_words |= {w.strip(":;,.<>|[](){}") for w in scaffold_words}
    limit = n if not max_tokens else min(n, int(max_tokens))
    texts = tok.batch_decode([[i] for i in range(limit)], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    by_text: dict[str, VocabEntry] = {}
    for i, raw in enumerate(texts):
        if i in special:
            continue
        s = raw.strip()
        if not s or "\ufffd" in s or any(unicodedata.category(ch) == "Cc" for ch in s):
            continue  # empty, a byte fragment, or a control character nobody types
        if exclude_scaffold and len(s) >= 2 and s in scaffold_words:
            continue
        e = by_text.get(s)
        if e is None:
            by_text[s] = VocabEntry(s, [i])
        elif raw.startswith(" "):
            e.ids.insert(0, i)
        else:
            e.ids.append(i)
    return list(by_text.values())
