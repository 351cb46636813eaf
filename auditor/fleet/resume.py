"""Skip what is already done: a model whose signed report in the output folder
was made by this tool version, under the same policy digest, for the same
revision (hub: pinned commit; local folder: content digest), and finished
(exit 0 or 1), is not audited again. Resume after a crash or a new catalogue
entry costs only the missing audits; anything doubtful is re-audited."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import AuditorError, SignatureError
from ..report import dsse
from ..report.writer import ENVELOPE, REPORT_JSON
from .manifest import FleetJob

SHA_RE = re.compile(r"^[0-9a-f]{40}$")


def signed_report(folder: Path, pub) -> tuple[dict, str] | None:
    """(report, sha256 of report.json) when report.json is covered by a valid signature of `pub`, else None."""
    try:
        envelope = json.loads((folder / ENVELOPE).read_text(encoding="utf-8"))
        _type, payload = dsse.verify_envelope(envelope, pub)
        subjects = {s["name"]: s["digest"]["sha256"] for s in json.loads(payload)["subject"]}
        raw = (folder / REPORT_JSON).read_bytes()
    except (OSError, ValueError, KeyError, TypeError, SignatureError):
        return None
    digest = hashlib.sha256(raw).hexdigest()
    if subjects.get(REPORT_JSON) != digest:
        return None
    try:
        report = json.loads(raw)
    except ValueError:
        return None
    return (report, digest) if isinstance(report, dict) else None


def current_identity(job: FleetJob) -> dict[str, str | None] | None:
    """What the model is now: {"revision": pinned commit} for hub models, {"digest": ...} for local ones.

    None when it cannot be told cheaply and surely (hub unreachable, unreadable folder).
    """
    from ..policy import load_policy
    from ..resolve import parse_reference

    try:
        ref = parse_reference(job.model, job.revision)
        if ref.kind == "local":
            from ..resolve import resolve

            limits = load_policy(job.policy_path).settings_for("static_scan").get("limits", {})
            model = resolve(job.model, job.revision, manifest_limits=limits, require_model=False)
            return {"digest": model.to_dict()["digest"]["sha256"]}
        if ref.revision and SHA_RE.match(ref.revision):
            return {"revision": ref.revision}
        from ..resolve.hub import _list_remote  # pins a branch/tag to its commit without downloading

        sha, _files = _list_remote(ref.value, ref.revision)
        return {"revision": sha}
    except AuditorError:
        return None


def expected_checks(job: FleetJob) -> list[str]:
    """The checks an audit of `job` runs: the policy's enabled ones, narrowed by the manifest."""
    from ..policy import load_policy

    enabled = load_policy(job.policy_path).enabled_checks()
    return sorted(c for c in enabled if job.checks is None or c in job.checks)


def reusable(job: FleetJob, folder: Path, pub) -> tuple[dict, str] | None:
    """The previous (report, digest) for `job` when it may stand in for a new audit."""
    found = signed_report(folder, pub)
    if found is None:
        return None
    report, digest = found
    try:
        same_run = (
            report["tool"]["version"] == __version__
            and report["policy"]["sha256"] == job.policy_sha256
            and report["exit_code"] in (0, 1)
            and report["reproducibility"]["seed"] == job.seed
        )
    except (KeyError, TypeError):
        return None
    if not same_run or sorted(c.get("id") for c in report.get("checks", [])) != expected_checks(job):
        return None
    now = current_identity(job)
    if now is None:
        return None
    model: dict[str, Any] = report.get("model") or {}
    if "revision" in now and model.get("revision") != now["revision"]:
        return None
    if "digest" in now and (model.get("digest") or {}).get("sha256") != now["digest"]:
        return None
    return report, digest
