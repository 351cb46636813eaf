"""Compare a verified signed manifest with the audit's own manifest, file by file.

The audit already streamed a SHA-256 of every file (auditor.resolve); for the
model-signing default serialization (one SHA-256 per file) the comparison costs
no extra read. Other serializations (BLAKE2/BLAKE3 digests, or shards) are
re-hashed with model_signing's own hashing so the digests are comparable.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle import MalformedBundleError, SignedManifest

# The serialization records the digest's name; model_signing's hashing config takes the
# algorithm's (its own signature guesser trips on "blake2b", so we map it ourselves).
HASHING_ALGORITHM = {"sha256": "sha256", "blake2b": "blake2", "blake2": "blake2", "blake3": "blake3"}

# model_signing's default ignore list: repository metadata that ships with no model.
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")


@dataclass
class Comparison:
    """Per-file outcome. Lists hold dicts with the path and the digests behind the verdict."""

    verified: list[str] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    unsigned: list[dict[str, Any]] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)


def _under(path: str, prefixes) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def _file_of(identifier: str, shards: bool) -> str:
    """A resource identifier's file: `path` for files, `path:start:end` for shards."""
    return identifier.rsplit(":", 2)[0] if shards else identifier


def _group(resources: dict[str, tuple[str, str]], shards: bool) -> dict[str, dict[str, str]]:
    """file -> {identifier: hex digest}."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for identifier, (_alg, digest) in resources.items():
        out[_file_of(identifier, shards)][identifier] = digest
    return dict(out)


def _rehash(signed: SignedManifest, root: Path, paths: list[str]) -> dict[str, tuple[str, str]]:
    """Digests of `paths` under the signer's serialization, computed by model_signing."""
    from model_signing import hashing

    if not paths:
        return {}
    ser = signed.serialization
    algorithm = HASHING_ALGORITHM.get(ser.get("hash_type"))
    if algorithm is None:
        raise MalformedBundleError(f"the signature uses an unknown hash type {ser.get('hash_type')!r}")
    config = hashing.Config()
    if ser.get("method") == "shards":
        config.use_shard_serialization(hashing_algorithm=algorithm, shard_size=int(ser["shard_size"]), allow_symlinks=True)
    else:
        config.use_file_serialization(hashing_algorithm=algorithm, allow_symlinks=True)
    manifest = config.hash(root, files_to_hash=[root / p for p in paths])
    return {rd.identifier: (rd.digest.algorithm, rd.digest.digest_hex) for rd in manifest.resource_descriptors()}


def compare_manifest(signed: SignedManifest, files: list, root: Path, signature_rel: str | None) -> Comparison:
    """Which files match the signature, which changed, which are missing, which are unsigned.

    `files` are the audit's `ModelFile`s; `signature_rel` the signature's path
    inside the model (excluded, like model_signing does), None when detached.
    """
    shards = signed.serialization.get("method") == "shards"
    fast = not shards and signed.serialization.get("hash_type") == "sha256"
    excluded = set(GIT_PATHS) | ({signature_rel} if signature_rel else set())
    signer_ignored = [str(p) for p in signed.serialization.get("ignore_paths") or []]
    present = {f.path: f for f in files if not _under(f.path, excluded)}
    expected = _group(signed.resources, shards)
    result = Comparison()

    digestible = {p for p in expected if p in present and (present[p].sha256 or (fast and present[p].hub_sha256))}
    result.unverifiable = sorted(p for p in expected if p in present and p not in digestible)
    unverifiable = set(result.unverifiable)
    if fast:
        actual = {p: {p: present[p].sha256 or present[p].hub_sha256} for p in digestible}
    else:
        actual = _group(_rehash(signed, root, sorted(p for p in digestible if present[p].downloaded)), shards)

    algorithm = signed.serialization.get("hash_type", "sha256")
    for path in sorted(expected):
        if path not in present:
            result.missing.append({"path": path, "algorithm": algorithm, "expected": _one(expected[path])})
        elif path in unverifiable:
            continue
        elif actual.get(path) == expected[path]:
            result.verified.append(path)
        else:
            got = actual.get(path, {})
            diff = sorted(i for i in set(expected[path]) | set(got) if expected[path].get(i) != got.get(i))
            result.changed.append(
                {
                    "path": path,
                    "algorithm": algorithm,
                    "expected": _one(expected[path]),
                    "actual": _one(got),
                    **({"shards_differing": len(diff), "shards_signed": len(expected[path])} if shards else {}),
                    "size": present[path].size,
                }
            )
    for path in sorted(set(present) - set(expected)):
        f = present[path]
        entry = {"path": path, "sha256": f.sha256 or f.hub_sha256, "size": f.size}
        if _under(path, signer_ignored):
            entry["ignored_by_signer"] = True
        result.unsigned.append(entry)
    return result


def _one(digests: dict[str, str]) -> str | dict[str, str] | None:
    """A file's digest, or its shard digests when sharded."""
    if not digests:
        return None
    if len(digests) == 1:
        return next(iter(digests.values()))
    return dict(sorted(digests.items()))
