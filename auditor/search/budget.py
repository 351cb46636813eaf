"""Per-stage budgets: wall-clock seconds and candidate counts, with a report.

A stage checks `expired()` between chunks of work and stops early when its
time is up; it then records `truncated: true` in the check's details, so a
cut-short search is never mistaken for a complete one. Work caps (candidates,
steps, prompts) come from the preset and make the search reproducible; the
time limit is a safety net (a cut-short stage is the only source of
run-to-run variation for a fixed seed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageBudget:
    name: str
    max_seconds: float | None = None
    start: float = field(default_factory=time.perf_counter)
    candidates: int = 0  # candidates scored by this stage
    forwards: int = 0  # sequences run through the model (approximate work)
    truncated: bool = False
    ran: bool = True
    reason: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    end: float | None = None

    def elapsed(self) -> float:
        return (self.end or time.perf_counter()) - self.start

    def expired(self) -> bool:
        if self.max_seconds is not None and self.elapsed() > self.max_seconds:
            self.truncated = True
            return True
        return False

    def remaining(self) -> float:
        if self.max_seconds is None:
            return float("inf")
        return max(0.0, self.max_seconds - self.elapsed())

    def finish(self) -> "StageBudget":
        if self.end is None:
            self.end = time.perf_counter()
        return self

    def tick(self, done: int, total: int) -> None:
        """Tell the progress display how far this stage is (a no-op without one)."""
        from .. import progress

        progress.update(self.name, done, total)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ran": self.ran,
            "time_s": round(self.elapsed(), 3),
            "candidates_tried": self.candidates,
            "forward_sequences": self.forwards,
            "max_seconds": self.max_seconds,
            "truncated": self.truncated,
        }
        if self.reason:
            out["reason"] = self.reason
        out.update(self.notes)
        return out


def skipped(name: str, reason: str) -> StageBudget:
    b = StageBudget(name, ran=False, reason=reason)
    b.finish()
    return b


def peak_memory_mb() -> float | None:
    """Peak resident memory of this process (and GPU peak when on CUDA)."""
    try:
        import resource
        import sys

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)
    except Exception:  # noqa: BLE001 — not available on every platform
        return None


# Work one chunk may hold: forward FLOPs (2 x params x tokens) and float32 logit elements
# scored (log-softmax and divergences over the vocabulary: with a big vocabulary and a small
# model these dominate). About a second or two on a busy 2-core CPU, well under one on a GPU.
# Budgets are checked between chunks, so this bounds how far a stage can run past its cap;
# it depends only on the model and device, so chunking (and the numbers it produces) is the
# same on every run.
CHUNK_FLOPS = {"cpu": 1e11, "mps": 1e12, "cuda": 1e14}
CHUNK_LOGITS = {"cpu": 8e6, "mps": 3e7, "cuda": 3e8}


def chunk_rows(lm, tokens_per_row: int, logits_per_row: int = 0, cap: int = 256, floor: int = 8) -> int:
    """How many sequences one budget-checked chunk holds: `tokens_per_row` tokens each,
    `logits_per_row` scored logit elements each (scored positions x vocabulary)."""
    dev = getattr(lm, "device", "cpu")
    per_row = 2.0 * max(1, int(getattr(lm, "n_params", 0) or 1)) * max(1, tokens_per_row)
    rows = min(cap, CHUNK_FLOPS.get(dev, CHUNK_FLOPS["cpu"]) // per_row)
    if logits_per_row:
        rows = min(rows, CHUNK_LOGITS.get(dev, CHUNK_LOGITS["cpu"]) // logits_per_row)
    return int(max(floor, rows))


def vocab_size(lm) -> int:
    """Rows of the output projection (what every scored position costs)."""
    head = lm.model.get_output_embeddings() if hasattr(lm.model, "get_output_embeddings") else None
    return int(head.weight.shape[0]) if head is not None else len(lm.tokenizer)
