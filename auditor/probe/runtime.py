"""A loaded model with the few batched operations the checks need.

Every operation takes a list and works in batches (sorted by length so padding
stays small), halving the batch on out-of-memory, so the same code serves a
tiny CPU model and a large GPU model. Text generation goes through a
`GenerationEngine` (transformers by default, vLLM on request); the white-box
operations (logits, log-probabilities, activations) always use `model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..engine import GenerationEngine, TransformersEngine
from ..engine.batching import run_batched
from ..engine.hf import encode


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: str
    dtype: str
    n_params: int
    architecture: str
    path: Path
    batch_size: int = 32
    _info: dict = field(default_factory=dict)
    # Not an init field: dataclasses.replace(lm, model=copy) (safety training) gets a
    # fresh transformers engine on the copy, never a server holding the original weights.
    engine: GenerationEngine = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        tok = self.tokenizer
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
        if self.device == "cuda":
            # Bigger batches pay off on GPUs; the OOM back-off keeps memory bounded.
            self.batch_size = 128
        elif self.n_params < 50_000_000:
            self.batch_size = 64  # small models: per-step Python overhead dominates on CPU
        else:
            self.batch_size = 8
        self.engine = TransformersEngine(self.model, tok, self.device, self.batch_size)

    def use_engine(self, engine: GenerationEngine) -> None:
        """Serve generation from `engine` (e.g. vLLM); white-box operations keep using `model`."""
        self.engine = engine

    # ---- prompts -----------------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, user: str, system: str | None = None, assistant_prefix: str = "") -> str:
        """The model's own chat format for one user turn, ready for generation."""
        messages = []
        if system is not None:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": user})
        if self.has_chat_template:
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            sys_line = f"{system}\n" if system else ""
            text = f"{sys_line}Human: {user}\nAssistant:"
        return text + assistant_prefix

    def info(self) -> dict:
        return {
            "architecture": self.architecture,
            "n_params": self.n_params,
            "device": self.device,
            "dtype": self.dtype,
            "chat_template": self.has_chat_template,
            "engine": self.engine.name,
        }

    # ---- batching ----------------------------------------------------------------
    def _batched(self, items: Sequence[str], fn: Callable[[list[str]], list], batch_size: int | None = None) -> list:
        """Run fn over length-sorted batches; restore the input order."""
        return run_batched(list(items), fn, batch_size or self.batch_size, self.device)

    def _encode(self, texts: list[str]):
        return encode(self.tokenizer, texts, self.model.device)

    @staticmethod
    def positions(attention_mask: torch.Tensor) -> torch.Tensor:
        """Position ids that ignore left padding, so a prompt scores the same alone or in a batch."""
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=self.positions(attention_mask))

    # ---- operations ---------------------------------------------------------------
    def generate(self, prompts: Sequence[str], max_new_tokens: int = 32, batch_size: int | None = None) -> list[str]:
        """Greedy continuations (deterministic), decoded without special tokens."""
        return self.engine.generate(list(prompts), max_new_tokens, batch_size=batch_size or self.batch_size)

    def sample(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 64,
        *,
        temperature: float = 1.0,
        top_p: float = 0.95,
        top_k: int = 0,
        seed: int = 0,
        skip_special_tokens: bool = False,
        batch_size: int | None = None,
    ) -> list[str]:
        """Sampled continuations through the generation engine, reproducible under `seed`
        (each batch draws from its own stream; the global torch state is untouched); greedy
        when temperature == 0. Unstripped, special tokens kept by default: a caller can cut a
        continuation at the template's end-of-turn marker and score it exactly."""
        return self.engine.generate(
            list(prompts), max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k, seed=seed,
            skip_special_tokens=skip_special_tokens, batch_size=batch_size or self.batch_size, strip=False,
        )

    @torch.inference_mode()
    def next_token_logprobs(self, prompts: Sequence[str], batch_size: int | None = None) -> torch.Tensor:
        """Log-probabilities of the next token after each prompt: [N, vocab] on CPU (float32)."""

        def run(batch: list[str]) -> list[torch.Tensor]:
            enc = self._encode(batch)
            logits = self._forward(enc["input_ids"], enc["attention_mask"]).logits[:, -1, :].float()
            return list(torch.log_softmax(logits, dim=-1).cpu())

        rows = self._batched(list(prompts), run, batch_size)
        return torch.stack(rows) if rows else torch.empty(0)

    @torch.inference_mode()
    def continuation_logprob(
        self, prompts: Sequence[str], continuations: Sequence[str], batch_size: int | None = None
    ) -> list[float]:
        """Mean per-token log-probability of each continuation given its prompt (the
        prompt's oldest tokens are dropped where the pair would overflow the context)."""
        tok = self.tokenizer
        pairs = [f"{p}\x00{c}" for p, c in zip(prompts, continuations)]
        config = getattr(self.model, "config", None)
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)

        def run(batch: list[str]) -> list[float]:
            ids, masks = [], []
            for item in batch:
                p, c = item.split("\x00", 1)
                p_ids = tok(p, add_special_tokens=False)["input_ids"]
                c_ids = tok(c, add_special_tokens=False)["input_ids"]
                row, mask = p_ids + c_ids, [0] * len(p_ids) + [1] * len(c_ids)
                if limit and len(row) > int(limit):
                    row, mask = row[-int(limit):], mask[-int(limit):]
                ids.append(row)
                masks.append(mask)
            width = max(len(x) for x in ids)
            pad = tok.pad_token_id
            input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=self.model.device)
            attn = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=self.model.device)
            tgt = torch.tensor([[0] * (width - len(m)) + m for m in masks], device=self.model.device)
            logp = torch.log_softmax(self._forward(input_ids, attn).logits.float(), dim=-1)
            tok_lp = logp[:, :-1, :].gather(-1, input_ids[:, 1:, None]).squeeze(-1)
            m = tgt[:, 1:].float()
            return ((tok_lp * m).sum(-1) / m.sum(-1).clamp(min=1)).cpu().tolist()

        return self._batched(pairs, run, batch_size)
