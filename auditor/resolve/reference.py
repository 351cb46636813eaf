"""Parse what the user typed as MODEL: a local path, or a hub id `org/name[@rev]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelResolveError

HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@dataclass(frozen=True)
class ModelRef:
    kind: str  # "local" or "hub"
    value: str  # path or repo id
    revision: str | None = None


def parse_reference(text: str, revision: str | None = None) -> ModelRef:
    """Local paths win over hub ids (`./org/name` always means a path)."""
    if not text:
        raise ModelResolveError("empty model reference")
    path = Path(text).expanduser()
    if path.exists() or text.startswith((".", "/", "~")):
        if revision:
            raise ModelResolveError("--revision applies to hub models only, not to a local path", path=text)
        return ModelRef("local", str(path))
    repo, at, rev = text.partition("@")
    if at and revision and rev != revision:
        raise ModelResolveError(f"conflicting revisions: {text!r} and --revision {revision!r}")
    if not HUB_ID_RE.match(repo) or ".." in repo:
        raise ModelResolveError(
            f"{text!r} is neither an existing local path nor a hub id of the form org/name[@revision]"
        )
    if at and not rev:
        raise ModelResolveError(f"{text!r}: empty revision after '@'")
    return ModelRef("hub", repo, rev or revision)
