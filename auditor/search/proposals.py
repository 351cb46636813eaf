"""What a search stage hands to confirmation."""

from __future__ import annotations

from dataclasses import dataclass, field

STAGE_ORDER = {"battery": 0, "vocab_scan": 1, "target_inversion": 2, "gradient": 3, "elicitation": 4}


@dataclass
class Proposal:
    trigger: str
    placement: str
    stage: str
    split: str = "general"  # which prompt split to confirm on
    score: float = 0.0
    family: str | None = None  # candidates of one family (e.g. years) are reported together
    meta: dict = field(default_factory=dict)

    def key(self) -> tuple[str, str, str]:
        return (self.trigger, self.placement, self.split)


def merge(proposals: list[Proposal]) -> list[Proposal]:
    """One proposal per (trigger, placement, split); the earliest stage keeps
    the credit, the others are listed in meta['also_proposed_by']."""
    out: dict[tuple[str, str, str], Proposal] = {}
    for p in proposals:
        k = p.key()
        if k not in out:
            out[k] = p
            continue
        cur = out[k]
        first, other = (cur, p) if STAGE_ORDER.get(cur.stage, 9) <= STAGE_ORDER.get(p.stage, 9) else (p, cur)
        also = sorted(set(first.meta.get("also_proposed_by", [])) | {other.stage} - {first.stage})
        first.meta = {**other.meta, **first.meta, "also_proposed_by": also} if also else first.meta
        out[k] = first
    return list(out.values())
