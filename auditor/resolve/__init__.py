"""Stage 1 of the pipeline: turn a model reference into local files with provenance."""

from __future__ import annotations

from .model import ModelFile, ResolvedModel
from .reference import parse_reference


def resolve(reference: str, revision: str | None = None, *, exclude=None, manifest_limits=None, require_model=True) -> ResolvedModel:
    ref = parse_reference(reference, revision)
    if ref.kind == "local":
        from .local import resolve_local

        return resolve_local(ref.value, manifest_limits, require_model=require_model)
    from .hub import resolve_hub

    return resolve_hub(ref.value, ref.revision, exclude=exclude, manifest_limits=manifest_limits)


__all__ = ["ModelFile", "ResolvedModel", "parse_reference", "resolve"]
