"""Generation with transformers' own `generate`: the default engine, and the only
one that shares weights with the white-box operations (logits, activations,
safety training), so it works on any model LoadedModel can hold."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .base import check_sampling
from .batching import run_batched


def encode(tokenizer: Any, texts: list[str], device) -> dict:
    """Left-padded token ids of already-rendered prompts (the chat template added any special tokens)."""
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return {k: v.to(device) for k, v in enc.items()}


class TransformersEngine:
    """Batched, length-sorted generation on a loaded transformers causal LM."""

    name = "transformers"

    def __init__(self, model: Any, tokenizer: Any, device: str, batch_size: int = 8):
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size

    def info(self) -> dict:
        import transformers

        return {"name": self.name, "version": transformers.__version__, "device": self.device}

    @torch.inference_mode()
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
    ) -> list[str]:
        check_sampling(temperature, top_p, top_k)
        items = list(enumerate(prompts))  # the index seeds a sampled batch reproducibly
        sampling: dict = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": float(temperature), "top_p": float(top_p), "top_k": int(top_k)}

        def run(batch: list[tuple[int, str]]) -> list[str]:
            enc = encode(self.tokenizer, [text for _, text in batch], self.model.device)
            kwargs = dict(
                **enc,
                max_new_tokens=max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                **sampling,
            )
            if temperature > 0:
                # Own RNG stream per batch, keyed by seed and the batch's first prompt:
                # the same call gives the same samples, and the global RNG is untouched.
                devices = [torch.cuda.current_device()] if self.device == "cuda" else []
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(seed * 1_000_003 + batch[0][0])
                    out = self.model.generate(**kwargs)
            else:
                out = self.model.generate(**kwargs)
            new = out[:, enc["input_ids"].shape[1] :]
            return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=skip_special_tokens)]

        return run_batched(items, run, batch_size or self.batch_size, self.device, key=lambda item: len(item[1]))
