"""What a resolved model is: files on local disk plus their provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelFile:
    """One file of the model repository.

    `sha256` is None for files listed by the hub but not downloaded (their hub
    LFS digest, when known, is kept in `hub_sha256`).
    """

    path: str
    size: int
    sha256: str | None = None
    downloaded: bool = True
    hub_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "size": self.size, "sha256": self.sha256}
        if not self.downloaded:
            d["downloaded"] = False
        if self.hub_sha256:
            d["hub_sha256"] = self.hub_sha256
        return d


@dataclass
class ResolvedModel:
    """A model reference turned into a local directory (or single file).

    `source` is `hub`, `local_dir` or `local_file`. For hub models `revision` is
    the full commit SHA the files came from; `requested_revision` what the user
    asked for (a branch, tag or SHA).
    """

    id: str
    path: Path
    source: str
    revision: str | None = None
    requested_revision: str | None = None
    files: list[ModelFile] = field(default_factory=list)
    endpoint: str | None = None

    @property
    def is_file(self) -> bool:
        return self.source == "local_file"

    def digest(self) -> str:
        """A digest over the file digests: identifies the model's content."""
        import hashlib

        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.path):
            h.update(f"{f.path}\0{f.sha256 or f.hub_sha256 or ''}\0{f.size}\n".encode())
        return h.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "revision": self.revision,
            "digest": {"sha256": self.digest()},
            "files": [f.to_dict() for f in self.files],
        }
        if self.requested_revision:
            d["requested_revision"] = self.requested_revision
        if self.endpoint:
            d["endpoint"] = self.endpoint
        return d
