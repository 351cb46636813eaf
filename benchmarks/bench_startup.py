#!/usr/bin/env python
"""How fast does `auditor scan` start? Whole-process wall time and peak RSS on a tiny pickle.

    python benchmarks/bench_startup.py                    # median of 7 runs, writes README_startup.md
    python benchmarks/bench_startup.py -n 15 --baseline ec3a4ec   # also the code at that commit

A pre-commit hook pays this on every commit, so what matters is the whole
process: interpreter, imports, policy and schema loading, the scan, signing and
writing report.json. Each run is a fresh process started through a small
wrapper that reports the wall time and `getrusage(RUSAGE_CHILDREN).ru_maxrss`
of exactly that one child. Byte-code caches are warmed first (as after
`pip install`), in a private cache folder. `picklescan` (if installed) is the
reference for a scanner that only walks pickle opcodes.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "README_startup.md"


def one(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS MiB, exit code, CPU seconds) of one fresh process running `cmd`."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
        "wall = time.perf_counter() - t\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps([wall, ru.ru_maxrss / 1024, rc, ru.ru_utime + ru.ru_stime]))\n"
    )
    res = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env, cwd=cwd, check=True)
    wall, rss, rc, cpu = json.loads(res.stdout)
    return wall, rss, rc, cpu


def measure(label: str, cmd: list[str], env: dict[str, str], cwd: str, n: int) -> dict:
    one(cmd, env, cwd)  # warm the byte-code and file caches
    runs = [one(cmd, env, cwd) for _ in range(n)]
    codes = sorted({r[2] for r in runs})
    return {
        "label": label,
        "wall_median_s": statistics.median(r[0] for r in runs),
        "wall_min_s": min(r[0] for r in runs),
        "rss_median_mib": statistics.median(r[1] for r in runs),
        "cpu_median_s": statistics.median(r[3] for r in runs),
        "exit": codes,
        "n": n,
    }


def export(ref: str, dest: Path) -> Path:
    """The tree of commit `ref` in `dest` (git archive; the working tree is not touched)."""
    data = subprocess.run(["git", "archive", "--format=tar", ref, "auditor", "policies"], cwd=ROOT, capture_output=True, check=True).stdout
    dest.mkdir(parents=True, exist_ok=True)
    tar = dest / "src.tar"
    tar.write_bytes(data)
    with tarfile.open(tar) as tf:
        tf.extractall(dest, filter="data")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=7, help="runs per command (median reported)")
    ap.add_argument("--baseline", help="also measure the code of this git commit")
    ap.add_argument("--output", type=Path, default=OUT)
    args = ap.parse_args()

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        tmp_path = Path(tmp)
        pkl = tmp_path / "tiny.pkl"
        pkl.write_bytes(pickle.dumps({"abc": 12345}, protocol=2))  # a plain dict, 20 bytes
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"), AUDITOR_CONFIG_DIR=str(tmp_path / "config"))
        trees = [("this tree", ROOT)]
        if args.baseline:
            trees.append((f"commit {args.baseline}", export(args.baseline, tmp_path / "baseline")))
        rows = []
        for name, tree in trees:
            tree_env = {**env, "PYTHONPATH": str(tree)}
            scan = [sys.executable, "-m", "auditor", "scan", str(pkl), "--output-dir", str(tmp_path / "out")]
            rows.append(measure(f"{name}: `auditor scan tiny.pkl --format json`", scan + ["--format", "json"], tree_env, tmp, args.n))
            rows.append(measure(f"{name}: `auditor scan tiny.pkl` (json + signed pdf)", scan, tree_env, tmp, args.n))
        rows.append(measure("`python -c pass` (interpreter floor)", [sys.executable, "-c", "pass"], env, tmp, args.n))
        picklescan = shutil.which("picklescan", path=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
        if picklescan:
            rows.append(measure("`picklescan -p tiny.pkl`", [picklescan, "-p", str(pkl)], env, tmp, args.n))
        size = pkl.stat().st_size

    lines = [
        "# Start-up cost of `auditor scan` (pre-commit hook path)",
        "",
        f"Produced by `python benchmarks/bench_startup.py -n {args.n}" + (f" --baseline {args.baseline}" if args.baseline else "")
        + f"` on {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f} at the start (a shared machine: wall times grow with the load; CPU time and peak RSS much less). "
        "Whole process, fresh each run, byte-code caches warm; "
        f"a {size}-byte pickle; median of {args.n} runs.",
        "",
        "| command | wall median (s) | wall min (s) | CPU median (s) | peak RSS median (MiB) | exit |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['wall_median_s']:.3f} | {r['wall_min_s']:.3f} | {r['cpu_median_s']:.3f} "
            f"| {r['rss_median_mib']:.0f} | {','.join(map(str, r['exit']))} |"
        )
    lines += [
        "",
        "What keeps the JSON-only scan fast (see `auditor/jsonschema_lite.py`, `auditor/report/writer.py`):",
        "jsonschema is imported without its optional format libraries (`rfc3987_syntax` compiled an IRI grammar",
        "at import: about a second), only the formats our schemas use are checked, the schemas are",
        "meta-validated by the tests instead of at every start, and reportlab/pyhanko load only when a PDF is",
        "written. `tests/test_ci_integrations.py` asserts that a JSON-only scan imports none of torch,",
        "transformers, reportlab, pyhanko, rfc3987_syntax, arrow or jinja2 (no timed assertions in tests).",
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
