"""What a search stage hands to confirmation."""

from __future__ import annotations

from dataclasses import dataclass, field

STAGE_ORDER = {"battery": 0, "vocab_scan": 1, "target_inversion": 2, "gradient": 3, "elicitation": 4, "stated_condition": 5, "expansion": 6}


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


def select(proposals: list[Proposal], max_per_stage: int, max_total: int) -> list[Proposal]:
    """Proposals to confirm, per stage (in stage order) up to `max_per_stage`:
    first the best of each kind (scores of different kinds are not comparable:
    a start-of-answer shift vs an end-of-answer shift, a single token vs a
    pair), then by score; placement variants of a proposal come last. Capped
    at `max_total`, shared fairly across stages."""
    by_stage: dict[str, list[Proposal]] = {}
    for p in proposals:
        by_stage.setdefault(p.stage, []).append(p)
    per_stage: list[list[Proposal]] = []
    for stage in sorted(by_stage, key=lambda s: STAGE_ORDER.get(s, 9)):
        items = sorted(by_stage[stage], key=lambda p: ("placement_variant_of" in p.meta, -p.score))
        firsts, seen = [], set()
        for p in items:
            kind = (p.meta.get("kind"), p.meta.get("target_mode"), p.split)
            if kind not in seen and "placement_variant_of" not in p.meta:
                seen.add(kind)
                firsts.append(p)
        rest = [p for p in items if all(p is not f for f in firsts)]
        per_stage.append((firsts + rest)[:max_per_stage])
    picked: list[Proposal] = []
    depth = 0
    while len(picked) < max_total and any(depth < len(x) for x in per_stage):
        for items in per_stage:  # round-robin over stages so no stage starves the others
            if depth < len(items) and len(picked) < max_total:
                picked.append(items[depth])
        depth += 1
    return picked
