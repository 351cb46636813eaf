"""Residual-stream activations at the final token, for linear probes.

Two ways to capture, which agree (tested):

- `hooks`: forward hooks on the decoder layers (found generically:
  `model.get_decoder().layers`, `.h`, `model.transformer.h`, `model.model.layers`,
  ...). Only the final-token row of the requested layers is kept, and the
  forward pass stops after the deepest requested layer, so a middle-layer probe
  costs about half a forward pass and little memory on a large model.
- `hidden_states`: `output_hidden_states=True`, architecture-independent; used
  when no layer list is found, and for sweeps over all layers (one pass).

Layer `i` means the output of decoder block `i` (0-based), i.e.
`hidden_states[i + 1]`. Prompts are left-padded; position ids are computed
from the attention mask so that padding never shifts positions (a model with
absolute positions would otherwise give batch-dependent activations).
"""

from __future__ import annotations

import inspect
from typing import Any, Iterable, Sequence

import torch

_LAYER_PATHS = (
    ("get_decoder", "layers"),
    ("get_decoder", "h"),
    ("get_decoder", "blocks"),
    ("model", "layers"),
    ("model", "decoder", "layers"),
    ("model", "language_model", "layers"),
    ("transformer", "h"),
    ("transformer", "blocks"),
    ("transformer", "layers"),
    ("gpt_neox", "layers"),
    ("language_model", "model", "layers"),
)


def _walk(obj: Any, path: Sequence[str]) -> Any:
    for name in path:
        attr = getattr(obj, name, None)
        if attr is None:
            return None
        obj = attr() if callable(attr) and not isinstance(attr, torch.nn.Module) else attr
    return obj


def decoder_layers(model) -> torch.nn.ModuleList | None:
    """The model's list of decoder blocks, or None if it cannot be found."""
    for path in _LAYER_PATHS:
        try:
            layers = _walk(model, path)
        except Exception:  # noqa: BLE001 — a getter that does not apply to this architecture
            layers = None
        if isinstance(layers, torch.nn.ModuleList) and len(layers) > 0:
            return layers
    return None


def num_layers(model) -> int:
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "get_text_config", lambda: cfg)() if cfg is not None else None
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        n = getattr(cfg, key, None)
        if isinstance(n, int) and n > 0:
            return n
    layers = decoder_layers(model)
    if layers is None:
        raise ValueError("cannot tell how many decoder layers the model has")
    return len(layers)


def resolve_layers(spec: Any, n_layers: int) -> list[int]:
    """`"middle"` -> [n // 2]; an int (negative counts from the end) -> [i];
    `"sweep"`/`"all"` -> every layer; a list of ints -> those."""
    if spec in (None, "middle"):
        return [n_layers // 2]
    if spec in ("sweep", "all"):
        return list(range(n_layers))
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    out = []
    for x in items:
        if isinstance(x, bool):
            raise ValueError(f"layer must be 'middle', 'sweep', an integer or a list of integers, got {spec!r}")
        if not isinstance(x, int):
            try:
                x = int(x)
            except (TypeError, ValueError):
                raise ValueError(f"layer must be 'middle', 'sweep', an integer or a list of integers, got {spec!r}") from None
        i = x + n_layers if x < 0 else x
        if not 0 <= i < n_layers:
            raise ValueError(f"layer {x} out of range for a model with {n_layers} layers")
        if i not in out:
            out.append(i)
    return out


class _Stop(Exception):
    """Raised by the last hook: the rest of the forward pass is not needed."""


def _accepts(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _inputs(lm, texts: list[str]) -> dict:
    enc = lm._encode(texts)
    if "attention_mask" in enc and _accepts(lm.model, "position_ids"):
        mask = enc["attention_mask"]
        enc["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
    return enc


def _block_output(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


@torch.inference_mode()
def final_token_activations(
    lm, texts: Sequence[str], layers: Iterable[int], method: str = "auto", batch_size: int | None = None
) -> dict[int, torch.Tensor]:
    """Activations at the final token of each text: {layer: float32 CPU tensor [N, d]}."""
    layers = sorted(set(int(i) for i in layers))
    texts = list(texts)
    if not texts:
        return {i: torch.empty(0) for i in layers}
    blocks = decoder_layers(lm.model)
    if method == "auto":
        method = "hooks" if blocks is not None and len(layers) < max(2, len(blocks) // 2) else "hidden_states"
    if method == "hooks" and blocks is None:
        raise ValueError("no decoder layer list found on this model; use capture method 'hidden_states'")
    if method not in ("hooks", "hidden_states"):
        raise ValueError(f"unknown capture method {method!r} (auto, hooks, hidden_states)")

    def run_hidden(batch: list[str]) -> list[torch.Tensor]:
        enc = _inputs(lm, batch)
        hs = lm.model(**enc, output_hidden_states=True, use_cache=False).hidden_states
        rows = torch.stack([hs[i + 1][:, -1, :].float().cpu() for i in layers], dim=1)  # [B, L, d]
        return list(rows)

    def run_hooks(batch: list[str]) -> list[torch.Tensor]:
        enc = _inputs(lm, batch)
        got: dict[int, torch.Tensor] = {}
        last = layers[-1]
        handles = []

        def make(i: int):
            def hook(_module, _args, output):
                got[i] = _block_output(output)[:, -1, :].float().cpu()
                if i == last:
                    raise _Stop

            return hook

        try:
            for i in layers:
                handles.append(blocks[i].register_forward_hook(make(i)))
            try:
                lm.model(**enc, use_cache=False)
            except _Stop:
                pass
        finally:
            for h in handles:
                h.remove()
        rows = torch.stack([got[i] for i in layers], dim=1)
        return list(rows)

    fn = run_hooks if method == "hooks" else run_hidden
    rows = lm._batched(texts, fn, batch_size)
    stacked = torch.stack(rows)  # [N, L, d]
    return {i: stacked[:, j, :].contiguous() for j, i in enumerate(layers)}
