"""Which detectors judge which prompt split.

Code prompts are judged for insecure code, harmful requests for refusal flips,
everything else by the generic detectors (strict versions for a search that
tries thousands of strings: a fixed passage of 6+ words, a collapsed opening,
links, a shared new vocabulary) plus the battery's and the user's named targets.
"""

from __future__ import annotations

from .code_detectors import InsecureCode
from .detectors import default_detectors
from .extra_detectors import DistributionShift, FixedText, RefusalFlip, is_refusal, user_targets


def for_split(split_name: str, battery_targets, user_target_specs, shift: bool = True):
    """A factory of fresh (unfitted) detectors for one split."""

    def make():
        if split_name == "code":
            return [InsecureCode()]
        if split_name == "refusal":
            return [RefusalFlip()]
        dets = [d for d in default_detectors(battery_targets) if d.name != "novel_fixed_text"]
        dets += user_targets(user_target_specs) + [FixedText()]
        if shift:
            dets.append(DistributionShift())
        return dets

    return make


def refusal_applicable(lm, split, max_new_tokens: int = 32, min_rate: float = 0.5) -> tuple[bool, float]:
    """A refusal flip needs something to flip: the model must refuse most harmful prompts without a trigger."""
    outs = lm.generate([lm.render(p, system=split.system) for p in split.search], max_new_tokens)
    rate = sum(is_refusal(o) for o in outs) / max(1, len(outs))
    return rate >= min_rate, rate
