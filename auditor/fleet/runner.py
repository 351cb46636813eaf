"""Run a fleet of audits as Ray tasks and sign one summary.

Each model is one Ray task (CPU and, where the cluster has GPUs, GPU needs
declared) running the same pipeline as `auditor audit`. The driver keeps at
most `workers` audits in flight, stops one that outlives its time budget,
writes and signs every report with one key into DIR/<slug>/, and then writes
the signed fleet summary. Local by default: a private Ray instance on this
machine (loopback only, no dashboard); `address` joins an existing cluster.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import AuditorError
from ..report.writer import resolve_signer, write_reports
from . import resume, summary
from .manifest import FleetJob, load_manifest, manifest_digest
from .task import audit_one

OBJECT_STORE_BYTES = 128 * 1024 * 1024  # tasks return report dicts (kilobytes); keep Ray's shared memory small


@dataclass
class FleetResult:
    exit_code: int
    summary: dict
    paths: dict[str, Path]


def _start_ray(address: str | None, workers: int | None):
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
    try:
        import ray
    except ImportError:
        raise AuditorError("auditor fleet needs Ray: pip install 'auditor[fleet]'") from None
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            import torch

            ray.init(
                address="local",
                num_cpus=workers or os.cpu_count() or 1,
                num_gpus=torch.cuda.device_count(),
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=OBJECT_STORE_BYTES,
                _node_ip_address="127.0.0.1",
            )
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
        raise AuditorError(f"cannot start Ray ({address or 'local'}): {type(exc).__name__}: {exc}") from None
    return ray


def _task_options(job: FleetJob, cluster_gpus: float) -> dict:
    if job.num_gpus is not None:
        gpus = job.num_gpus
    else:
        gpus = job.tensor_parallel if cluster_gpus and job.device in ("auto", "cuda") else 0
    return {"num_cpus": job.num_cpus, "num_gpus": gpus, "max_retries": 0}


def run_fleet(
    manifest_path: str | Path,
    output_dir: str | Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    key_path: str | Path | None = None,
    cert_path: str | Path | None = None,
    argv: list[str] | None = None,
    on_event: Callable[[str, FleetJob, dict | None], None] | None = None,
) -> FleetResult:
    """Audit every model of the manifest (skipping ones already done); exit code = the worst of the fleet."""
    started_at = summary.now_iso()
    manifest_path = Path(manifest_path)
    jobs = load_manifest(manifest_path)
    if workers is not None and workers < 1:
        raise AuditorError(f"--workers must be at least 1, got {workers}")
    out = Path(output_dir)
    key, cert, key_path = resolve_signer(Path(key_path) if key_path else None, Path(cert_path) if cert_path else None)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. the path is a file
        raise AuditorError(f"cannot create the output folder: {exc.strerror or exc}", path=str(out)) from None
    pub = key.public_key()
    notify = on_event or (lambda *_: None)

    entries: dict[str, dict] = {}
    todo: list[FleetJob] = []
    for job in jobs:
        found = resume.reusable(job, out / job.slug, pub)
        if found is None:
            todo.append(job)
            continue
        entries[job.slug] = summary.entry_for(job, found[0], found[1], reused=True)
        notify("reused", job, entries[job.slug])

    def record(job: FleetJob, result: dict) -> None:
        report, digest, error = result["report"], None, result["error"]
        if report is not None:
            try:
                write_reports(report, out / job.slug, job.formats, key_path, cert_path)
                digest = resume.signed_report(out / job.slug, pub)[1]
            except AuditorError as exc:
                report, error = None, f"cannot write the report: {exc}"
        entries[job.slug] = summary.entry_for(job, report, digest, duration_s=result["duration_s"], error=error)
        notify("done", job, entries[job.slug])

    if todo:
        _run_tasks(todo, address, workers, argv or [], record, notify)
    ordered = [entries[j.slug] for j in jobs]
    fleet = summary.build_summary(ordered, manifest_path.resolve(), manifest_digest(manifest_path), started_at, key)
    paths = summary.write_summary(fleet, out, key)
    return FleetResult(fleet["exit_code"], fleet, paths)


def _run_tasks(todo, address, workers, argv, record, notify) -> None:
    ray = _start_ray(address, workers)
    try:
        window = workers or int(ray.cluster_resources().get("CPU", 1))
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        remote = ray.remote(audit_one)
        queue, pending = list(todo), {}
        while queue or pending:
            while queue and len(pending) < window:
                job = queue.pop(0)
                ref = remote.options(**_task_options(job, cluster_gpus)).remote(job.to_dict(), argv)
                pending[ref] = (job, time.monotonic())
                notify("started", job, None)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                job, t0 = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a crashed worker is this model's error, not the fleet's
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    result = {"report": None, "error": f"the Ray task failed: {type(exc).__name__}: {first}",
                              "duration_s": time.monotonic() - t0}
                record(job, result)
            now = time.monotonic()
            for ref, (job, t0) in list(pending.items()):
                if now - t0 > job.time_budget_s:
                    ray.cancel(ref, force=True)
                    pending.pop(ref)
                    record(job, {"report": None, "duration_s": now - t0,
                                 "error": f"stopped: exceeded its time budget of {job.time_budget_s:g} s"})
    finally:
        ray.shutdown()


__all__ = ["FleetResult", "run_fleet"]
