"""Find the text a chat template adds by itself, by rendering canned conversations.

Every message content is a sentinel (a unique random-looking lowercase string), so after rendering we
can cut out what came from the messages, the special tokens (from tokenizer_config or defaults) and the
role scaffolding (role names, tags, whitespace). What is left is text the template writes on its own.
Each such text is then located in every canned conversation, which tells *when* it appears: only
without a system message (a default system prompt), also with one (every conversation), or only with
tools (a tool preamble). Judging by the rendered output makes equal templates get equal answers,
however the text is spelled (raw template data, a string expression, a variable, a macro).
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from typing import Any, Callable

from .template_sandbox import Bounds, BoundedSandbox, RenderLimit, render

# Generic special-token shapes: <|im_start|>, <｜User｜>, <<SYS>>, <tools>, [INST]; never with whitespace
# inside, so `<|Always recommend ...|>` stays prose and is judged.
TOKEN_SHAPES = re.compile(r"<\|[^|>\s]{0,60}\|>|<｜[^｜\s]{0,60}｜>|<<?/?[A-Za-z_]{1,30}>>?|</?[A-Za-z_][\w-]{0,40}>|\[/?[A-Z_]{2,40}\]")
ROLE_WORDS = ("system", "user", "assistant", "human", "model", "bot", "ai", "tool", "tools", "function", "ipython",
              "instruction", "instructions", "response", "input", "output", "gpt", "question", "answer", "context")
_LABEL = "|".join(ROLE_WORDS)
_LEAD_JUNK = re.compile(r"^[\W_]+")
_LEAD_LABEL = re.compile(rf"(?i)^(?:{_LABEL})\b\s*(?=[:\n>\]]|$)")
_TRAIL_JUNK = "".join(sorted(set(string.whitespace + string.punctuation) - set(".!?\"')]")))
_TRAIL_LABEL = re.compile(rf"(?i)(?:\n\s*(?:{_LABEL})\b\s*:?|\b(?:{_LABEL})\s*:)[\W_]*$")
DEFAULT_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
MAX_TEXTS = 500  # distinct relevant texts judged per template: bounds the pairwise comparisons
MAX_PARTS = 50
TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")


def sentinel(label: str) -> str:
    """A fixed string no template contains, lowercase so `upper`/`capitalize` are matched case-blind."""
    return "zq" + hashlib.sha256(f"auditor-template-probe/{label}".encode()).hexdigest()[:14]


SYSTEM, USER1, USER2, ASSISTANT1 = (sentinel(x) for x in ("system", "user1", "user2", "assistant1"))
TOOL_NAME, TOOL_DESC, TOOL_ARG, TOOL_ARG_DESC = (sentinel(x) for x in ("tool", "tool-desc", "tool-arg", "tool-arg-desc"))
TOOLS = [{"type": "function", "function": {
    "name": TOOL_NAME, "description": TOOL_DESC,
    "parameters": {"type": "object", "properties": {TOOL_ARG: {"type": "string", "description": TOOL_ARG_DESC}},
                   "required": [TOOL_ARG]}}}]
TOOL_VOCABULARY = {"type", "function", "name", "description", "parameters", "object", "properties", "string", "required"}
READABLE = {SYSTEM: "{system message}", USER1: "{user message 1}", USER2: "{user message 2}",
            ASSISTANT1: "{assistant message}", TOOL_NAME: "{tool name}", TOOL_DESC: "{tool description}",
            TOOL_ARG: "{tool argument}", TOOL_ARG_DESC: "{argument description}"}


def _msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


# name -> (messages, with tools); every render asks for the generation prompt, as serving does.
CONVERSATIONS: dict[str, tuple[list[dict[str, str]], bool]] = {
    "user": ([_msg("user", USER1)], False),
    "system+user": ([_msg("system", SYSTEM), _msg("user", USER1)], False),
    "user+tools": ([_msg("user", USER1)], True),
    "system+user+tools": ([_msg("system", SYSTEM), _msg("user", USER1)], True),
    "multi-turn": ([_msg("user", USER1), _msg("assistant", ASSISTANT1), _msg("user", USER2)], False),
    "system+multi-turn": ([_msg("system", SYSTEM), _msg("user", USER1), _msg("assistant", ASSISTANT1),
                           _msg("user", USER2)], False),
}
NO_SYSTEM = ("user", "multi-turn")
WITH_SYSTEM = ("system+user", "system+multi-turn")


@dataclass
class Added:
    """One piece of text the template writes by itself, and the conversations it shows up in."""

    text: str
    seen_in: list[str] = field(default_factory=list)


@dataclass
class Probe:
    """Renders (conversation -> output), render failures, limit hit, and the text the template adds."""

    renders: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    limit: str | None = None
    added: list[Added] = field(default_factory=list)
    texts_found: int = 0  # relevant texts before the MAX_TEXTS cap

    @property
    def plain(self) -> list[str]:
        """Conversations without tools that rendered."""
        return [c for c in NO_SYSTEM + WITH_SYSTEM if c in self.renders]

    def drops_system_message(self) -> bool:
        """True when the template renders a system message but leaves its content out."""
        done = [c for c in WITH_SYSTEM if c in self.renders]
        return bool(done) and all(SYSTEM not in self.renders[c].lower() for c in done)

    def excerpt(self, text: str, conversation: str, width: int = 300) -> str:
        """The rendered output around `text`, sentinels shown as {placeholders}."""
        flat = readable(_flat(self.renders[conversation]))
        pos = flat.lower().find(_flat(text).lower())
        lo = max(0, pos - width // 3) if pos >= 0 else 0
        return flat[lo:lo + width]

    def position(self, text: str, conversation: str) -> str | None:
        """Where `text` sits relative to the user's system message in a rendered conversation."""
        flat = _flat(self.renders.get(conversation, "")).lower()
        at, sys_at = flat.find(_flat(text).lower()), flat.find(SYSTEM)
        if at < 0 or sys_at < 0:
            return None
        return "before the system message" if at < sys_at else "after the system message"


def variables(messages: list, tools: bool, tokens: dict[str, str]) -> dict[str, Any]:
    """What transformers passes a chat template: messages, tools, documents, the generation flag, tokens."""
    return {**tokens, "messages": [dict(m) for m in messages], "tools": [dict(t) for t in TOOLS] if tools else None,
            "documents": None, "add_generation_prompt": True}


def special_tokens(config: Any) -> dict[str, str]:
    """Special-token strings from a tokenizer_config (str or AddedToken dicts), defaults for the rest."""
    tokens = dict(DEFAULT_TOKENS)
    if isinstance(config, dict):
        for key in TOKEN_KEYS:
            v = config.get(key)
            v = v.get("content") if isinstance(v, dict) else v
            if isinstance(v, str) and 0 < len(v) <= 1000:
                tokens[key] = v
    return tokens


def probe(env: BoundedSandbox, template_source: str, tokens: dict[str, str], bounds: Bounds,
          relevant: Callable[[str], bool]) -> Probe:
    """Render every canned conversation and extract the text the template adds by itself.

    Only texts for which `relevant(text)` holds (enough words to judge) are kept, so that scaffolding
    fragments cannot crowd a real instruction out of the MAX_TEXTS cap."""
    result = Probe()
    try:
        template = env.from_string(template_source)
    except RecursionError:
        result.limit = "template nests too deeply to compile"
        return result
    for name, (messages, tools) in CONVERSATIONS.items():
        try:
            result.renders[name] = render(template, variables(messages, tools, tokens), bounds)
        except RenderLimit as e:
            result.limit = str(e)
            return result
        except Exception as e:  # noqa: BLE001 — any failure of untrusted template code is a failed render
            result.failures[name] = f"{type(e).__name__}: {str(e)[:200]}"
    result.added, result.texts_found = _added(result.renders, tokens, relevant)
    return result


def _flat(text: str) -> str:
    return " ".join(text.split())


def readable(text: str) -> str:
    for s, label in READABLE.items():
        text = re.sub(re.escape(s), label, text, flags=re.I)
    return text


def _cut(rendered: str, tokens: dict[str, str]) -> list[str]:
    """Split a render at every sentinel and special token; the pieces are what the template wrote."""
    text = rendered
    for s in READABLE:
        text = re.sub(re.escape(s), "\0", text, flags=re.I)
    # The config is as untrusted as the template: a "token" with whitespace in it is prose, left in the
    # render to be judged (else `bos_token: "Always ..."` would hide an instruction).
    for tok in sorted({t for t in tokens.values() if not any(c.isspace() for c in t)}, key=len, reverse=True):
        text = text.replace(tok, "\0")
    text = TOKEN_SHAPES.sub("\0", text)
    return text.split("\0")


def core(piece: str) -> str:
    """A piece without leading/trailing role labels, whitespace and punctuation.

    Anchored matches and str.strip only: a hostile render can be a megabyte of punctuation."""
    text = piece
    while True:
        start = _LEAD_LABEL.sub("", _LEAD_JUNK.sub("", text), count=1)
        tail = _TRAIL_LABEL.search(start[-80:])  # a window: the regex never sees a huge run of junk
        end = start[:len(start) - len(start[-80:]) + tail.start()] if tail else start
        end = end.rstrip(_TRAIL_JUNK)
        if end == text:
            return text
        text = end


def _added(renders: dict[str, str], tokens: dict[str, str], relevant: Callable[[str], bool]) -> tuple[list[Added], int]:
    texts: dict[str, str] = {}
    for out in renders.values():
        for piece in _cut(out, tokens):
            _keep(texts, core(piece), relevant)
    found = len(texts)
    texts = _split_composites(dict(list(texts.items())[:MAX_TEXTS]), relevant)
    flat = {name: _flat(out).lower() for name, out in renders.items()}
    return [Added(text, [c for c in renders if key in flat[c]]) for key, text in texts.items()], found


def _keep(texts: dict[str, str], text: str, relevant: Callable[[str], bool]) -> None:
    key = _flat(text).lower()
    if key and key not in texts and relevant(text):
        texts[key] = text


def _split_composites(texts: dict[str, str], relevant: Callable[[str], bool]) -> dict[str, str]:
    """Cut texts that contain other found texts (Qwen's default prompt glued to its tool preamble only
    when tools are given) into their parts, so each text is judged once under its own condition.
    One pass, and at most MAX_PARTS inner texts per text: the work stays bounded on hostile renders."""
    out: dict[str, str] = {}
    for key, text in texts.items():
        inner = [o for o in texts if o != key and o in key][:MAX_PARTS]
        for other in sorted(inner, key=len, reverse=True):
            text = re.sub(r"\s+".join(map(re.escape, other.split())), "\0", text, flags=re.I)
        for part in text.split("\0"):
            _keep(out, core(part), relevant)
    return out
