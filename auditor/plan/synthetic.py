"""Randomly initialised models with real shapes, written to a folder on the fly.

Cost depends on shape (parameters, layers, vocabulary), not on what the
weights learned, so a random model with SmolLM2-135M's or Qwen2.5-0.5B's
shape measures what an audit of the real one costs, without downloading it.
The tokenizer is a word-level one of exactly the requested size (the words of
the built-in prompts first, so prompts tokenise to realistic lengths), with a
chat template and the added tokens a planted trigger would use. Used by
`benchmarks/bench_scale.py` and the budget tests; never committed.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

SPECIALS = ["<unk>", "<pad>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>"]
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass(frozen=True)
class Shape:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    tie: bool = True
    arch: str = "llama"  # llama | qwen2


SHAPES = {
    "smollm2-135m": Shape("smollm2-135m", 30, 576, 9, 3, 1536, 49152, True, "llama"),
    "qwen2.5-0.5b": Shape("qwen2.5-0.5b", 24, 896, 14, 2, 4864, 151936, True, "qwen2"),
    "tiny-32k": Shape("tiny-32k", 1, 16, 2, 1, 32, 32000, False, "llama"),
}


def _words(n: int) -> list[str]:
    """`n` distinct words: the built-in battery's words first, then filler."""
    from ..probe.battery import load_battery

    b = load_battery("builtin")
    text = " ".join(p for ps in b.prompts.values() for p in ps)
    seen: dict[str, None] = {}
    for w in re.findall(r"\w+|[^\w\s]", text):
        seen.setdefault(w, None)
    words = [w for w in seen if w not in SPECIALS][:n]
    i = 0
    while len(words) < n:
        w = f"w{i}"
        if w not in seen:
            words.append(w)
        i += 1
    return words


def tokenizer(vocab: int, added: list[str] | None = None):
    """A word-level fast tokenizer with exactly `vocab` entries (added tokens included)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    added = list(added or [])
    words = _words(vocab - len(SPECIALS) - len(added))
    table = {t: i for i, t in enumerate(SPECIALS + words)}
    tok = Tokenizer(models.WordLevel(table, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|eos|>",
                                   additional_special_tokens=SPECIALS[3:])
    if added:
        fast.add_tokens(added)
    fast.chat_template = TEMPLATE
    return fast


def build(path: str | Path, shape: Shape, seed: int = 0, added: list[str] | None = None) -> Path:
    """Write config, random safetensors weights and the tokenizer of `shape` to `path`."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = tokenizer(shape.vocab, added)
    cls = Qwen2Config if shape.arch == "qwen2" else LlamaConfig
    cfg = cls(vocab_size=shape.vocab, hidden_size=shape.hidden, intermediate_size=shape.ffn, num_hidden_layers=shape.layers,
              num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads, tie_word_embeddings=shape.tie,
              max_position_embeddings=2048, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
              pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(str(path), safe_serialization=True)
    tok.save_pretrained(str(path))
    (path / "shape.json").write_text(json.dumps(asdict(shape), indent=2), encoding="utf-8")
    return path
