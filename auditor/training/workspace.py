"""Where safety training happens: on a copy, never on the user's model.

Two ways to get a working model, both leave `ctx.lm().model` exactly as it was
and never write to the model directory:

- `memory` (default): `copy.deepcopy` of the loaded model, optionally cast to
  another dtype (fp32 for full fine-tuning of small models). Costs one extra
  copy of the weights on the model's device.
- `disk`: for models too big to hold twice. The original's weights are
  snapshotted into a private temporary directory (`tempfile.mkdtemp`, removed
  in `finally`), the method runs on the loaded model itself, and the snapshot
  is loaded back afterwards, together with `requires_grad` and train/eval mode.

`fingerprint` (a cheap digest of every parameter) lets the check prove the
original is unchanged afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import os
import shutil
import tempfile
from typing import Iterator

import torch


def fingerprint(model) -> str:
    """Digest of every parameter and buffer (exact for small models; sums for big ones)."""
    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in list(model.state_dict().items()):
            h.update(name.encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(str(t.dtype).encode())
            if not torch.is_tensor(t) or t.numel() == 0:
                continue
            if t.numel() <= 4_000_000:
                h.update(t.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
            else:  # big tensors: position-weighted sums, computed where the tensor lives
                x = t.detach().reshape(-1).double()
                w = torch.arange(1, x.numel() + 1, device=x.device, dtype=torch.float64) % 9973
                h.update(f"{x.sum().item():.17g}|{(x * w).sum().item():.17g}|{x.abs().max().item():.17g}".encode())
    return h.hexdigest()


def free_memory(device: str) -> None:
    gc.collect()
    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def working_copy(model, *, mode: str = "memory", dtype: torch.dtype | None = None) -> Iterator:
    """Yield a model the caller may modify freely; the original is untouched afterwards."""
    device = str(getattr(model, "device", "cpu")).split(":")[0]
    if mode == "memory":
        work = copy.deepcopy(model)
        if dtype is not None and next(work.parameters()).dtype != dtype:
            work.to(dtype)
        try:
            yield work
        finally:
            del work
            free_memory(device)
        return
    if mode != "disk":
        raise ValueError(f"unknown workspace mode {mode!r} (memory, disk)")
    from safetensors.torch import load_file, save_file

    tmp = tempfile.mkdtemp(prefix="auditor-persistence-")
    was_training = model.training
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    try:
        os.chmod(tmp, 0o700)
        snap = os.path.join(tmp, "snapshot.safetensors")
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        # Tied weights share storage; safetensors refuses duplicates, so keep one name per storage.
        seen: dict[int, str] = {}
        unique = {}
        for k, v in state.items():
            ptr = v.data_ptr()
            if ptr in seen and v.numel() > 0:
                continue
            seen[ptr] = k
            unique[k] = v
        save_file(unique, snap)
        del state, unique
        yield model
    finally:
        try:
            if os.path.exists(os.path.join(tmp, "snapshot.safetensors")):
                restored = load_file(os.path.join(tmp, "snapshot.safetensors"))
                model.load_state_dict(restored, strict=False)
                del restored
            for n, p in model.named_parameters():
                p.requires_grad_(grads.get(n, p.requires_grad))
            model.train(was_training)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            free_memory(device)


@contextlib.contextmanager
def deterministic(seed: int, device: str = "cpu", kernels: bool | None = None) -> Iterator[None]:
    """Seed torch inside a forked RNG state (the caller's RNG state is restored afterwards).

    `kernels` asks torch for deterministic algorithms (warn-only). Default: on for
    CUDA, where atomics make some kernels non-deterministic; off on CPU, whose
    kernels are deterministic for a fixed thread count and whose deterministic
    variants (e.g. the embedding backward) are much slower.
    """
    if kernels is None:
        kernels = device == "cuda"
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = [torch.cuda.current_device()] if device == "cuda" and torch.cuda.is_available() else []
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if kernels:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run with `n` intra-op CPU threads, restoring the previous count afterwards.

    Tiny models gain nothing from intra-op parallelism, and on a shared machine
    threads that spin-wait for each other can make a step 10-30x slower."""
    prev = torch.get_num_threads()
    if n and n > 0 and n != prev:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if torch.get_num_threads() != prev:
            torch.set_num_threads(prev)
