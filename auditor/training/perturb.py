"""Weight perturbations a buyer may apply before deployment, each on a working copy.

- `quantize_int8`: on CPU, real int8 inference with `torch.ao` dynamic
  quantisation of every `nn.Linear` (int8 weights per tensor, activations
  quantised dynamically per batch). GPT-2 style `Conv1D` layers (transposed
  Linear) are first converted to `nn.Linear` on the copy so they are quantised
  too. Elsewhere (CUDA/MPS have no dynamic-int8 kernels) or when torch.ao is
  unavailable: simulated per-output-channel symmetric int8 weight rounding
  (w -> round(w / s) * s, s = max|w_row| / 127) of the same layers, in place.
  The evidence says which one ran.
- `weight_noise`: each floating tensor gets Gaussian noise of `scale` x that
  tensor's own standard deviation, from a seeded generator.
- `prune`: magnitude pruning of the 2-D weight matrices of Linear/Conv1D layers
  (embeddings and the output head excluded) at a target sparsity, either with a
  single global threshold or per layer. For very large models the global
  threshold is taken from a seeded sample of at most 10M magnitudes.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

SAMPLE_CAP = 10_000_000


def _conv1d_class():
    try:
        from transformers.pytorch_utils import Conv1D

        return Conv1D
    except Exception:  # noqa: BLE001  # pragma: no cover
        return None


def _output_head_names(model) -> set[str]:
    names = set()
    head = getattr(model, "get_output_embeddings", lambda: None)()
    for n, m in model.named_modules():
        if head is not None and m is head:
            names.add(n)
    return names


def linear_layers(model, include_head: bool = True) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Linear and Conv1D layer."""
    conv1d = _conv1d_class()
    heads = set() if include_head else _output_head_names(model)
    out = []
    for n, m in model.named_modules():
        if n in heads:
            continue
        if isinstance(m, nn.Linear) or (conv1d is not None and isinstance(m, conv1d)):
            out.append((n, m))
    return out


def _set_module(model, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def conv1d_to_linear(model) -> int:
    """Replace every transformers Conv1D (y = x W + b, W: [in, out]) with an equal nn.Linear."""
    conv1d = _conv1d_class()
    if conv1d is None:
        return 0
    n = 0
    for name, m in list(model.named_modules()):
        if isinstance(m, conv1d):
            w = m.weight.detach()
            lin = nn.Linear(w.shape[0], w.shape[1], bias=m.bias is not None, device=w.device, dtype=w.dtype)
            with torch.no_grad():
                lin.weight.copy_(w.t())
                if m.bias is not None:
                    lin.bias.copy_(m.bias.detach())
            _set_module(model, name, lin)
            n += 1
    return n


def _simulated_int8(model) -> int:
    conv1d = _conv1d_class()
    n = 0
    with torch.no_grad():
        for _, m in linear_layers(model):
            w = m.weight
            # output channels are rows of nn.Linear weights and columns of Conv1D weights
            dim = 0 if isinstance(m, nn.Linear) or conv1d is None or not isinstance(m, conv1d) else 1
            wf = w.float()
            scale = wf.abs().amax(dim=1 - dim, keepdim=True).clamp(min=1e-12) / 127.0
            w.copy_((torch.round(wf / scale).clamp(-127, 127) * scale).to(w.dtype))
            n += 1
    return n


def quantize_int8(model, mode: str = "auto"):
    """Return (model, description). `mode`: auto | dynamic | simulated."""
    device = str(next(model.parameters()).device.type)
    if mode == "auto":
        mode = "dynamic" if device == "cpu" else "simulated"
    if mode == "dynamic":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from torch.ao.quantization import quantize_dynamic

                if next(model.parameters()).dtype != torch.float32:
                    model.float()
                converted = conv1d_to_linear(model)
                n_lin = len(linear_layers(model))
                q = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
            return q, {
                "implementation": "torch.ao dynamic int8 (qint8 weights per tensor, dynamic activation quantisation)",
                "conv1d_converted_to_linear": converted,
                "layers_quantized": n_lin,
            }
        except Exception as exc:  # noqa: BLE001 — fall back to simulation, and say so
            fallback_reason = f"{type(exc).__name__}: {exc}"
            n = _simulated_int8(model)
            return model, {
                "implementation": "simulated per-channel int8 weight rounding",
                "layers_quantized": n,
                "fallback_reason": fallback_reason[:300],
            }
    if mode != "simulated":
        raise ValueError(f"unknown int8 mode {mode!r} (auto, dynamic, simulated)")
    n = _simulated_int8(model)
    return model, {"implementation": "simulated per-channel symmetric int8 weight rounding", "layers_quantized": n}


def weight_noise(model, scale: float, seed: int):
    """Add N(0, (scale * std(tensor))^2) to every floating tensor with more than one element."""
    n = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.is_floating_point() or p.numel() < 2:
                continue
            g = torch.Generator(device=p.device).manual_seed(int(seed) * 1_000_003 + n)
            std = p.float().std()
            noise = torch.randn(p.shape, generator=g, device=p.device, dtype=torch.float32) * (std * float(scale))
            p.add_(noise.to(p.dtype))
            n += 1
    return model, {"relative_scale": float(scale), "tensors_perturbed": n, "seed": int(seed)}


def prune(model, sparsity: float, scope: str = "global", seed: int = 0):
    """Zero the smallest-magnitude fraction `sparsity` of Linear/Conv1D weight matrices."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError("sparsity must be in [0, 1)")
    layers = [(n, m) for n, m in linear_layers(model, include_head=False) if m.weight.dim() == 2]
    # Tied weights (head = embedding) are excluded above; skip any weight shared with an embedding too.
    emb = getattr(model, "get_input_embeddings", lambda: None)()
    emb_ptr = emb.weight.data_ptr() if emb is not None else None
    layers = [(n, m) for n, m in layers if m.weight.data_ptr() != emb_ptr]
    zeroed = total = 0
    with torch.no_grad():
        if scope == "global":
            sizes = [m.weight.numel() for _, m in layers]
            total_n = sum(sizes)
            if total_n <= SAMPLE_CAP:
                mags = torch.cat([m.weight.detach().abs().float().reshape(-1).cpu() for _, m in layers])
            else:
                g = torch.Generator().manual_seed(int(seed))
                parts = []
                for (_, m), sz in zip(layers, sizes):
                    k = max(1, int(SAMPLE_CAP * sz / total_n))
                    idx = torch.randint(0, sz, (k,), generator=g)
                    parts.append(m.weight.detach().reshape(-1)[idx.to(m.weight.device)].abs().float().cpu())
                mags = torch.cat(parts)
            k = int(sparsity * mags.numel())
            threshold = float(torch.kthvalue(mags, k).values) if k >= 1 else -1.0
            for _, m in layers:
                mask = m.weight.abs().float() <= threshold
                m.weight.masked_fill_(mask, 0)
                zeroed += int(mask.sum())
                total += m.weight.numel()
        elif scope == "layer":
            for _, m in layers:
                flat = m.weight.detach().abs().float().reshape(-1)
                k = int(sparsity * flat.numel())
                if k < 1:
                    total += flat.numel()
                    continue
                thr = float(torch.kthvalue(flat.cpu(), k).values)
                mask = m.weight.abs().float() <= thr
                m.weight.masked_fill_(mask, 0)
                zeroed += int(mask.sum())
                total += m.weight.numel()
        else:
            raise ValueError(f"unknown pruning scope {scope!r} (global, layer)")
    return model, {
        "target_sparsity": float(sparsity),
        "achieved_sparsity": round(zeroed / max(1, total), 4),
        "scope": scope,
        "layers_pruned": len(layers),
        "weights_considered": total,
    }
