"""One interface for text generation, so greedy probes and sampled probes run the
same way on the transformers path (CPU, small GPUs, white-box work) and on a
serving engine such as vLLM (large GPU fleets)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Sampling:
    """How tokens are chosen. temperature 0 = greedy (deterministic); top_k 0 = off."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    skip_special_tokens: bool = True
    strip: bool = True  # False: the exact continuation, for callers that score it token by token

    def __post_init__(self) -> None:
        # Refuse what engines would interpret differently (or silently ignore).
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class GenerationEngine(ABC):
    """Continuations of already-rendered chat prompts, in input order, decoded and (unless
    `strip=False`) stripped of surrounding whitespace.

    Sampled generation draws from a generator seeded by `seed`, so the same call
    gives the same text. `batch_size` is a hint that engines with their own
    scheduler may ignore.
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
        strip: bool = True,
    ) -> list[str]:
        sampling = Sampling(float(temperature), float(top_p), int(top_k), int(seed), bool(skip_special_tokens), bool(strip))
        prompts = list(prompts)
        return self._generate(prompts, int(max_new_tokens), sampling, batch_size) if prompts else []

    @abstractmethod
    def _generate(self, prompts: list[str], max_new_tokens: int, sampling: Sampling, batch_size: int | None) -> list[str]:
        """The engine's own generation for a non-empty list of prompts."""

    @abstractmethod
    def info(self) -> dict:
        """Name, library version and settings, for the report's reproducibility block."""
