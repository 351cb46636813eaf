"""Batched forward passes that share a cached prompt prefix.

Every search stage asks the same question many times: "given this prompt with
candidate X spliced in (and maybe a forced continuation after it), what are the
model's next-token distributions at the last few positions?". The candidates
for one prompt share a long common token prefix (the chat-template header and,
for suffix/inline placements, most of the user message), so that prefix is run
through the model once, its key/value cache is copied across the batch, and
only the differing *tails* are computed. Tails are left-padded inside the
batch (masked, with explicit position ids), so every row ends at the same
position and `logits_to_keep` returns only the positions that are scored: the
[batch, keep, vocab] block is all that is ever materialised, which keeps memory
bounded for 100k+ vocabularies on a GPU.
"""

from __future__ import annotations

import copy
import inspect
from typing import Callable, Sequence

import torch

# Upper bound on batch x keep x vocab float32 elements per forward (~256 MiB).
MAX_LOGIT_ELEMS = 1 << 26


def cache_kwarg(model) -> str:
    """`cache` in transformers >= 5.x, `past_key_values` before."""
    cached = getattr(model, "_auditor_cache_kwarg", None)
    if cached:
        return cached
    params = inspect.signature(model.forward).parameters
    name = "cache" if "cache" in params else "past_key_values"
    try:
        model._auditor_cache_kwarg = name
    except Exception:  # noqa: BLE001 — attribute-less wrappers
        pass
    return name


def out_cache(out):
    c = getattr(out, "cache", None)
    return c if c is not None else getattr(out, "past_key_values", None)


def encode(lm, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of rendered texts, exactly as the runtime tokenises them."""
    if not texts:
        return []
    return lm.tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def lcp_len(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of token sequences."""
    if not seqs:
        return 0
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for s in seqs[1:]:
        i = 0
        while i < n and s[i] == first[i]:
            i += 1
        n = i
        if n == 0:
            break
    return n


def device_of(lm):
    return lm.model.device if hasattr(lm.model, "device") else torch.device(lm.device)


@torch.inference_mode()
def build_prefix_cache(lm, prefix_ids: Sequence[int]):
    """Run the shared prefix once (batch 1) and return its cache."""
    if not prefix_ids:
        return None
    dev = device_of(lm)
    ids = torch.tensor([list(prefix_ids)], device=dev)
    out = lm.model(input_ids=ids, use_cache=True, logits_to_keep=1)
    return out_cache(out)


def expand_cache(cache, batch: int):
    """A private copy of a batch-1 cache repeated `batch` times."""
    if cache is None:
        return None
    c = copy.deepcopy(cache)
    if batch > 1:
        c.batch_repeat_interleave(batch)
    return c


def left_pad(tails: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(t) for t in tails)
    ids = torch.full((len(tails), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(tails), width), dtype=torch.long)
    for i, t in enumerate(tails):
        if t:
            ids[i, width - len(t) :] = torch.tensor(list(t), dtype=torch.long)
            mask[i, width - len(t) :] = 1
    return ids.to(device), mask.to(device)


def _forward_tails(lm, cache, c_len: int, tails, keep: int):
    dev = device_of(lm)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    ids, mask = left_pad(tails, pad, dev)
    b = ids.shape[0]
    pos = (mask.cumsum(-1) - 1).clamp(min=0) + c_len
    full_mask = torch.cat([torch.ones((b, c_len), dtype=mask.dtype, device=dev), mask], dim=1) if c_len else mask
    kwargs = {"input_ids": ids, "attention_mask": full_mask, "position_ids": pos, "use_cache": cache is not None}
    if cache is not None:
        kwargs[cache_kwarg(lm.model)] = expand_cache(cache, b)
    try:
        logits = lm.model(**kwargs, logits_to_keep=keep).logits
    except TypeError:  # an architecture without logits_to_keep
        logits = lm.model(**kwargs).logits
    return torch.log_softmax(logits[:, -keep:, :].float(), dim=-1)


def logit_budget(lm) -> int:
    """Float32 logit elements one chunk may hold: 64M on CPU, 256M on a GPU."""
    return MAX_LOGIT_ELEMS * (4 if lm.device == "cuda" else 1)


def auto_batch(lm, keep: int, vocab: int, requested: int | None = None) -> int:
    per_row = max(1, keep * vocab)
    cap = max(1, logit_budget(lm) // per_row)
    base = requested or (256 if lm.device == "cpu" else max(64, lm.batch_size * 2))
    return max(1, min(base, cap))


@torch.inference_mode()
def tail_logprobs(
    lm,
    prefix_ids: Sequence[int],
    tails: Sequence[Sequence[int]],
    keep: int,
    reduce: Callable[[torch.Tensor, list[int]], torch.Tensor],
    batch_size: int | None = None,
    cache=None,
) -> torch.Tensor:
    """Log-probabilities at the last `keep` positions of prefix+tail, reduced per chunk.

    `reduce(logprobs[b, keep, V], indices)` turns a chunk into a [b, ...] tensor;
    the chunks are concatenated in input order. Every tail must hold at least
    `keep` tokens (the scored positions are never inside the shared prefix).
    """
    if not tails:
        return torch.empty(0)
    if any(len(t) < keep for t in tails):
        raise ValueError("every tail must be at least `keep` tokens long")
    vocab = lm.model.get_output_embeddings().weight.shape[0] if lm.model.get_output_embeddings() is not None else 50000
    bs = auto_batch(lm, keep, vocab, batch_size)
    if cache is None and prefix_ids:
        cache = build_prefix_cache(lm, prefix_ids)
    c_len = len(prefix_ids)
    # Sort by tail length so padding stays small; restore order at the end.
    order = sorted(range(len(tails)), key=lambda i: len(tails[i]))
    results: list[torch.Tensor | None] = [None] * len(tails)
    pos = 0
    while pos < len(order):
        idx = order[pos : pos + bs]
        try:
            lp = _forward_tails(lm, cache, c_len, [tails[i] for i in idx], keep)
        except torch.OutOfMemoryError:
            if bs == 1:
                raise
            if lm.device == "cuda":
                torch.cuda.empty_cache()
            bs = max(1, bs // 2)
            continue
        red = reduce(lp, idx).detach().cpu()
        for j, i in enumerate(idx):
            results[i] = red[j]
        pos += len(idx)
    return torch.stack(results)  # type: ignore[arg-type]


def grouped_tail_logprobs(
    lm,
    seqs: Sequence[Sequence[int]],
    keep: int,
    reduce: Callable[[torch.Tensor, list[int]], torch.Tensor],
    batch_size: int | None = None,
) -> torch.Tensor:
    """`tail_logprobs` over arbitrary full sequences that share a prefix: the
    longest common prefix (short enough to leave `keep` positions) is cached."""
    if not seqs:
        return torch.empty(0)
    c = min(lcp_len(seqs), min(len(s) for s in seqs) - keep)
    c = max(0, c)
    prefix = list(seqs[0][:c])
    tails = [list(s[c:]) for s in seqs]
    return tail_logprobs(lm, prefix, tails, keep, reduce, batch_size)


def js_divergence(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (nats, in [0, ln 2]) over the last dim."""
    p, q = logp.exp(), logq.exp()
    m = 0.5 * (p + q)
    logm = torch.log(m.clamp_min(1e-30))
    kl_pm = (p * (logp - logm)).sum(-1)
    kl_qm = (q * (logq - logm)).sum(-1)
    return (0.5 * (kl_pm + kl_qm)).clamp_min(0.0)


def kl_divergence(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the last dim."""
    return (logp.exp() * (logp - logq)).sum(-1).clamp_min(0.0)


@torch.inference_mode()
def greedy_ids(lm, rendered: Sequence[str], max_new_tokens: int) -> list[list[int]]:
    """Greedy continuation token ids (EOS kept as the last id when produced)."""
    tok = lm.tokenizer
    eos = tok.eos_token_id
    out_all: list[list[int]] = []
    dev = device_of(lm)
    bs = max(1, lm.batch_size)
    for s in range(0, len(rendered), bs):
        batch = list(rendered[s : s + bs])
        enc = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(dev) for k, v in enc.items()}
        gen = lm.model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=eos
        )
        new = gen[:, enc["input_ids"].shape[1] :].tolist()
        for row in new:
            cut = []
            for t in row:
                cut.append(t)
                if t == eos:
                    break
            out_all.append(cut)
    return out_all
