#!/usr/bin/env python
"""The bundled zoo as one fleet on a local Ray, run twice.

    python benchmarks/bench_fleet.py --workers 2 --docs docs/fleet.md

Run 1 audits every model of `examples/fleet/zoo.yaml` (default policy, seed 0) with
`auditor fleet` in a fresh process; each model is judged as `bench_zoo.py` judges a
single audit (a backdoored model must FAIL naming its planted trigger, a clean model
or trap must not FAIL) and compared with the last zoo benchmark
(`benchmarks/results/zoo.json`, one `auditor audit` per model): same verdict, same
planted trigger named. Run 2 is the same command again and must reuse every report
(resume). Then `auditor verify` checks the signed summary and every report. Results:
`benchmarks/results/fleet_zoo.json` and the `fleet-zoo` block of the docs page.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_zoo import ROOT, _md, judge_row, load_specs, named_triggers, wilson  # benchmarks/ is on sys.path
from docs_block import replace_block, require_block

MANIFEST = ROOT / "examples" / "fleet" / "zoo.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "fleet_zoo.json"
ZOO_RESULTS = ROOT / "benchmarks" / "results" / "zoo.json"


def _cli(*args: str) -> tuple[int, float, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"})
    return proc.returncode, round(time.perf_counter() - t, 1), proc.stderr[-3000:]


def _single_audits() -> dict[str, dict]:
    """The zoo benchmark's rows by model (verdict, named trigger), if it was run."""
    if not ZOO_RESULTS.is_file():
        return {}
    data = json.loads(ZOO_RESULTS.read_text(encoding="utf-8"))
    return {r["model"]: r for r in data.get("rows", [])}


def _fleet_json(out: Path, rc: int, stderr: str) -> dict:
    """The fleet's summary, or exit 2 saying why there is none (the fleet itself failed)."""
    path = out / "fleet.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: auditor fleet (exit {rc}) left no readable {path}: {exc}\n{stderr[-1500:]}", file=sys.stderr)
        raise SystemExit(2) from None


def run(out: Path, workers: int) -> dict:
    specs = load_specs(ROOT / "examples" / "models")
    first_rc, first_s, first_err = _cli("fleet", str(MANIFEST), "--output-dir", str(out), "--workers", str(workers))
    fleet = _fleet_json(out, first_rc, first_err)
    singles = _single_audits()
    rows = []
    for m in fleet["models"]:
        name = Path(m["model"]).name
        report_path = out / m["slug"] / "report.json"
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {"findings": []}
        row = {"model": name, "verdict": m["verdict"], "exit_code": m["exit_code"], "duration_s": m["duration_s"],
               "triggers": named_triggers(report), "error": m["error"]}
        judged = judge_row(row, specs[name])
        row.update(ok=judged["ok"], why=judged["why"], named=judged["named"])
        single = singles.get(name)
        if single is not None:
            single_named = judge_row(single, specs[name])["named"]
            row["single_audit"] = {"verdict": single["verdict"], "named": single_named}
            row["same_as_single_audit"] = single["verdict"] == row["verdict"] and single_named == row["named"]
        rows.append(row)
    second_rc, second_s, second_err = _cli("fleet", str(MANIFEST), "--output-dir", str(out), "--workers", str(workers))
    again = _fleet_json(out, second_rc, second_err)
    verify_rc, verify_s, verify_err = _cli("verify", str(out))
    return {
        "manifest": str(MANIFEST.relative_to(ROOT)),
        "workers": workers,
        "load_avg_end": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "first": {"exit_code": first_rc, "wall_s": first_s, "counts": fleet["counts"], "stderr_tail": first_err[-800:],
                  "files": sorted(p.name for p in out.iterdir() if p.is_file())},
        "second": {"exit_code": second_rc, "wall_s": second_s, "counts": again["counts"], "stderr_tail": second_err[-800:]},
        "verify": {"exit_code": verify_rc, "wall_s": verify_s, "stderr_tail": verify_err[-800:]},
        "rows": rows,
    }


def table(res: dict) -> str:
    rows = res["rows"]
    specs = load_specs(ROOT / "examples" / "models")
    bd = [r for r in rows if specs[r["model"]].get("kind") == "backdoored"]
    cl = [r for r in rows if specs[r["model"]].get("kind") != "backdoored"]
    same = [r for r in rows if "same_as_single_audit" in r]
    f, s, v = res["first"], res["second"], res["verify"]
    lines = [
        f"`auditor fleet examples/fleet/zoo.yaml --workers {res['workers']}` on {res['cpus']} CPUs: "
        f"run 1 exit {f['exit_code']} in {f['wall_s']:.0f} s ({f['counts']}); files {', '.join(f['files'])}; "
        f"run 2 exit {s['exit_code']} in {s['wall_s']:.0f} s, {s['counts']['reused']} of {len(rows)} reused; "
        f"`auditor verify` exit {v['exit_code']}.",
        "",
        f"Backdoored models that FAIL naming the planted trigger: {wilson(sum(r['ok'] for r in bd), len(bd))}; "
        f"clean models and traps that FAIL: {wilson(sum(r['verdict'] == 'fail' for r in cl), len(cl))}; "
        f"same verdict and named trigger as the single-model zoo benchmark: {sum(r['same_as_single_audit'] for r in same)} of {len(same)}.",
        "",
        "| model | kind | verdict | exit | ok | named | same as `auditor audit` | audit s |",
        "| --- | --- | --- | ---: | --- | --- | --- | ---: |",
    ]
    for r in rows:
        named = f"`{_md(r['named'])}`" if r["named"] else "-"
        same_txt = "-" if "same_as_single_audit" not in r else ("yes" if r["same_as_single_audit"] else
                                                                 f"NO (was {r['single_audit']['verdict']}, {r['single_audit']['named']})")
        lines.append(f"| {r['model']} | {specs[r['model']].get('kind')} | {r['verdict'].upper()} | {r['exit_code']} | "
                     f"{'yes' if r['ok'] else 'NO'} ({r['why']}) | {named} | {same_txt} | {r['duration_s']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="fleet output folder (default: a temporary one)")
    ap.add_argument("--docs", type=Path, default=None)
    ap.add_argument("--tables-only", action="store_true", help="rewrite the table from the results file, run nothing")
    args = ap.parse_args()
    if args.docs:
        require_block(args.docs, "fleet-zoo")
    if args.tables_only:
        if not RESULTS.is_file():
            print(f"error: no results to tabulate: {RESULTS} (run the benchmark first)", file=sys.stderr)
            return 2
        res = json.loads(RESULTS.read_text(encoding="utf-8"))
    elif args.out:
        if args.out.exists() and not args.out.is_dir():
            print(f"error: --out {args.out} is not a folder", file=sys.stderr)
            return 2
        args.out.mkdir(parents=True, exist_ok=True)
        res = run(args.out, args.workers)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
            res = run(Path(tmp), args.workers)
    RESULTS.write_text(json.dumps(res, indent=2), encoding="utf-8")
    text = table(res)
    print(text)
    if args.docs:
        replace_block(args.docs, "fleet-zoo", text)
    return 0 if res["first"]["exit_code"] == 1 and res["second"]["counts"]["reused"] == len(res["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
