"""Pull a model from a Hugging Face-compatible hub with huggingface_hub.

The revision is pinned to its full commit SHA first, and every file of that
commit is listed (with the hub's LFS digests) before anything is downloaded, so
the report names exactly what was audited even when some files are skipped.
Honours HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_OFFLINE.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from ..errors import (
    GatedRepoError,
    HubUnreachableError,
    ModelResolveError,
    RepoNotFoundError,
    RevisionNotFoundError,
)
from .model import ModelFile, ResolvedModel


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _translate(exc: Exception, repo_id: str, revision: str | None) -> ModelResolveError:
    """Map huggingface_hub / network errors onto our own, with a message a user can act on."""
    from huggingface_hub import errors as hf

    if isinstance(exc, hf.GatedRepoError):
        return GatedRepoError(f"{repo_id} is gated: request access on the hub and set HF_TOKEN")
    if isinstance(exc, hf.RevisionNotFoundError):
        return RevisionNotFoundError(f"{repo_id} has no revision {revision!r}")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return RepoNotFoundError(
            f"repository {repo_id!r} not found on {_endpoint()} (or it is private: set HF_TOKEN)"
        )
    if isinstance(exc, hf.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return GatedRepoError(f"not authorised to read {repo_id} (HTTP {status}): set HF_TOKEN")
        if status == 404:
            return RevisionNotFoundError(f"{repo_id}@{revision}: not found (HTTP 404)")
        return HubUnreachableError(f"hub error for {repo_id}: HTTP {status}: {str(exc).splitlines()[0]}")
    if isinstance(exc, (hf.OfflineModeIsEnabled, hf.LocalEntryNotFoundError)):
        return HubUnreachableError(
            f"{repo_id}@{revision or 'main'} is not in the local cache and HF_HUB_OFFLINE is set"
            if _offline()
            else f"cannot reach {_endpoint()} and {repo_id} is not cached: {exc}"
        )
    return HubUnreachableError(f"cannot reach the hub at {_endpoint()}: {type(exc).__name__}: {exc}")


def _endpoint_answers() -> bool:
    """Does anything answer HTTP at the endpoint? Tells 'hub down' from 'hub dropped this repo'."""
    import httpx

    try:
        httpx.get(_endpoint() + "/api/whoami-v2", timeout=5.0)
    except httpx.HTTPError:
        return False
    return True


def _model_info(api, repo_id: str, revision: str):
    """`model_info` with failures classified: repo missing, revision missing, gated, or hub down."""
    from huggingface_hub import errors as hf

    try:
        return api.model_info(repo_id, revision=revision, files_metadata=True)
    except hf.GatedRepoError:
        raise
    except Exception as exc:  # noqa: BLE001
        if revision != "main":
            # Some hub servers answer an unknown revision with a 401/404/500 for the repo;
            # if the default branch is readable, it is the revision that is missing.
            try:
                api.model_info(repo_id, revision="main")
            except Exception:  # noqa: BLE001
                pass
            else:
                raise RevisionNotFoundError(f"{repo_id} has no revision {revision!r}") from None
        if not isinstance(exc, hf.HfHubHTTPError) and _endpoint_answers():
            raise RepoNotFoundError(
                f"the hub at {_endpoint()} answers but could not serve {repo_id!r} "
                f"({type(exc).__name__}): the repository probably does not exist there"
            ) from None
        raise


def _list_remote(repo_id: str, revision: str | None) -> tuple[str, list[ModelFile]]:
    """Pin the revision to a commit SHA and list every file of it."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=_endpoint())
    info = _model_info(api, repo_id, revision or "main")
    if not info.sha or len(info.sha) != 40:
        raise ModelResolveError(f"the hub returned no commit SHA for {repo_id}@{revision}")
    files = []
    for s in info.siblings or []:
        lfs = getattr(s, "lfs", None)
        files.append(
            ModelFile(
                path=s.rfilename,
                size=int(s.size or (lfs.size if lfs else 0) or 0),  # 0 = not reported; set on download
                sha256=None,
                downloaded=False,
                hub_sha256=(lfs.sha256 if lfs else None),
            )
        )
    return info.sha, sorted(files, key=lambda f: f.path)


def resolve_hub(
    repo_id: str,
    revision: str | None = None,
    *,
    exclude: list[str] | None = None,
    manifest_limits: dict | None = None,
) -> ResolvedModel:
    """Download (or reuse from cache) a hub model pinned to a commit SHA."""
    from huggingface_hub import snapshot_download

    from ..scan.manifest import build_manifest

    exclude = list(exclude or [])
    remote_files: list[ModelFile] = []
    try:
        if _offline():
            sha = None
        else:
            sha, remote_files = _list_remote(repo_id, revision)
        # Download by the name the user gave, so the cache records the ref (offline
        # reruns can resolve it); the snapshot folder must be the commit we pinned.
        local = snapshot_download(
            repo_id,
            revision=revision or "main",
            ignore_patterns=exclude or None,
            endpoint=_endpoint(),
            local_files_only=_offline(),
        )
    except ModelResolveError:
        raise
    except Exception as exc:  # noqa: BLE001 — huggingface_hub and httpx raise many types
        raise _translate(exc, repo_id, revision) from None
    local_path = Path(local)
    if sha is None:  # offline: the snapshot folder is named by its commit SHA
        sha = local_path.name
    elif local_path.name != sha:
        raise ModelResolveError(
            f"{repo_id}@{revision or 'main'} moved from {sha} to {local_path.name} during the download; run the audit again"
        )
    downloaded = {f.path: f for f in build_manifest(local_path, manifest_limits or {})}
    files: list[ModelFile] = []
    for rf in remote_files or list(downloaded.values()):
        got = downloaded.pop(rf.path, None)
        if got is not None:
            got.hub_sha256 = rf.hub_sha256
            if rf.size and rf.size != got.size:
                raise ModelResolveError(f"{rf.path}: downloaded {got.size} bytes, the hub lists {rf.size}")
            if rf.hub_sha256 and got.sha256 and rf.hub_sha256 != got.sha256:
                raise ModelResolveError(
                    f"{rf.path}: downloaded sha256 {got.sha256} does not match the hub's {rf.hub_sha256}"
                )
            files.append(got)
        else:
            excluded = any(fnmatch.fnmatch(rf.path, p) for p in exclude)
            if not excluded:
                raise ModelResolveError(f"{repo_id}@{sha}: {rf.path} is listed by the hub but was not downloaded")
            files.append(rf)
    files.extend(downloaded.values())  # present locally but not listed (should not happen)
    return ResolvedModel(
        id=repo_id,
        path=local_path,
        source="hub",
        revision=sha,
        requested_revision=revision,
        files=sorted(files, key=lambda f: f.path),
        endpoint=_endpoint(),
    )
