"""What safety training costs: measured memory and time, and a formula to plan with.

Measured: `MemoryMeter` gives the peak memory during a phase — on CUDA the
allocator's peak (`torch.cuda.max_memory_allocated`), on CPU the peak resident
set size of the process (Linux `VmHWM`, reset at the start of the phase via
`/proc/self/clear_refs` where the kernel allows it, else sampled `VmRSS`).

Estimated: `estimate()` turns a parameter count into the memory and time one
training step needs, from the usual accounting (weights + gradients + AdamW
state for full fine-tuning; frozen weights + small adapters for LoRA; training
FLOPs ~= 6 x params x tokens) and a throughput constant. The CPU constant is
fitted from `benchmarks/bench_persistence.py` (see docs/persistence.md); pass
your own `flops_per_s` for other hardware.
"""

from __future__ import annotations

import os

import torch

# Effective training throughput (FLOP/s = 6 x params x tokens / seconds) measured by
# benchmarks/bench_persistence.py on this project's reference machine (2 shared CPU cores,
# fp32, one thread): 1-2e10 for 1-11M-parameter GPT-2s, 3.9-4.3e10 at 26-51M (small matrices
# use the cores poorly); see docs/persistence.md.
CPU_FLOPS_PER_S = 3.0e10
# A conservative effective figure for a modern datacentre GPU in bf16 (about 30% MFU of ~1 PFLOP/s).
GPU_FLOPS_PER_S = 3.0e14


def _proc_status(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1]) / 1024.0  # kB -> MiB
    except OSError:
        return None
    return None


class MemoryMeter:
    """Peak memory over a phase: `start()`, `sample()` now and then, `peak_mb()`."""

    def __init__(self, device: str):
        self.device = device
        self.kind = "cuda_max_allocated" if device == "cuda" else "process_peak_rss"
        self._peak = 0.0
        self._hwm_reset = False

    def start(self) -> None:
        if self.device == "cuda" and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
            return
        try:  # "5" resets the peak RSS (VmHWM) of this process (Linux >= 4.0)
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
            self._hwm_reset = True
        except OSError:
            self._hwm_reset = False
            self.kind = "process_rss_sampled"
        self.sample()

    def sample(self) -> None:
        if self.device == "cuda":
            return
        rss = _proc_status("VmRSS")
        if rss is not None:
            self._peak = max(self._peak, rss)

    def peak_mb(self) -> tuple[float | None, str]:
        if self.device == "cuda" and torch.cuda.is_available():
            return round(torch.cuda.max_memory_allocated() / 2**20, 1), self.kind
        if self._hwm_reset:
            hwm = _proc_status("VmHWM")
            if hwm is not None:
                return round(max(hwm, self._peak), 1), self.kind
        return (round(self._peak, 1) if self._peak else None), self.kind


def estimate(
    n_params: float,
    *,
    tokens_per_step: float,
    lora: bool = False,
    lora_fraction: float = 0.005,
    weight_bytes: int = 4,
    device: str = "cpu",
    flops_per_s: float | None = None,
) -> dict:
    """Memory (GiB, excluding activations) and seconds per training step for a model of `n_params`.

    Full fine-tuning: fp32 weights 4 B + grads 4 B + AdamW 8 B = 16 B/param, plus the
    untouched original (weight_bytes/param) kept for the other checks.
    LoRA: the frozen copy (weight_bytes/param) + adapters (`lora_fraction` of params at 16 B)
    + the original. Time: 6 x params x tokens FLOPs (LoRA still runs the full backward
    through activations: ~4 x params x tokens) over the throughput.
    """
    fps = flops_per_s or (GPU_FLOPS_PER_S if device == "cuda" else CPU_FLOPS_PER_S)
    if lora:
        mem = n_params * weight_bytes * 2 + n_params * lora_fraction * 16
        flops = 4 * n_params * tokens_per_step
    else:
        mem = n_params * 16 + n_params * weight_bytes
        flops = 6 * n_params * tokens_per_step
    return {
        "n_params": int(n_params),
        "memory_gib": round(mem / 2**30, 3),
        "seconds_per_step": round(flops / fps, 4),
        "flops_per_step": float(f"{flops:.3g}"),
        "assumed_flops_per_s": fps,
    }


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        return os.cpu_count() or 1
