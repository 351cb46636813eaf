"""One model's audit inside a Ray worker: exactly `auditor audit`'s pipeline,
returning the unsigned report so the driver writes and signs every report with
one key in one output folder (workers need neither)."""

from __future__ import annotations

import time


def audit_one(job: dict, argv: list[str]) -> dict:
    """{"report": dict | None, "error": str | None, "duration_s": float} for one FleetJob (as a dict)."""
    from ..errors import AuditorError
    from ..pipeline import AuditRequest, run_audit

    started = time.monotonic()
    request = AuditRequest(
        model=job["model"],
        revision=job["revision"],
        policy_path=job["policy_path"],
        seed=job["seed"],
        device=job["device"],
        only_checks=job["checks"],
        argv=argv,
        engine=job["engine"],
        tensor_parallel=job["tensor_parallel"],
    )
    report, error = None, None
    try:
        report, _judgement = run_audit(request)
    except AuditorError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken model must not stop the fleet
        error = f"internal error: {type(exc).__name__}: {exc}"
    return {"report": report, "error": error, "duration_s": round(time.monotonic() - started, 3)}
