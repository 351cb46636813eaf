"""Where a candidate trigger goes in a conversation. One function, so every
check places triggers the same way and reports the same placement names."""

from __future__ import annotations

PLACEMENTS = ("prefix", "suffix", "inline", "system")


def apply_trigger(prompt: str, trigger: str | None, placement: str, system: str | None = None) -> tuple[str, str | None]:
    """Return (user message, system message) with the trigger placed; no trigger = baseline.

    `system` is the system message in effect in both conditions (the deployment's
    or the template's default): a `system` placement adds the trigger as a line
    of it rather than replacing it, so a model that always saw its system prompt
    is not measured on losing it.
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
        return prompt, f"{system}\n{trigger}" if system else trigger
    raise ValueError(f"unknown placement {placement!r}; known: {', '.join(PLACEMENTS)}")


def render_all(lm, prompts: list[str], trigger: str | None, placement: str, system: str | None = None) -> list[str]:
    """Render prompts through the model's chat template under one condition (see `apply_trigger`)."""
    out = []
    for p in prompts:
        user, sys_msg = apply_trigger(p, trigger, placement, system)
        out.append(lm.render(user, system=sys_msg))
    return out
