"""Resolve a local directory or single file into a ResolvedModel (read-only)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelResolveError, NotAModelError
from .model import ResolvedModel


def resolve_local(path_text: str, manifest_limits: dict | None = None, *, require_model: bool = True) -> ResolvedModel:
    from ..scan.manifest import build_manifest

    path = Path(path_text).expanduser()
    if not path.exists():
        raise ModelResolveError("no such file or directory", path=str(path))
    path = path.resolve()
    if path.is_file():
        files = build_manifest(path, manifest_limits or {})
        return ResolvedModel(id=str(path), path=path, source="local_file", files=files)
    if not path.is_dir():
        raise ModelResolveError("not a regular file or directory", path=str(path))
    files = build_manifest(path, manifest_limits or {})
    if require_model and not (path / "config.json").is_file():
        names = ", ".join(f.path for f in files[:5]) or "it is empty"
        raise NotAModelError(f"not a model directory (no config.json; found: {names})", path=str(path))
    return ResolvedModel(id=str(path), path=path, source="local_dir", files=files)
