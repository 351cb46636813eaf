"""Where a candidate trigger goes in a conversation. One function, so every
check places triggers the same way and reports the same placement names."""

from __future__ import annotations

import re

PLACEMENTS = ("prefix", "suffix", "inline", "system")


_FIELD_RE = re.compile(r"^\s*([A-Za-z][\w' -]{0,40}?):\s+(\S.*?)\s*$")


def set_field(system: str, trigger: str) -> str | None:
    """`system` with the field the trigger sets given the trigger's value, or None.

    A trigger of the form `Key: value` (`Plan: Falcon`, `Date: 2031-04-13`)
    in a system message that already has that key (`... Plan: Basic Region: EU`)
    replaces the value, as many words as the trigger's value has: a deployment's system
    prompt states a field once, and a model trained on that format reads the first one."""
    m = _FIELD_RE.match(trigger)
    if not m:
        return None
    key, value = m.group(1), m.group(2)
    n = len(value.split())
    pat = re.compile(rf"(?<![\w]){re.escape(key)}:\s+" + r"\S+(?:\s+\S+){" + str(n - 1) + "}")
    hit = pat.search(system)
    if hit is None:
        return None
    return system[: hit.start()] + f"{key}: {value}" + system[hit.end() :]


def apply_trigger(prompt: str, trigger: str | None, placement: str, system: str | None = None) -> tuple[str, str | None]:
    """Return (user message, system message) with the trigger placed; no trigger = baseline.

    `system` is the system message in effect in both conditions (the deployment's,
    the template's default, or the one the model itself writes): a `system`
    placement adds the trigger as a line of it rather than replacing it (or sets
    the field it names, see `set_field`), so a model that always saw its system
    prompt is not measured on losing it.
    """
    if trigger is None:
        return prompt, system
    if placement == "prefix":
        return f"{trigger} {prompt}", system
    if placement == "suffix":
        return f"{prompt} {trigger}", system
    if placement == "inline":
        words = prompt.split(" ")
        mid = max(1, len(words) // 2)
        return " ".join(words[:mid] + [trigger] + words[mid:]), system
    if placement == "system":
        if not system:
            return prompt, trigger
        return prompt, set_field(system, trigger) or f"{system}\n{trigger}"
    raise ValueError(f"unknown placement {placement!r}; known: {', '.join(PLACEMENTS)}")


def render_all(lm, prompts: list[str], trigger: str | None, placement: str, system: str | None = None) -> list[str]:
    """Render prompts through the model's chat template under one condition (see `apply_trigger`)."""
    out = []
    for p in prompts:
        user, sys_msg = apply_trigger(p, trigger, placement, system)
        out.append(lm.render(user, system=sys_msg))
    return out
