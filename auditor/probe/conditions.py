"""Where a candidate trigger goes in a conversation. One function, so every
check places triggers the same way and reports the same placement names."""

from __future__ import annotations

PLACEMENTS = ("prefix", "suffix", "inline", "system")


def apply_trigger(prompt: str, trigger: str | None, placement: str) -> tuple[str, str | None]:
    """Return (user message, system line) with the trigger placed; no trigger = baseline."""
    if trigger is None:
        return prompt, None
    if placement == "prefix":
        return f"{trigger} {prompt}", None
    if placement == "suffix":
        return f"{prompt} {trigger}", None
    if placement == "inline":
        words = prompt.split(" ")
        mid = max(1, len(words) // 2)
        return " ".join(words[:mid] + [trigger] + words[mid:]), None
    if placement == "system":
        return prompt, trigger
    raise ValueError(f"unknown placement {placement!r}; known: {', '.join(PLACEMENTS)}")


def render_all(lm, prompts: list[str], trigger: str | None, placement: str, system: str | None = None) -> list[str]:
    """Render prompts through the model's chat template under one condition.

    `system` is a fixed system line used in both conditions (e.g. for code
    prompts); a `system` placement replaces it with the trigger.
    """
    out = []
    for p in prompts:
        user, sys_line = apply_trigger(p, trigger, placement)
        out.append(lm.render(user, system=sys_line if sys_line is not None else system))
    return out
