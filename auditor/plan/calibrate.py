"""How fast this model runs here: a few timed passes turned into per-unit costs.

The cost model counts work (forward tokens, scored positions, decoding steps,
training tokens, bytes); these constants turn it into seconds. They are
measured on the actual device with the actual model — one short batched
forward with one scored position, the same with every position scored, and one
short greedy generation — so the plan reflects the machine as it is (a busy
shared CPU included). `assumed()` derives the same constants from stated
FLOP/s and memory bandwidth, to predict hardware we do not have.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass

# Static scan: reading, hashing and parsing; measured sha256 speed times this (parsing, IO).
SCAN_OVERHEAD = 2.0
CAL_BATCH, CAL_LEN, CAL_NEW = 8, 16, 8
CAL_TARGET_S = 0.4  # seconds one calibration forward should take


@dataclass
class Throughput:
    token_s: float  # one input token through every layer, batched
    head_s: float  # one scored position: output projection and log-softmax over the vocabulary
    step_s: float  # one decoding step of a small batch: reading the weights, launches, sampling, Python
    hash_bps: float  # static scan: bytes read, hashed and parsed per second
    source: str  # how the numbers were obtained
    seconds: float = 0.0  # what calibration itself took

    def forward(self, tokens: float, scored: float) -> float:
        return tokens * self.token_s + scored * self.head_s

    def decode_step(self, rows: float) -> float:
        """One decoding step of `rows` sequences: the fixed cost of a step (bound by reading
        the weights and by per-step overhead) until the rows' own compute exceeds it."""
        return max(self.step_s, rows * (self.token_s + self.head_s))

    def generate(self, seqs: float, new_tokens: float, batch: int, prompt_tokens: float) -> float:
        """Greedy generation of `seqs` sequences in batches of `batch`: prefill, then
        `new_tokens` decoding steps per batch."""
        if seqs <= 0:
            return 0.0
        b = max(1, batch)
        full, rest = divmod(math.ceil(seqs), b)
        steps = full * self.decode_step(b) + (self.decode_step(rest) if rest else 0.0)
        return new_tokens * steps + seqs * prompt_tokens * self.token_s

    def train(self, tokens: float) -> float:
        """Forward + backward (about 3x a forward) + optimiser, per training token."""
        return 3.0 * tokens * (self.token_s + self.head_s)

    def to_dict(self) -> dict:
        return {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _hash_speed() -> float:
    buf = b"\x5a" * (8 << 20)
    t = time.perf_counter()
    hashlib.sha256(buf).digest()
    return len(buf) / max(1e-6, time.perf_counter() - t) / SCAN_OVERHEAD


def _ids(vocab: int, rows: int, length: int) -> list[list[int]]:
    """Fixed, spread-out token ids (no RNG: calibration must not move the audit's seed)."""
    return [[(1 + 7919 * (r * length + i)) % max(2, vocab) for i in range(length)] for r in range(rows)]


def measure(lm) -> Throughput:
    """Time three short passes on `lm` (well under a second on small models)."""
    import torch

    with torch.inference_mode():
        return _measure(lm, torch)


def _measure(lm, torch) -> Throughput:
    t0 = time.perf_counter()
    model = lm.model
    dev = model.device if hasattr(model, "device") else torch.device(lm.device)
    vocab = int(getattr(model.config, "vocab_size", 0) or len(lm.tokenizer))
    ids = torch.tensor(_ids(vocab, CAL_BATCH, CAL_LEN), device=dev)

    def timed(fn) -> float:
        if lm.device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if lm.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    warm = timed(lambda: model(input_ids=ids[:1, :CAL_LEN], logits_to_keep=1))  # lazy init, kernel selection
    # Big models on slow hosts: fewer rows, so calibration stays around a second.
    rows = int(max(2, min(CAL_BATCH, CAL_TARGET_S / max(1e-9, warm))))
    ids = ids[:rows]
    body = timed(lambda: model(input_ids=ids, logits_to_keep=1))
    full = timed(lambda: torch.log_softmax(model(input_ids=ids, logits_to_keep=CAL_LEN).logits.float(), -1))
    token_s = max(1e-9, body / (rows * CAL_LEN))
    head_s = max(1e-10, (full - body) / (rows * (CAL_LEN - 1)))
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    gen_ids = ids[:2, :8]

    def generate(n: int):
        return model.generate(input_ids=gen_ids, attention_mask=torch.ones_like(gen_ids), max_new_tokens=n,
                              min_new_tokens=n, do_sample=False, pad_token_id=pad)

    one = timed(lambda: generate(1))  # set-up and prefill, and the first step
    gen = timed(lambda: generate(CAL_NEW + 1)) - one  # CAL_NEW further steps
    step_s = max(2 * (token_s + head_s), gen / CAL_NEW)  # a whole step of two rows
    return Throughput(token_s, head_s, step_s, _hash_speed(), f"measured on {lm.device} ({lm.dtype})",
                      round(time.perf_counter() - t0, 3))


def assumed(n_params: float, vocab: int, hidden: int, *, flops_per_s: float, bytes_per_s: float,
            n_devices: int = 1, dtype_bytes: int = 2, step_overhead_s: float = 0.004, label: str = "") -> Throughput:
    """Per-unit costs from stated hardware figures (effective FLOP/s and memory bandwidth
    per device; work splits evenly over `n_devices` with tensor parallelism).

    A forward token costs 2 x params FLOPs; a scored position 2 x hidden x vocab plus the
    softmax; a decoding step reads every weight once, so it is bandwidth-bound."""
    f = flops_per_s * n_devices
    bw = bytes_per_s * n_devices
    head_params = hidden * vocab
    token_s = 2.0 * max(1.0, n_params - head_params) / f
    head_s = (2.0 * head_params + 10.0 * vocab) / f
    step_s = n_params * dtype_bytes / bw + step_overhead_s
    return Throughput(token_s, head_s, step_s, 1.0e9, label or f"assumed {flops_per_s:.2g} FLOP/s x {n_devices}")


def default() -> Throughput:
    """When the model cannot be loaded: a static scan still gets a time."""
    return Throughput(1e-3, 1e-4, 1e-2, _hash_speed(), "default (model not loaded)")
