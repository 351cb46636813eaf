"""Keras models: Lambda layers and custom objects in model configs (.keras zip config.json, HDF5 attributes)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext
    from .blob import Blob

CHUNK = 4 << 20
JSON_MAX = 16 << 20
MAX_CONFIGS = 20


def looks_like_keras(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if "class_name" in obj and "config" in obj:
        return True
    return "module" in obj and "class_name" in obj and str(obj.get("module", "")).startswith(("keras", "tf_keras", "tensorflow"))


def check_config(sc: "ScanContext", name: str, cfg: Any) -> None:
    stack, seen = [cfg], 0
    while stack and seen < 200_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            cls = node.get("class_name")
            layer = node.get("config", {}).get("name") if isinstance(node.get("config"), dict) else None
            if cls in ("Lambda", "__lambda__"):
                conf = node.get("config") if isinstance(node.get("config"), dict) else {}
                fn = conf.get("function", conf.get("code"))
                sc.add("keras.lambda_layer", "critical", "Keras Lambda layer: deserialising it runs arbitrary Python code",
                       {"layer": layer, "function": str(fn)[:200]}, name, f"layer {layer}", key=(layer, str(fn)[:80]))
            elif cls == "TFOpLambda":
                sc.add("keras.tf_op_lambda", "low", "TFOpLambda layer (calls a TensorFlow op by name)",
                       {"layer": layer, "function": str(node.get("config", {}).get("function"))[:120]}, name, key=layer)
            module = node.get("module")
            if isinstance(module, str) and cls and not module.startswith(("keras", "tf_keras", "tensorflow", "builtins")):
                sc.add("keras.custom_object", "medium", "Keras config loads a class from a non-Keras module",
                       {"module": module, "class_name": cls}, name, key=(module, cls))
            reg = node.get("registered_name")
            if isinstance(reg, str) and ">" in reg:
                sc.add("keras.custom_object", "medium", "Keras config uses a registered custom object",
                       {"registered_name": reg}, name, key=reg)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node[:100_000])


@register("hdf5")
def scan_hdf5(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    """No h5py: find JSON objects in the attribute bytes (`model_config`, `training_config`) by streaming."""
    decoder = json.JSONDecoder()
    found = 0
    lambda_raw = False
    with blob.open() as f:
        carry = b""
        while True:
            data = f.read(CHUNK)
            if not data:
                break
            buf = carry + data
            start = 0
            while found < MAX_CONFIGS:
                i = buf.find(b'{"class_name"', start)
                if i < 0:
                    break
                end = buf.find(b"\x00", i)
                if end < 0 and len(buf) - i < JSON_MAX:
                    more = f.read(JSON_MAX - (len(buf) - i))
                    buf += more
                    end = buf.find(b"\x00", i)
                chunk = buf[i:end if end > 0 else i + JSON_MAX]
                try:
                    obj, used = decoder.raw_decode(chunk.decode("utf-8", "replace"))
                    check_config(sc, blob.name, obj)
                    found += 1
                    start = i + max(used, 1)
                except ValueError:
                    start = i + 1
            if b'"class_name": "Lambda"' in buf or b'"class_name":"Lambda"' in buf:
                lambda_raw = True
            carry = buf[-64:]
    if lambda_raw and not any(f.rule == "keras.lambda_layer" and f.file == blob.name for f in sc.report.findings):
        sc.add("keras.lambda_layer", "critical", "Keras Lambda layer referenced in HDF5 attributes", {}, blob.name)
    return {"format": "hdf5", "keras_configs": found}
