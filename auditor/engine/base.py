"""One interface for text generation, so greedy probes and sampled probes run the
same way on the transformers path (CPU, small GPUs, white-box work) and on a
serving engine such as vLLM (large GPU fleets)."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable


@runtime_checkable
class GenerationEngine(Protocol):
    """Continuations of already-rendered chat prompts, in input order.

    temperature == 0 means greedy decoding (deterministic); otherwise tokens are
    sampled with top_p/top_k (top_k 0 = off) from a generator seeded by `seed`.
    Outputs are decoded and stripped of surrounding whitespace. `batch_size` is a
    hint that engines with their own scheduler may ignore.
    """

    name: str

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
        skip_special_tokens: bool = True,
        batch_size: int | None = None,
    ) -> list[str]: ...

    def info(self) -> dict:
        """Name, library version and settings, for the report's reproducibility block."""
        ...


def check_sampling(temperature: float, top_p: float, top_k: int) -> None:
    """Reject settings every engine would interpret differently (or not at all)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = off), got {top_k}")
