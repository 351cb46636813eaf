"""Registry of format handlers and repository passes.

Format modules register themselves here (`@register("zip")`), the engine looks them up (`get(fmt)`).
So the arrows point one way: engine -> handlers <- format modules; no format module imports the engine.
`ScanContext` is the part of the engine that handlers may use, written down as a Protocol so format
modules can be typed without importing `engine.py`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from .blob import Blob
    from .limits import Limits
    from .report import ScanReport

# Modules that register handlers or passes; imported once, on first lookup.
HANDLER_MODULES = ("containers", "gguf_scan", "hygiene", "keras_scan", "numpy_scan", "onnx_scan", "pickle_scan",
                   "pycode_scan", "remote_code", "safetensors_scan", "text_scan")
# Repository-level passes: "tree" runs before any file, "repo" after all files, "mode" on executable bits.
PASSES = ("tree", "repo", "mode")


class ScanContext(Protocol):
    """What a handler may call back on the running scan."""

    settings: dict[str, Any]
    limits: "Limits"
    report: "ScanReport"
    allow_imports: set[str]
    referenced: set[str]
    python_files: list[dict[str, Any]]
    configs: dict[str, Any]

    def add(self, rule: str, severity: str, title: str, evidence: dict | None = None, file: str | None = None,
            location: str | None = None, key: Any = None) -> Any: ...

    def charge(self, nbytes: int) -> None: ...

    def count_member(self, where: str) -> None: ...

    def scan_blob(self, blob: "Blob", sha256: str | None = None, mode: int | None = None) -> dict[str, Any]: ...

    def note_unknown(self, name: str, size: int | None, why: str) -> None: ...


Handler = Callable[[ScanContext, "Blob"], "dict | None"]

_handlers: dict[str, Handler] = {}
_passes: dict[str, Callable[..., None]] = {}
_loaded = False


def register(*formats: str) -> Callable[[Handler], Handler]:
    """Decorator: the function scans blobs of these formats (one handler per format)."""

    def deco(fn: Handler) -> Handler:
        for fmt in formats:
            if fmt in _handlers and _handlers[fmt] is not fn:
                raise RuntimeError(f"two scan handlers for format {fmt!r}")
            _handlers[fmt] = fn
        return fn

    return deco


def register_pass(stage: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator: the function is the repository pass for `stage` (one of PASSES)."""
    if stage not in PASSES:
        raise ValueError(f"unknown scan pass {stage!r}")

    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        _passes[stage] = fn
        return fn

    return deco


def _load() -> None:
    global _loaded
    if not _loaded:
        for name in HANDLER_MODULES:
            importlib.import_module(f"{__package__}.{name}")
        _loaded = True


def get(fmt: str) -> Handler:
    """The handler for a format detected by the router (KeyError for a format nobody registered)."""
    _load()
    return _handlers[fmt]


def run_pass(stage: str, sc: ScanContext, *args: Any) -> None:
    _load()
    _passes[stage](sc, *args)


def formats() -> set[str]:
    _load()
    return set(_handlers)
