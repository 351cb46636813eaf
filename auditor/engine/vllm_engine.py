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
from typing import Any

from ..errors import ModelLoadError
from .base import GenerationEngine, Sampling


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


class VLLMEngine(GenerationEngine):
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

    def _generate(self, prompts: list[str], max_new_tokens: int, sampling: Sampling, batch_size: int | None) -> list[str]:
        from vllm import SamplingParams  # batch_size is ignored: vLLM schedules its own batches

        greedy = sampling.greedy
        params = SamplingParams(
            temperature=sampling.temperature,
            top_p=1.0 if greedy else sampling.top_p,
            top_k=sampling.top_k if not greedy and sampling.top_k > 0 else -1,
            seed=None if greedy else sampling.seed,
            max_tokens=max_new_tokens,
            skip_special_tokens=sampling.skip_special_tokens,
        )
        ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        outs = self.llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
        return [o.outputs[0].text.strip() if sampling.strip else o.outputs[0].text for o in outs]
