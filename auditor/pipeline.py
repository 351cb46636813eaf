"""The audit, start to finish: resolve -> scan -> probe -> judge -> report.

`run_audit` returns the report dict (not yet written or signed); the CLI hands
it to `auditor.report.writer`. Nothing here touches the user's files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from . import __version__, reproducibility
from .checks.base import AuditContext, CheckResult
from .checks.registry import get_check
from .policy import Judgement, judge, load_policy
from .resolve import resolve
from .resolve.card import read_card


@dataclass
class AuditRequest:
    model: str
    revision: str | None = None
    policy_path: str | None = None
    seed: int = 0
    device: str = "auto"
    only_checks: list[str] | None = None  # e.g. ["static_scan"] for `auditor scan`
    exclude: list[str] | None = None
    require_model: bool = True
    argv: list[str] | None = None
    on_progress: Any = None  # callable(check_id, result|None)
    engine: str = "auto"  # generation engine: auto | transformers | vllm
    tensor_parallel: int = 1


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def run_audit(req: AuditRequest) -> tuple[dict[str, Any], Judgement]:
    from .settings import default_policy_path

    started = _now()
    policy = load_policy(req.policy_path or default_policy_path())
    scan_settings = policy.settings_for("static_scan")
    model = resolve(
        req.model,
        req.revision,
        exclude=req.exclude,
        manifest_limits=scan_settings.get("limits", {}),
        require_model=req.require_model,
    )
    ctx = AuditContext(
        model=model, seed=req.seed, device=req.device, engine=req.engine, tensor_parallel=req.tensor_parallel,
        probe_settings=policy.probe, policy_dir=policy.folder,
    )
    check_ids = policy.enabled_checks()
    if req.only_checks is not None:
        from .checks.registry import available
        from .errors import AuditorError

        unknown = [c for c in req.only_checks if c not in available()]
        if unknown:
            raise AuditorError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(available())}")
        check_ids = [c for c in check_ids if c in req.only_checks]
    results: list[CheckResult] = []
    for cid in check_ids:
        check = get_check(cid)
        if req.on_progress:
            req.on_progress(cid, None)
        if check.needs_weights and model.is_file:
            result = CheckResult(cid, "not_applicable", error=None, details={"reason": "a single file is not a loadable model"})
        else:
            result = check.execute(ctx, policy.settings_for(cid))
        results.append(result)
        if req.on_progress:
            req.on_progress(cid, result)

    judgement = judge(policy, results)
    model_dict = model.to_dict()
    card = read_card(model.path)
    if card:
        model_dict["card"] = card
    battery = ctx.shared.get("battery")
    device_used = ctx._lm.device if ctx._lm is not None else req.device
    report = {
        "schema_version": "1.0",
        "tool": {"name": "auditor", "version": __version__, "git_commit": reproducibility.tool_git_commit()},
        "verdict": judgement.verdict,
        "exit_code": judgement.exit_code,
        "started_at": started,
        "finished_at": _now(),
        "model": model_dict,
        "policy": policy.to_report(),
        "checks": [r.to_dict() for r in results],
        "findings": judgement.findings,
        "rule_results": judgement.rule_results,
        "errors": judgement.errors,
        **({"probe_coverage": ctx._probe_set.to_report()} if ctx._probe_set is not None else {}),
        "reproducibility": reproducibility.block(
            req.seed, device_used, policy.sha256, getattr(battery, "sha256", None), req.argv
        ),
    }
    if ctx._lm is not None:
        report["reproducibility"]["engine"] = ctx._lm.engine.info()
    return report, judgement
