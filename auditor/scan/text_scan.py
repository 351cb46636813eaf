"""Text files: secrets everywhere; JSON/YAML configs for remote code, chat templates and Keras configs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import ResourceLimitError
from . import patterns
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext
    from .blob import Blob

PARSE_MAX = 16 << 20
CHUNK = 1 << 20
OVERLAP = 4096
MAX_NODES = 200_000
TEMPLATE_KEYS = ("chat_template", "tool_use_template", "default_chat_template")


def _chunks(blob: "Blob", limit: int) -> Iterator[tuple[int, str]]:
    """Decoded text in 1 MiB chunks with a small overlap so secrets across a boundary are seen."""
    with blob.open() as f:
        pos, tail = 0, b""
        while pos < limit:
            data = f.read(min(CHUNK, limit - pos))
            if not data:
                break
            yield pos - len(tail), (tail + data).decode("utf-8", "replace")
            tail = data[-OVERLAP:]
            pos += len(data)


def secrets_in(sc: "ScanContext", blob: "Blob") -> None:
    if not sc.settings.get("secrets", True):
        return
    seen = set()
    for off, text in _chunks(blob, sc.limits.max_text_scan):
        for rule, sev, red, pos in patterns.find_secrets(text):
            if (rule, red) in seen:
                continue
            seen.add((rule, red))
            line = text.count("\n", 0, pos) + 1
            sc.add(f"secret.{rule}", sev, f"possible {rule.replace('_', ' ')} in a text file",
                   {"match": red}, blob.name, f"byte ~{max(0, off + pos)} (chunk line {line})", key=(rule, red))


@register("markdown", "text")
def scan_text(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    secrets_in(sc, blob)
    if blob.size is not None and blob.size > sc.limits.max_text_scan:
        sc.report.error(f"{blob.name}: only the first {sc.limits.max_text_scan} bytes were searched for secrets")
    return {}


def _load(sc: "ScanContext", blob: "Blob") -> str | None:
    if blob.size is not None and blob.size > PARSE_MAX:
        return None
    with blob.open() as f:
        return f.read(PARSE_MAX + 1).decode("utf-8", "replace")


@register("json")
def scan_json(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    scan_text(sc, blob)
    text = _load(sc, blob)
    base = blob.name.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    if text is None:
        head = blob.head().decode("utf-8", "replace")
        if any(k in head for k in ("auto_map", "chat_template", "class_name")):
            raise ResourceLimitError(f"{blob.name}: config-like JSON larger than {PARSE_MAX} bytes was not parsed")
        return {"parsed": False}
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        if base.endswith((".json",)) and not base.endswith(".jsonl"):
            sc.add("format.malformed_json", "low", "JSON file does not parse", {"error": str(e)[:160]}, blob.name)
        return {"parsed": False}
    check_structure(sc, blob.name, base, obj)
    return {}


def check_structure(sc: "ScanContext", name: str, base: str, obj: Any) -> None:
    """Shared by JSON and YAML: templates, remote code, Keras configs, config code strings."""
    from . import keras_scan, remote_code

    if isinstance(obj, dict):
        if "auto_map" in obj or "custom_pipelines" in obj or base == "config.json":
            remote_code.check_config(sc, name, obj)
        if keras_scan.looks_like_keras(obj):
            keras_scan.check_config(sc, name, obj)
        if base.endswith("config.json") or base.endswith((".yaml", ".yml")):
            _config_strings(sc, name, obj)
        if base.endswith("index.json") and isinstance(obj.get("weight_map"), dict):
            prefix = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
            sc.referenced.update(prefix + str(v) for v in obj["weight_map"].values())
    tokens = None  # a tokenizer_config's own bos/eos/... strings, defaults otherwise; read at the first template
    for path, value in _walk(obj):
        is_template = path and path[-1] in TEMPLATE_KEYS
        loose = (path and isinstance(value, str) and ("{%" in value or "{{" in value) and len(value) > 20
                 and str(path[-1]).endswith("template") and not any(p in TEMPLATE_KEYS for p in path[:-1]))
        if (is_template or loose) and tokens is None:
            templates = _templates()
            tokens = templates.special_tokens(obj)
        if is_template:
            where = ".".join(map(str, path))
            if isinstance(value, list):
                for i, item in enumerate(value):
                    tpl = item.get("template") if isinstance(item, dict) else item
                    label = item.get("name", i) if isinstance(item, dict) else i
                    templates.check(sc, name, tpl, f"{where}[{label}]", tokens)
            elif value is not None:
                templates.check(sc, name, value, where, tokens)
        elif loose:
            templates.check(sc, name, value, ".".join(map(str, path)), tokens)


def _templates():
    """The chat-template judge, imported on first use: jinja2's sandbox loads only for
    files that hold a template, so a scan of a lone pickle starts fast."""
    from . import templates

    return templates


def _config_strings(sc: "ScanContext", name: str, obj: Any) -> None:
    for path, value in _walk(obj):
        if isinstance(value, str) and len(value) >= 8 and path and path[-1] not in TEMPLATE_KEYS:
            for kind, excerpt in patterns.find_code(value)[:2]:
                if kind in ("python import", "__import__", "os/subprocess call", "eval/exec", "decode-and-run",
                            "shell command", "dunder escape"):
                    sc.add("config.code_string", "low", f"code-like value in a config file ({kind})",
                           {"key": ".".join(map(str, path))[:200], "excerpt": excerpt[:160]}, name, key=(kind, str(path)))


def _walk(obj: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    stack = [(path, obj)]
    seen = 0
    while stack:
        p, o = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            return
        yield p, o
        if isinstance(o, dict):
            stack.extend((p + (k,), v) for k, v in o.items())
        elif isinstance(o, list) and len(p) < 64:
            stack.extend((p + (i,), v) for i, v in enumerate(o[:10_000]))


@register("yaml")
def scan_yaml(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    scan_text(sc, blob)
    text = _load(sc, blob)
    if text is None or len(text) > (4 << 20):
        return {"parsed": False}
    try:
        import yaml

        obj = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 — any YAML error
        sc.add("format.malformed_yaml", "low", "YAML file does not parse", {"error": str(e)[:160]}, blob.name)
        return {"parsed": False}
    check_structure(sc, blob.name, blob.name.rsplit("/", 1)[-1], obj)
    return {}


@register("jinja")
def scan_jinja(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    secrets_in(sc, blob)
    text = _load(sc, blob)
    if text is None:
        raise ResourceLimitError(f"{blob.name}: template larger than {PARSE_MAX} bytes was not parsed")
    _templates().check(sc, blob.name, text, "template")
    return {}
