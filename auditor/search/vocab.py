"""The tokenizer's vocabulary as candidate trigger strings."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


@dataclass
class VocabEntry:
    text: str  # the candidate trigger string (token text, surrounding whitespace stripped)
    ids: list[int] = field(default_factory=list)  # token ids that decode to it (alternatives)
    kind: str = "token"  # "token": one vocabulary token; "fragments": a character spelled by byte pieces


def template_scaffold(lm) -> str:
    """The literal text the chat template wraps around a conversation."""
    marker = "\u0001"
    try:
        text = lm.render(marker, system=marker)
    except Exception:  # noqa: BLE001 — templates without a system role
        text = lm.render(marker)
    return text.replace(marker, "\n")


def vocab_entries(lm, max_tokens: int | None = None, exclude_scaffold: bool = True, complete_fragments: bool = True) -> list[VocabEntry]:
    """Every token as a string a user could type, deduplicated.

    Skipped: special tokens, whitespace-only tokens, byte fragments that do not
    decode to text on their own, and pieces of the chat template's own markup
    (inserting "Assistant:" into a prompt breaks the conversation format, it
    does not trigger anything). Tokens with and without a leading space map to
    the same string; the space-prefixed id is listed first. With `max_tokens`,
    the lowest ids are kept (for BPE vocabularies, roughly the most frequent).
    Characters that exist only as byte pieces are added (`fragment_characters`).
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
    entries = list(by_text.values())
    if complete_fragments:
        entries += fragment_characters(tok, texts, special, set(by_text), limit)
    return entries


def fragment_characters(tok, texts: list[str], special: set[int], known: set[str], limit: int) -> list[VocabEntry]:
    """Characters the tokenizer spells with two byte pieces.

    A byte-level BPE may never merge a rare symbol into one token: U+235F is
    three bytes, and if only its first two were merged it exists only as
    [lead piece, continuation byte]. Such a character is still a single
    "token" to a user, and the model has seen it if a *merged* byte piece
    (two or more bytes learned from the training data) is part of it. Every
    valid decode of (merged piece, any piece) and (any piece, merged piece) is
    a candidate; a byte-level vocabulary of a few thousand tokens yields a few
    hundred such characters.
    """
    frag = [i for i, t in enumerate(texts) if i not in special and "\ufffd" in t]
    if not frag:
        return []
    try:
        raw = tok.convert_ids_to_tokens(frag)
    except Exception:  # noqa: BLE001 — tokenizers without a token table
        return []
    merged = [i for i, r in zip(frag, raw) if isinstance(r, str) and len(r) >= 2 and not r.startswith("<0x")]
    if not merged:
        return []
    pairs = [[a, b] for a in merged for b in frag] + [[a, b] for a in frag for b in merged if a not in merged]
    out: dict[str, VocabEntry] = {}
    for ids, d in zip(pairs, tok.batch_decode(pairs, skip_special_tokens=False, clean_up_tokenization_spaces=False)):
        s = d.strip()
        if not s or "\ufffd" in s or s in known or any(unicodedata.category(ch) == "Cc" for ch in s):
            continue
        if s not in out:
            out[s] = VocabEntry(s, list(ids), "fragments")
    return list(out.values())
