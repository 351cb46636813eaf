"""Generation with vLLM (optional extra `auditor[vllm]`): paged attention and
continuous batching make the thousands of probe generations of a large model on
GPUs much cheaper. Imported lazily; never trusts remote code.

Prompts are tokenised by auditor's own tokenizer (no special tokens added, as on
the transformers path) and passed as token ids, so both engines see exactly the
same input and greedy outputs agree.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from pathlib import Path
from typing import Any, Sequence

from ..errors import ModelLoadError
from .base import check_sampling


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


class VLLMEngine:
    name = "vllm"

    def __init__(
        self,
        path: str | Path,
        tokenizer: Any,
        *,
        tensor_parallel: int = 1,
        seed: int = 0,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.5,
        enforce_eager: bool = False,
    ):
        if not vllm_available():
            raise ModelLoadError("--engine vllm needs vLLM: pip install 'auditor[vllm]'")
        from vllm import LLM

        self.tokenizer = tokenizer
        self.settings = {
            "tensor_parallel_size": int(tensor_parallel),
            "dtype": dtype,
            "seed": int(seed),
            # The transformers copy of the model stays loaded for white-box checks,
            # so vLLM must not claim the whole GPU for its KV cache.
            "gpu_memory_utilization": float(gpu_memory_utilization),
            "enforce_eager": bool(enforce_eager),
        }
        try:
            self.llm = LLM(model=str(path), tokenizer=str(path), trust_remote_code=False, **self.settings)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many types; report one line
            raise ModelLoadError(f"vLLM cannot load the model: {type(exc).__name__}: {exc}", path=str(path)) from None

    def info(self) -> dict:
        return {"name": self.name, "version": md.version("vllm"), **self.settings}

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
        batch_size: int | None = None,  # vLLM schedules its own batches
    ) -> list[str]:
        from vllm import SamplingParams

        check_sampling(temperature, top_p, top_k)
        if not prompts:
            return []
        params = SamplingParams(
            temperature=float(temperature),
            top_p=float(top_p) if temperature > 0 else 1.0,
            top_k=int(top_k) if temperature > 0 and top_k > 0 else -1,
            seed=int(seed) if temperature > 0 else None,
            max_tokens=int(max_new_tokens),
            skip_special_tokens=skip_special_tokens,
        )
        ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        outs = self.llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
        return [o.outputs[0].text.strip() for o in outs]
