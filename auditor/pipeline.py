"""The audit, start to finish: resolve -> scan -> probe -> judge -> report.

`run_audit` returns the report dict (not yet written or signed); the CLI hands
it to `auditor.report.writer`. Nothing here touches the user's files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from . import __version__, reproducibility
from .checks.base import AuditContext, CheckResult, deep_merge
from .checks.registry import get_check
from .policy import Judgement, judge, load_policy
from .resolve import resolve
from .plan.record import coverage, plan_block
from .resolve.card import read_card
from .search.budget import peak_memory_mb


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
    time_budget: float | None = None  # seconds (--time-budget); overrides the policy's budget.time
    on_plan: Any = None  # callable(plan) once the plan is priced, before any check runs


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _prepare(req: AuditRequest):
    """Policy, resolved model, context and the checks to run."""
    from .settings import default_policy_path

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
    return policy, model, ctx, check_ids


def _budget_seconds(req: AuditRequest, policy) -> float | None:
    from .plan import parse_duration

    if req.time_budget is not None:
        return float(req.time_budget)
    return parse_duration(policy.budget["time"]) if policy.budget.get("time") is not None else None


def plan_audit(req: AuditRequest):
    """The plan alone (`auditor audit --plan`): weights loaded and calibrated, no check run."""
    from .plan import build_plan

    t0 = time.perf_counter()
    policy, _, ctx, check_ids = _prepare(req)
    budget = _budget_seconds(req, policy)
    return build_plan(ctx, policy, check_ids, budget, spent=time.perf_counter() - t0)


def _plan_for(req: AuditRequest, ctx, policy, check_ids, t0: float):
    """The plan, priced before any check runs. Asked for (a budget): its failure is an
    error. Not asked for: the audit runs as configured and the report says why there is no plan."""
    from .plan import build_plan

    budget = _budget_seconds(req, policy)
    try:
        plan = build_plan(ctx, policy, check_ids, budget, spent=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 — the estimate must never stop an unbudgeted audit
        if budget is not None:
            raise
        return None, {"error": f"{type(exc).__name__}: {exc}", "stages": [], "actual": []}
    if req.on_plan:
        req.on_plan(plan)
    return plan, None


def _keep_to_budget(plan, policy, ctx, done: list[CheckResult], remaining: list[str], seconds_left: float) -> None:
    """Between checks: when the audit runs behind its plan, or persistence now has confirmed
    triggers to price, fit what is left into the time left."""
    from .plan.build import replan

    est = sum(plan.seconds_for(r.id) for r in done)
    actual = sum(r.duration_s for r in done)
    slowdown = min(4.0, max(1.0, actual / est)) if est > 1.0 else 1.0
    ahead = sum(plan.seconds_for(c) for c in remaining) * slowdown
    triggers = len(ctx.shared.get("triggers", []))
    built = ctx._probe_set is not None
    if plan.env is not None and "persistence" in remaining and triggers and plan.env.n_triggers != triggers:
        plan.env.n_triggers = triggers
        replan(plan, policy, remaining, seconds_left, slowdown, built)
    elif ahead > seconds_left * 1.05:
        replan(plan, policy, remaining, seconds_left, slowdown, built)


def run_audit(req: AuditRequest) -> tuple[dict[str, Any], Judgement]:
    t0 = time.perf_counter()
    started = _now()
    policy, model, ctx, check_ids = _prepare(req)
    plan, plan_error = _plan_for(req, ctx, policy, check_ids, t0)
    if plan is not None and plan.overrides.get("probe_coverage"):
        # the probe set every behavioural check shares, scaled to the budget
        ctx.probe_settings = deep_merge(ctx.probe_settings or {}, plan.overrides["probe_coverage"])
    peaks: dict[str, float | None] = {}
    results: list[CheckResult] = []
    for i, cid in enumerate(check_ids):
        check = get_check(cid)
        if plan is not None and plan.budget_seconds is not None and results:
            _keep_to_budget(plan, policy, ctx, results, check_ids[i:], plan.budget_seconds - (time.perf_counter() - t0))
        if req.on_progress:
            req.on_progress(cid, None)
        if check.needs_weights and model.is_file:
            result = CheckResult(cid, "not_applicable", error=None, details={"reason": "a single file is not a loadable model"})
        elif plan is not None and cid in plan.skipped_checks:
            result = CheckResult(cid, "skipped", details={"reason": plan.skipped_checks[cid]})
        else:
            overrides = plan.overrides.get(cid, {}) if plan is not None else {}
            result = check.execute(ctx, deep_merge(policy.settings_for(cid), overrides))
        peaks[cid] = peak_memory_mb()
        if plan is not None:
            result.details["coverage"] = coverage(result, plan)
        results.append(result)
        if req.on_progress:
            req.on_progress(cid, result)

    judgement = judge(policy, results)
    if plan is not None and judgement.verdict == "pass" and (plan.skipped_checks or any(
            "skipped" in " ".join(r) for r in plan.reductions.values())):
        # Something the policy asks for was left out to fit the budget: never a plain pass.
        judgement = dataclasses.replace(judgement, verdict="warn")
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
        "plan": plan_block(plan, results, peaks) if plan is not None else plan_error,
        "reproducibility": reproducibility.block(
            req.seed, device_used, policy.sha256, getattr(battery, "sha256", None), req.argv
        ),
    }
    if ctx._lm is not None:
        report["reproducibility"]["engine"] = ctx._lm.engine.info()
    return report, judgement
