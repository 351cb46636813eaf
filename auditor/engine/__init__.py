"""Generation engines behind one interface (`GenerationEngine`).

`transformers` is the default and always available; `vllm` is an optional extra
for CUDA machines. `auto` picks vLLM when CUDA is present and vLLM is installed.
"""

from __future__ import annotations

from ..errors import ModelLoadError
from .base import GenerationEngine
from .hf import TransformersEngine
from .vllm_engine import VLLMEngine, vllm_available

ENGINES = ("auto", "transformers", "vllm")


def resolve_engine_name(requested: str, device: str) -> str:
    """The engine a request means on this machine (`device` is where the model was placed)."""
    if requested not in ENGINES:
        raise ModelLoadError(f"unknown engine {requested!r}; choose from {', '.join(ENGINES)}")
    if requested == "auto":
        return "vllm" if device == "cuda" and vllm_available() else "transformers"
    if requested == "vllm" and device != "cuda":
        raise ModelLoadError(f"--engine vllm needs a CUDA device, but the model is placed on {device}")
    return requested


__all__ = [
    "ENGINES", "GenerationEngine", "TransformersEngine", "VLLMEngine",
    "resolve_engine_name", "vllm_available",
]
