"""Bounded, safe YAML/JSON-Schema loading shared by policies and batteries."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

MAX_YAML_BYTES = 4 * 1024 * 1024


def read_yaml(path: Path, error_cls) -> tuple[Any, str]:
    """Parse a YAML file with the safe loader; return (data, sha256 of the bytes)."""
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise error_cls(f"file is larger than {MAX_YAML_BYTES} bytes", path=str(path))
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error_cls("file not found", path=str(path)) from None
    except IsADirectoryError:
        raise error_cls("is a directory, expected a YAML file", path=str(path)) from None
    except OSError as exc:
        raise error_cls(f"cannot read: {exc.strerror}", path=str(path)) from None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise error_cls("not UTF-8 text", path=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error_cls(f"invalid YAML{where}: {problem}", path=str(path)) from None
    return data, hashlib.sha256(raw).hexdigest()


@lru_cache(maxsize=None)
def _validator(schema_path: str):
    from .jsonschema_lite import draft202012

    return draft202012(json.loads(Path(schema_path).read_text(encoding="utf-8")))


def schema_errors(data: Any, schema_path: Path) -> list[str]:
    """Every schema violation as `path.to.field: message`, in document order."""
    validator = _validator(str(schema_path))
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    out = []
    for e in errors:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        out.append(f"{where}: {e.message}")
    return out
