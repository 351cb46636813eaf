"""Where a model's chat template puts the user, the system and the assistant.

Elicitation needs the exact text that opens a user turn (to let the model write
one), the text that closes it (to know where the user's words end), and the
markers that end an assistant turn. Rather than parse Jinja, the template is
rendered with sentinel messages and the rendered text is cut around them, so any
template the tokenizer can render is handled, and a model without one falls back
to the `Human:/Assistant:` format that `LoadedModel.render` uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

USER = "QQZUSERSENTINELZQQ"
SYSTEM = "QQZSYSTEMSENTINELZQQ"
ANSWER = "QQZANSWERSENTINELZQQ"

FALLBACK_USER_OPENING = "Human: "
FALLBACK_USER_CLOSING = "\nAssistant:"
FALLBACK_TURN_MARKERS = ["\nHuman:", "\nAssistant:"]


@dataclass
class TemplateShape:
    user_opening: str  # rendered text right before the user's content (no system message)
    user_closing: str  # text after the user's content up to where the assistant answers
    assistant_end: list[str]  # markers that end an assistant turn (eos, <|im_end|>, "\nHuman:" ...)
    system_opening: str | None  # text before a system message's content; None without a system slot
    default_system_prompt: str | None  # what the template injects when no system message is given
    has_template: bool
    user_end: list[str] = field(default_factory=list)  # markers that end a user turn
    system_end: list[str] = field(default_factory=list)  # markers that end a system turn
    assistant_opening: str = ""  # user_closing as rendered for a bare assistant turn
    next_user_opening: str = ""  # text between a finished answer and the next user's content
    system_closing: str = ""  # text between a system message's content and the user's content

    def to_dict(self) -> dict:
        return {
            "user_opening": self.user_opening,
            "user_closing": self.user_closing,
            "assistant_end": list(self.assistant_end),
            "system_opening": self.system_opening,
            "default_system_prompt": self.default_system_prompt,
            "has_template": self.has_template,
            "user_end": list(self.user_end),
            "system_end": list(self.system_end),
            "next_user_opening": self.next_user_opening,
            "system_closing": self.system_closing,
        }


def _render(tok, messages: list[dict], generation_prompt: bool) -> str | None:
    try:
        text = tok.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=False)
    except Exception:  # noqa: BLE001 — templates raise for roles they do not support
        return None
    return text if isinstance(text, str) else None


_TOKENLIKE = re.compile(r"<\|[^<>|]*\|>|</?[^<>\s]{1,24}>|\[/?[A-Za-z_]+\]")


def _first_marker(text: str) -> str | None:
    """The first marker of `text`: its first special-token-like piece ('<|im_end|>', '<|eot_id|>',
    '[/INST]') when it starts with one, else its first non-blank line ('Assistant:')."""
    for line in text.split("\n"):
        line = line.strip()
        if line:
            m = _TOKENLIKE.match(line)
            return m.group(0) if m else line
    return None


def _dedupe(items: list[str | None]) -> list[str]:
    out: list[str] = []
    for s in items:
        if s and s not in out:
            out.append(s)
    return out


def _fallback(tok) -> TemplateShape:
    eos = getattr(tok, "eos_token", None)
    return TemplateShape(
        user_opening=FALLBACK_USER_OPENING,
        user_closing=FALLBACK_USER_CLOSING,
        assistant_end=_dedupe([eos, *FALLBACK_TURN_MARKERS]),
        system_opening=None,
        default_system_prompt=None,
        has_template=False,
        user_end=_dedupe([*FALLBACK_TURN_MARKERS, eos]),
        system_end=[],
        assistant_opening=FALLBACK_USER_CLOSING,
        next_user_opening="\n" + FALLBACK_USER_OPENING,
    )


def template_shape(lm) -> TemplateShape:
    """Measure the template of `lm` (a LoadedModel) by rendering sentinel conversations."""
    tok = lm.tokenizer
    if not lm.has_chat_template:
        return _fallback(tok)
    user_only = _render(tok, [{"role": "user", "content": USER}], True)
    if not user_only or user_only.count(USER) != 1:
        return _fallback(tok)
    user_opening, user_closing = user_only.split(USER)
    eos = getattr(tok, "eos_token", None)

    # Assistant end: what follows a finished answer (before any next turn).
    done = _render(tok, [{"role": "user", "content": USER}, {"role": "assistant", "content": ANSWER}], False)
    assistant_end: list[str | None] = [eos]
    if done and ANSWER in done:
        assistant_end.insert(0, _first_marker(done.split(ANSWER, 1)[1]))
    # The opening of a second user turn also ends an assistant turn (templates without an end marker).
    two = _render(
        tok,
        [{"role": "user", "content": USER}, {"role": "assistant", "content": ANSWER}, {"role": "user", "content": USER}],
        False,
    )
    next_user = None
    between = ""
    if two and two.count(USER) == 2 and ANSWER in two:
        between = two.split(ANSWER, 1)[1].split(USER, 1)[0]
        # Keep a leading newline: "\nHuman:" is a much safer cut point than "Human:".
        next_user = between.replace(eos, "") if eos else between
        next_user = next_user.rstrip() or None
    assistant_end.append(next_user)

    # System slot: its opening, its end marker, and any default system prompt.
    system_opening = default_system = None
    system_end: list[str] = []
    system_closing = ""
    with_system = _render(tok, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}], True)
    if with_system and with_system.count(SYSTEM) == 1 and with_system.count(USER) == 1:
        system_opening, rest = with_system.split(SYSTEM)
        system_closing = rest.split(USER)[0]  # from the end of the system content to the user's content
        system_end = _dedupe([_first_marker(system_closing), eos])
        if user_opening.startswith(system_opening) and user_opening.endswith(system_closing):
            middle = user_opening[len(system_opening) : len(user_opening) - len(system_closing)]
            default_system = middle.strip() or None
    user_end = _dedupe([_first_marker(user_closing), eos, next_user])
    return TemplateShape(
        user_opening=user_opening,
        user_closing=user_closing,
        assistant_end=_dedupe(assistant_end),
        system_opening=system_opening,
        default_system_prompt=default_system,
        has_template=True,
        user_end=user_end,
        system_end=system_end,
        assistant_opening=user_closing,
        next_user_opening=between,
        system_closing=system_closing,
    )


def cut_at(text: str, markers: list[str]) -> tuple[str, bool]:
    """Text up to the earliest marker, and whether a marker was found."""
    best = len(text)
    for m in markers:
        if m:
            i = text.find(m)
            if 0 <= i < best:
                best = i
    return text[:best], best < len(text)


def special_tokens(tok) -> list[str]:
    """Special-token strings of a tokenizer (cut points for free-running samples)."""
    specials = getattr(tok, "all_special_tokens", None) or []
    return [s for s in specials if isinstance(s, str) and s]
