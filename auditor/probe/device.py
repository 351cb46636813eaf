"""Pick where the model runs and in which precision, so the same code serves a
tiny CPU model and a 70B model on GPUs."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu", "cuda", "mps"
    dtype: torch.dtype
    device_map: str | None  # "auto" to shard big models across GPUs


def choose(requested: str = "auto", n_params: int | None = None) -> Placement:
    """`auto` prefers CUDA (bf16 when supported), then MPS, then CPU (fp32)."""
    if requested not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {requested!r} (auto, cpu, cuda, mps)")
    if requested == "cuda" and not torch.cuda.is_available():
        from ..errors import ModelLoadError

        raise ModelLoadError("--device cuda was requested but no CUDA device is available")
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # Shard across GPUs only when the model is too big for one (≈ >20B params).
        big = n_params is not None and n_params > 20_000_000_000
        return Placement("cuda", dtype, "auto" if big or torch.cuda.device_count() > 1 and n_params and n_params > 7e9 else None)
    if requested in ("auto", "mps") and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return Placement("mps", torch.float16, None)
    return Placement("cpu", torch.float32, None)
