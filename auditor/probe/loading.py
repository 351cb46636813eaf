"""Load a model's weights for behavioural checks, safely.

Only safetensors weights are ever read, `trust_remote_code` is always off, and a
config that needs custom code is refused: a behavioural audit must never run
the code it is auditing.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..errors import ModelLoadError
from .device import Placement, choose
from .runtime import LoadedModel

PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "tf_model.h5")


def _read_config(path: Path) -> dict:
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise ModelLoadError("no config.json: not a transformers model directory", path=str(path))
    if cfg_path.stat().st_size > 10 * 1024 * 1024:
        raise ModelLoadError("config.json is larger than 10 MiB", path=str(cfg_path))
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"config.json is not valid JSON: {exc}", path=str(cfg_path)) from None
    if not isinstance(cfg, dict):
        raise ModelLoadError("config.json is not a JSON object", path=str(cfg_path))
    return cfg


def check_loadable(path: Path) -> dict:
    """Refuse what we must not or cannot load; return the parsed config."""
    from transformers import CONFIG_MAPPING

    if not path.is_dir():
        raise ModelLoadError("behavioural checks need a model directory", path=str(path))
    cfg = _read_config(path)
    model_type = cfg.get("model_type")
    if "auto_map" in cfg:
        raise ModelLoadError(
            "config.json has auto_map: the model needs trust_remote_code, which auditor never enables",
            path=str(path / "config.json"),
        )
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ModelLoadError(
            f"model_type {model_type!r} is not an architecture built into transformers", path=str(path / "config.json")
        )
    has_st = any(path.glob("*.safetensors"))
    if not has_st:
        pickles = [p for p in PICKLE_WEIGHTS if (path / p).exists()]
        detail = f" (only pickle-format weights: {', '.join(pickles)})" if pickles else ""
        raise ModelLoadError(
            "no safetensors weights" + detail + "; auditor never unpickles weights, so behavioural checks cannot run",
            path=str(path),
        )
    return cfg


def _count_params(path: Path) -> int | None:
    """Parameter count from safetensors headers, without loading tensors."""
    from safetensors import safe_open

    total = 0
    try:
        for f in sorted(path.glob("*.safetensors")):
            with safe_open(str(f), framework="pt") as st:
                for name in st.keys():
                    n = 1
                    for d in st.get_slice(name).get_shape():
                        n *= d
                    total += n
    except Exception as exc:  # noqa: BLE001 — safetensors raises its own error types
        raise ModelLoadError(f"cannot read safetensors header: {exc}", path=str(path)) from None
    return total


def load_model(path: str | Path, device: str = "auto", seed: int = 0, engine: str = "auto", tensor_parallel: int = 1) -> LoadedModel:
    """Load tokenizer and causal LM from a local directory, offline and without remote code.

    `engine` picks who generates text (see auditor.engine); the transformers model is
    always loaded too, because white-box checks need its logits and activations.
    """
    from ..engine import VLLMEngine, resolve_engine_name

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    cfg = check_loadable(path)
    n_params = _count_params(path)
    placement: Placement = choose(device, n_params)
    torch.manual_seed(seed)
    transformers.logging.set_verbosity_error()
    from ..progress import quiet_transformers

    quiet_transformers()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False, local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"cannot load tokenizer: {type(exc).__name__}: {exc}", path=str(path)) from None
    kwargs = dict(trust_remote_code=False, local_files_only=True, use_safetensors=True, dtype=placement.dtype)
    if placement.device_map:
        kwargs["device_map"] = placement.device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"cannot load weights: {type(exc).__name__}: {exc}", path=str(path)) from None
    if not placement.device_map:
        model.to(placement.device)
    if placement.device == "cpu" and n_params and n_params < 20_000_000:
        # Tiny models are latency-bound: one thread avoids synchronisation and
        # oversubscription (measured 10-20x faster generation on a busy 2-core host).
        torch.set_num_threads(1)
    model.eval()
    lm = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=placement.device,
        dtype=str(placement.dtype).replace("torch.", ""),
        n_params=n_params or sum(p.numel() for p in model.parameters()),
        architecture=str(cfg.get("model_type")),
        path=path,
    )
    if resolve_engine_name(engine, placement.device) == "vllm":
        lm.use_engine(VLLMEngine(path, tokenizer, tensor_parallel=tensor_parallel, seed=seed, dtype=lm.dtype))
    return lm
