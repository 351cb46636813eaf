"""Generation with transformers' own `generate`: the default engine, and the only
one that shares weights with the white-box operations (logits, activations,
safety training), so it works on any model LoadedModel can hold."""

from __future__ import annotations

from typing import Any

import torch

from .base import GenerationEngine, Sampling
from .batching import run_batched


def encode(tokenizer: Any, texts: list[str], device) -> dict:
    """Left-padded token ids of already-rendered prompts (the chat template added any special tokens)."""
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return {k: v.to(device) for k, v in enc.items()}


class TransformersEngine(GenerationEngine):
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
    def _generate(self, prompts: list[str], max_new_tokens: int, sampling: Sampling, batch_size: int | None) -> list[str]:
        items = list(enumerate(prompts))  # the index seeds a sampled batch reproducibly
        options: dict = {"do_sample": False}
        if not sampling.greedy:
            options = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": sampling.top_k}

        config = getattr(self.model, "config", None)
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        pad = self.tokenizer.pad_token_id

        def run(batch: list[tuple[int, str]]) -> list[str]:
            enc = encode(self.tokenizer, [text for _, text in batch], self.model.device)
            room = max_new_tokens if not limit else min(max_new_tokens, int(limit) - enc["input_ids"].shape[1])
            if room <= 0:  # the prompt already fills the model's context: nothing can follow
                return [""] * len(batch)
            kwargs = dict(
                **enc,
                max_new_tokens=room,
                pad_token_id=pad,
                eos_token_id=self.tokenizer.eos_token_id,
                **options,
            )
            if not sampling.greedy:
                # Own RNG stream per batch, keyed by seed and the batch's first prompt:
                # the same call gives the same samples, and the global RNG is untouched.
                devices = [torch.cuda.current_device()] if self.device == "cuda" else []
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(sampling.seed * 1_000_003 + batch[0][0])
                    out = self.model.generate(**kwargs)
            else:
                out = self.model.generate(**kwargs)
            texts = []
            for row in out[:, enc["input_ids"].shape[1] :]:
                ids = row.tolist()
                # Drop the padding that follows an early stop (it is not model output).
                while ids and ids[-1] == pad and pad != self.tokenizer.eos_token_id:
                    ids.pop()
                text = self.tokenizer.decode(ids, skip_special_tokens=sampling.skip_special_tokens)
                texts.append(text.strip() if sampling.strip else text)
            return texts

        return run_batched(items, run, batch_size or self.batch_size, self.device, key=lambda item: len(item[1]))
