"""Length-sorted batches with an out-of-memory back-off: the one batching loop
behind generation, scoring and activations, so a tiny CPU model and a large GPU
model run the same code with bounded memory."""

from __future__ import annotations

from typing import Callable, Sequence

import torch


def run_batched(items: Sequence, fn: Callable[[list], list], batch_size: int, device: str, key=len) -> list:
    """fn over batches of items sorted by `key` (short first, little padding); results in input order.

    On out-of-memory the batch size halves and the failed batch is retried; a
    single item that does not fit re-raises.
    """
    if not items:
        return []
    order = sorted(range(len(items)), key=lambda i: key(items[i]))
    out: list = [None] * len(items)
    bs = max(1, int(batch_size))
    pos = 0
    while pos < len(order):
        idx = order[pos : pos + bs]
        try:
            results = fn([items[i] for i in idx])
        except torch.OutOfMemoryError:
            if bs == 1:
                raise
            if device == "cuda":
                torch.cuda.empty_cache()
            bs = max(1, bs // 2)
            continue
        for i, r in zip(idx, results):
            out[i] = r
        pos += len(idx)
    return out
