"""Command-line interface. Exit codes: 0 pass (warnings included), 1 policy
violation, 2 error or incomplete audit — errors outrank findings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import AuditorError

err = Console(stderr=True, highlight=False)
FORMATS = ("json", "pdf", "sarif", "junit", "cyclonedx", "html")
VERDICT_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red", "error": "bold magenta"}


class Group(click.Group):
    """Turns expected errors into one line and exit 2; never a traceback unless AUDITOR_DEBUG=1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AuditorError as exc:
            err.print(f"[bold red]error:[/] {click.style(str(exc), fg=None)}", markup=True, soft_wrap=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001
            if os.environ.get("AUDITOR_DEBUG"):
                raise
            err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (set AUDITOR_DEBUG=1 for a traceback)")
            sys.exit(2)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="auditor")
def main() -> None:
    """Audit a language model for hidden backdoors before it is deployed."""


def _parse_formats(value: str) -> list[str]:
    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise click.BadParameter(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    if "json" not in formats:
        formats.insert(0, "json")  # report.json is the record every other artifact derives from
    return formats


_ETAS: dict[str, float] = {}  # the plan's seconds per check, for the progress lines
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def describe(result) -> tuple[str, str]:
    """What a check found, in words ("2 critical findings", "no findings"), and a style.

    Whether a finding violates the policy is the judge's call (the summary), so a
    check's line names what it saw rather than "fail"."""
    from .checks.base import SEVERITIES

    if result.status == "error":
        return f"error — {result.error}", "magenta"
    if result.status in ("skipped", "not_applicable"):
        why = (result.details or {}).get("reason")
        return result.status.replace("_", " ") + (f" — {why}" if why else ""), "yellow"
    if not result.findings:
        return "no findings", "green"
    counts = {s: sum(f.severity == s for f in result.findings) for s in reversed(SEVERITIES)}
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    top = next(s for s, n in counts.items() if n)
    noun = "finding" if len(result.findings) == 1 else "findings"
    return ", ".join(parts) + f" {noun}", SEVERITY_STYLE[top]


def _progress(check_id, result):
    if result is None:
        eta = f" (plan ~{_ETAS[check_id]:.0f}s)" if check_id in _ETAS else ""
        err.print(f"  running [bold]{check_id}[/]{eta} ...")
    else:
        text, style = describe(result)
        err.print(f"  {check_id}: [{style}]{text}[/] ({result.duration_s:.1f}s)", soft_wrap=True)


def _on_plan(display):
    """Print the plan's total and hand its per-stage times to the progress display."""
    from .plan import format_seconds

    def on_plan(plan):
        _ETAS.clear()
        _ETAS.update(plan.eta())
        if display is not None:
            display.etas.update(plan.eta())
        budget = f" within a budget of {format_seconds(plan.budget_seconds)}" if plan.budget_seconds else ""
        err.print(f"plan: ~{format_seconds(plan.total())}{budget} ({plan.throughput.source})")
        for key, cuts in plan.reductions.items():
            err.print(f"  budget: {key}: {'; '.join(cuts)}", soft_wrap=True)
        for cid, why in plan.skipped_checks.items():
            err.print(f"  budget: {cid}: {why}", soft_wrap=True)

    return on_plan


def _print_plan(plan, json_out) -> None:
    from .plan.render import plan_caption, plan_table

    if json_out == "-":
        click.echo(json.dumps(plan.to_dict(), indent=2, sort_keys=True))
        return
    err.print(plan_table(plan))
    err.print(plan_caption(plan), highlight=False)


def _summary(report: dict) -> None:
    verdict = report["verdict"]
    err.print(f"\nVerdict: [{VERDICT_STYLE[verdict]}]{verdict.upper()}[/] (exit {report['exit_code']})")
    model = report["model"]
    err.print(f"Model: {model['id']}" + (f" @ {model['revision']}" if model.get("revision") else ""))
    violated = [r for r in report["rule_results"] if r["status"] in ("violated", "error")]
    if violated:
        t = Table(title="Policy rules not met", show_lines=False)
        for col in ("rule", "status", "action", "message"):
            t.add_column(col)
        for r in violated:
            t.add_row(r["rule"], r["status"], r["action"], r["message"])
        err.print(t)
    if report["findings"]:
        t = Table(title=f"Findings ({len(report['findings'])})")
        for col in ("severity", "check", "title"):
            t.add_column(col)
        for f in report["findings"][:25]:
            t.add_row(f["severity"], f["check"], f["title"])
        err.print(t)
    for e in report["errors"]:
        err.print(f"[magenta]incomplete:[/] {e['stage']}: {e['message']}")


def _write(report: dict, output_dir: str, formats: list[str], key: str | None, cert: str | None) -> dict:
    from .report import keys
    from .report.writer import write_reports

    if key is None:
        key_path, created = keys.default_key()
        if created:
            err.print(f"created a signing key at {key_path} (public key beside it); keep it safe")
        else:
            err.print(f"signing with the default key {key_path}")
    else:
        key_path = Path(key)
    return write_reports(report, Path(output_dir), formats, key_path, Path(cert) if cert else None, pdf="pdf" in formats)


def _run(request, output_dir, formats, key, cert, json_out, replay=None):
    from . import progress
    from .pipeline import run_audit

    progress.quiet_libraries()
    display = progress.RichDisplay(err) if progress.wanted(json_out) else None
    request.on_plan = _on_plan(display)
    with progress.showing(display):
        report, judgement = run_audit(request)
    exit_code = judgement.exit_code
    if replay is not None:
        replay_mod, original, original_sha = replay
        diffs = replay_mod.compare(original, report)
        report["replay"] = {
            "original_report_sha256": original_sha,
            "original_finished_at": original["finished_at"],
            "matches": not diffs,
            "differences": diffs,
        }
    paths = _write(report, output_dir, formats, key, cert)
    _summary(report)
    if replay is not None:
        if report["replay"]["matches"]:
            err.print(f"[green]replay matches[/] the original report ({len(report['findings'])} findings)")
        else:
            err.print("[bold red]replay does not match[/] the original report:")
            for d in report["replay"]["differences"]:
                err.print(f"  - {d}")
            exit_code = 2  # not reproducible: the original audit cannot be relied on
    for name, p in paths.items():
        err.print(f"wrote {name}: {p}")
    if json_out == "-":
        summary = {
            "verdict": report["verdict"],
            "exit_code": report["exit_code"],
            "model": {"id": report["model"]["id"], "revision": report["model"].get("revision")},
            "findings": [
                {k: f.get(k) for k in ("id", "check", "rule", "severity", "title")} for f in report["findings"]
            ],
            "rule_results": [{k: r[k] for k in ("rule", "status", "action")} for r in report["rule_results"]],
            "errors": report["errors"],
            "artifacts": {k: str(v) for k, v in paths.items()},
        }
        if replay is not None:
            summary["replay"] = report["replay"]
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    sys.exit(exit_code)


_common = [
    click.option("--revision", default=None, help="Hub branch, tag or commit (hub models only)."),
    click.option("--policy", "policy_path", type=click.Path(dir_okay=False), default=None, help="Policy YAML (default: policies/default.yaml)."),
    click.option("--output-dir", default="audit-report", show_default=True, type=click.Path(file_okay=False)),
    click.option("--key", type=click.Path(dir_okay=False), default=None, help="Private signing key (default: one in the user config dir)."),
    click.option("--cert", type=click.Path(dir_okay=False), default=None, help="X.509 certificate for the PDF signature (default: beside the key)."),
    click.option("--format", "formats", default="json,pdf", show_default=True, help=f"Comma-separated: {', '.join(FORMATS)}."),
    click.option("--json", "json_out", type=click.Choice(["-"]), default=None, help="'-' prints a JSON summary on stdout."),
    click.option("--exclude", multiple=True, help="Hub files not to download (glob); still listed in the report."),
]


def common_options(fn):
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@main.command()
@click.argument("model", required=False)
@common_options
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda", "mps"]))
@click.option("--checks", "only", default=None, help="Run only these checks (comma-separated) of those the policy enables.")
@click.option("--engine", default="auto", show_default=True, type=click.Choice(["auto", "transformers", "vllm"]),
              help="Who generates text: auto = vLLM when CUDA and vLLM are present, else transformers.")
@click.option("--tensor-parallel", default=1, show_default=True, type=click.IntRange(min=1),
              help="GPUs to shard the vLLM engine over.")
@click.option("--replay", "replay_of", type=click.Path(), default=None,
              help="Rerun the audit recorded in this report.json (same revision, policy, seed, checks) and compare findings.")
@click.option("--plan", "plan_only", is_flag=True, default=False,
              help="Print each stage's estimated work, time and coverage (after a few seconds of calibration) and exit 0.")
@click.option("--time-budget", default=None, metavar="DURATION",
              help="Fit the audit into this time (90s, 15m, 1h30m): stages are scaled or skipped, coverage is reported. "
                   "Overrides the policy's budget.time.")
def audit(model, revision, policy_path, output_dir, key, cert, formats, json_out, exclude, seed, device, only,
          engine, tensor_parallel, replay_of, plan_only, time_budget):
    """Audit MODEL (hub id org/name[@rev] or local directory) and write signed reports."""
    from .pipeline import AuditRequest
    from .plan import parse_duration

    budget_s = parse_duration(time_budget) if time_budget is not None else None

    replay = None
    if replay_of:
        from . import replay as replay_mod

        if model or revision or policy_path or only:
            raise click.UsageError("--replay takes the model, revision, policy, seed and checks from the report")
        original, original_sha = replay_mod.load_original(replay_of)
        params = replay_mod.request_from(original)
        model, policy_path, seed, checks = params["model"], params["policy_path"], params["seed"], params["only_checks"]
        replay = (replay_mod, original, original_sha)
    elif not model:
        raise click.UsageError("MODEL is required (or --replay REPORT)")
    else:
        checks = [c.strip() for c in only.split(",")] if only else None
    req = AuditRequest(
        model=model, revision=revision, policy_path=policy_path, seed=seed, device=device,
        only_checks=checks, exclude=list(exclude), argv=sys.argv, on_progress=_progress, time_budget=budget_s,
        engine=engine, tensor_parallel=tensor_parallel,
    )
    if plan_only:
        from . import progress
        from .pipeline import plan_audit

        progress.quiet_libraries()
        _print_plan(plan_audit(req), json_out)
        sys.exit(0)
    _run(req, output_dir, _parse_formats(formats), key, cert, json_out, replay)


def _report_dir_for(output_dir: str, model: str, taken: set[str]) -> str:
    """A sub-folder of OUTPUT_DIR per scanned model when several are given (a pre-commit hook passes many files)."""
    name = model.strip("/").replace("/", "__").replace("\\", "__") or "model"
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return str(Path(output_dir) / candidate)


@main.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@common_options
def scan(models, revision, policy_path, output_dir, key, cert, formats, json_out, exclude):
    """Static supply-chain scan only: read every file of each MODEL (hub id, directory or single file), execute nothing.

    With several MODELs each gets its own report folder under --output-dir and
    the exit code is the worst of them (2 outranks 1 outranks 0).
    """
    from .pipeline import AuditRequest

    if len(models) > 1 and json_out:
        raise click.UsageError("--json - takes one MODEL; with several, read each report.json")
    taken: set[str] = set()
    worst = 0
    for model in models:
        req = AuditRequest(
            model=model, revision=revision, policy_path=policy_path, only_checks=["static_scan"],
            exclude=list(exclude), require_model=False, argv=sys.argv, on_progress=_progress,
        )
        out = output_dir if len(models) == 1 else _report_dir_for(output_dir, model, taken)
        if len(models) > 1:
            err.print(f"\n[bold]{model}[/]")
        try:
            _run(req, out, _parse_formats(formats), key, cert, json_out)
        except SystemExit as done:  # _run ends the process with the audit's exit code
            worst = max(worst, done.code if isinstance(done.code, int) else 2)
        except AuditorError as exc:  # one unreadable model must not hide the verdicts on the others
            if len(models) == 1:
                raise
            err.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
            worst = max(worst, exc.exit_code)
    sys.exit(worst)


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--output-dir", required=True, type=click.Path(file_okay=False), help="Reports go to DIR/<slug>/, the summary to DIR/fleet.*")
@click.option("--address", default=None, help="Ray cluster to join (default: a private local Ray, loopback only).")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Audits in flight at once (default: CPUs).")
@click.option("--key", type=click.Path(dir_okay=False), default=None, help="Private signing key (default: one in the user config dir).")
@click.option("--cert", type=click.Path(dir_okay=False), default=None, help="X.509 certificate for the PDF signatures.")
def fleet(manifest, output_dir, address, workers, key, cert):
    """Audit every model of MANIFEST (YAML) as Ray tasks; skip ones already audited; sign DIR/fleet.json."""
    from .fleet import run_fleet

    def show(event, job, entry):
        if event == "started":
            err.print(f"  auditing [bold]{job.model}[/] ...")
        else:
            style = VERDICT_STYLE[entry["verdict"]]
            note = " (reused)" if event == "reused" else f" ({entry['duration_s']:.1f}s)"
            extra = f" — {entry['error']}" if entry["error"] and entry["verdict"] == "error" else ""
            err.print(f"  {entry['id']}: [{style}]{entry['verdict'].upper()}[/]{note}{extra}")

    result = run_fleet(manifest, output_dir, address=address, workers=workers, key_path=key, cert_path=cert,
                       argv=sys.argv, on_event=show)
    counts = result.summary["counts"]
    err.print(f"\nFleet: exit {result.exit_code} — " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for name, path in result.paths.items():
        err.print(f"wrote {name}: {path}")
    sys.exit(result.exit_code)


@main.group()
def policy() -> None:
    """Work with policy files."""


@policy.command("check")
@click.argument("file", type=click.Path())
def policy_check(file):
    """Validate a policy file, printing each error with its path in the file."""
    from .policy import load_policy

    p = load_policy(file)
    enabled = ", ".join(p.enabled_checks()) or "none"
    click.echo(f"{file}: valid policy {p.name!r} ({len(p.rules)} rules, {len(p.waivers)} waivers; checks: {enabled})")


def _register_report_commands() -> None:
    try:
        from .report import commands
    except ImportError:  # pragma: no cover - report package missing is a broken install
        return
    for name in ("verify", "keygen", "diff"):
        cmd = getattr(commands, name, None)
        if cmd is not None:
            main.add_command(cmd, name)


_register_report_commands()
