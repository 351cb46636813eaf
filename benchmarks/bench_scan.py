#!/usr/bin/env python3
"""Benchmark the static scanner against picklescan / modelscan / modelaudit: detection, speed, memory, hashing.

    python benchmarks/bench_scan.py                       # corpus + big files + hashing
    python benchmarks/bench_scan.py --tools-python /tmp/benchvenv/bin/python --markdown out.md

External tools are optional and never installed into the project venv: point `--tools-python` at
another interpreter that has them (e.g. `python -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip
install picklescan modelscan modelaudit`). Every scan of a big file runs in its own subprocess so
its peak RSS (ru_maxrss from wait4) is measured alone. Generated files live in a temp dir under
/tmp and are deleted at the end. Nothing is ever unpickled.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpora" / "static"
TOOLS = ("auditor", "picklescan", "modelscan", "modelaudit")
QUIET_ENV = {"PROMPTFOO_DISABLE_TELEMETRY": "1", "MODELAUDIT_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
             "POSTHOG_DISABLED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


# -- child mode: runs inside the interpreter that has the tool; prints one JSON line per file ---------
def _child(tool: str, files: list[str], warm: bool = False) -> None:
    import contextlib
    import io

    os.chdir(tempfile.gettempdir())

    if tool == "auditor":
        sys.path.insert(0, str(REPO))
        from auditor.scan import scan_path

        def run(p):
            r = scan_path(p)
            sev = r.max_severity()
            return {"flagged": sev in ("high", "critical"), "max": sev, "errors": len(r.errors)}
    elif tool == "picklescan":
        from picklescan.scanner import scan_file_path

        def run(p):
            r = scan_file_path(p)
            return {"flagged": r.infected_files > 0, "max": "dangerous" if r.infected_files else None,
                    "errors": int(bool(r.scan_err))}
    elif tool == "modelscan":
        from modelscan.modelscan import ModelScan

        def run(p):
            r = ModelScan().scan(p)
            sevs = {i.get("severity") for i in r.get("issues", [])}
            return {"flagged": bool(sevs & {"HIGH", "CRITICAL"}), "max": ",".join(sorted(s for s in sevs if s)) or None,
                    "errors": len(r.get("errors", []))}
    elif tool == "modelaudit":
        from modelaudit.core import scan_model_directory_or_file

        def run(p):
            r = scan_model_directory_or_file(p)
            sevs = {str(getattr(i.severity, "value", i.severity)).lower() for i in (r.issues or [])}
            return {"flagged": "critical" in sevs, "max": ",".join(sorted(sevs)) or None,
                    "errors": int(bool(getattr(r, "has_errors", False)))}
    else:
        raise SystemExit(f"unknown tool {tool}")
    if warm:  # load lazily imported modules first, so only the scan itself is timed
        fd, tiny = tempfile.mkstemp(suffix=".pkl")
        os.write(fd, b"\x80\x04K\x01.")
        os.close(fd)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                run(tiny)
            except Exception:  # noqa: BLE001
                pass
        os.unlink(tiny)
    for p in files:
        t = time.perf_counter()
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                out = run(p)
        except Exception as e:  # noqa: BLE001 — a tool crash is a result too
            out = {"flagged": False, "max": None, "errors": 1, "crash": f"{type(e).__name__}: {str(e)[:100]}"}
        out.update(file=p, seconds=time.perf_counter() - t)
        print(json.dumps(out), flush=True)


def _spawn(python: str, tool: str, files: list[str], timeout: float) -> tuple[list[dict], float, bool]:
    """Run one child over many files; return (results, wall seconds, timed_out)."""
    env = {**os.environ, **QUIET_ENV}
    t = time.perf_counter()
    p = subprocess.Popen([python, str(Path(__file__).resolve()), "--child", tool, *files], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir())
    timed_out = False
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        timed_out = True
    wall = time.perf_counter() - t
    results = []
    for line in out.decode(errors="replace").splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            pass
    return results, wall, timed_out


def _spawn_measured(python: str, tool: str, file: str, timeout: float) -> dict:
    """One file, one process started with posix_spawn (no copy of this process's memory), peak RSS from wait4."""
    env = {**os.environ, **QUIET_ENV}
    with tempfile.TemporaryFile() as out:
        devnull = os.open(os.devnull, os.O_WRONLY)
        t = time.perf_counter()
        pid = os.posix_spawn(python, [python, str(Path(__file__).resolve()), "--warm", "--child", tool, file], env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
        os.close(devnull)
        while True:
            done, _status, ru = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() - t > timeout:
                os.kill(pid, 9)
                _, _status, ru = os.wait4(pid, 0)
                return {"tool": tool, "file": file, "timeout": True, "wall": timeout, "rss_mb": ru.ru_maxrss / 1024}
            time.sleep(0.02)
        wall = time.perf_counter() - t
        out.seek(0)
        lines = [json.loads(x) for x in out.read().decode(errors="replace").splitlines() if x.startswith("{")]
    res = lines[0] if lines else {"crash": "no output"}
    return {"tool": tool, "file": file, "wall": wall, "seconds": res.get("seconds"), "rss_mb": ru.ru_maxrss / 1024,
            "flagged": res.get("flagged"), "crash": res.get("crash")}


# -- corpus ------------------------------------------------------------------------------------------
def bench_corpus(pythons: dict[str, str], timeout: float) -> list[str]:
    rows = [line.split("\t") for line in (CORPUS / "labels.tsv").read_text().splitlines() if line.strip()]
    files = [str(CORPUS / p) for p, _ in rows]
    label = {str(CORPUS / p): lab for p, lab in rows}
    n = {k: sum(1 for v in label.values() if v == k) for k in ("mal", "susp", "benign")}
    lines = ["| tool | mal detected | susp flagged | benign false alarms | tool errors/crashes | corpus time (s) |",
             "| --- | --- | --- | --- | --- | --- |"]
    missed: dict[str, list[str]] = {}
    for tool, py in pythons.items():
        results, wall, timed_out = _spawn(py, tool, files, timeout)
        by = {r["file"]: r for r in results}
        mal = sum(1 for f, lab in label.items() if lab == "mal" and by.get(f, {}).get("flagged"))
        susp = sum(1 for f, lab in label.items() if lab == "susp" and by.get(f, {}).get("flagged"))
        fp = sum(1 for f, lab in label.items() if lab == "benign" and by.get(f, {}).get("flagged"))
        errs = sum(1 for r in results if r.get("errors") or r.get("crash"))
        missed[tool] = [os.path.relpath(f, CORPUS) for f, lab in label.items() if lab == "mal" and not by.get(f, {}).get("flagged")]
        note = " (timed out)" if timed_out else ""
        lines.append(f"| {tool} | {mal}/{n['mal']} | {susp}/{n['susp']} | {fp}/{n['benign']} | {errs} | {wall:.1f}{note} |")
    print("\n".join(lines))
    for tool, m in missed.items():
        if m:
            print(f"  {tool} missed: {', '.join(m[:12])}{' …' if len(m) > 12 else ''}")
    return lines


# -- big files ---------------------------------------------------------------------------------------
BIG_NAMES = {"safetensors": "big.safetensors", "torch zip": "big_zip.pt", "torch legacy": "big_legacy.pt",
             "numpy pickle": "big_numpy.pkl", "11M-opcode pickle": "big_ops.pkl"}


def make_big(dirpath: Path, mb: int) -> dict[str, Path]:
    """Generate the files in a subprocess so this process never holds (or forks) 100 MB arrays."""
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--make-big", str(dirpath), str(mb)], check=True)
    return {k: dirpath / v for k, v in BIG_NAMES.items()}


def _make_big_child(dirpath: Path, mb: int) -> None:
    import pickle

    import numpy as np
    import torch
    from safetensors.numpy import save_file

    n = mb * (1 << 20) // 4
    a = np.random.default_rng(0).random(n, dtype=np.float32)
    files = {k: dirpath / v for k, v in BIG_NAMES.items()}
    save_file({"w": a}, files["safetensors"])
    torch.save({"w": torch.from_numpy(a)}, files["torch zip"])
    torch.save({"w": torch.from_numpy(a)}, files["torch legacy"], _use_new_zipfile_serialization=False)
    with open(files["numpy pickle"], "wb") as f:
        pickle.dump({"w": a}, f, protocol=4)
    with open(files["11M-opcode pickle"], "wb") as f:
        pickle.dump(list(range(11_000_000)), f, protocol=4)


PICKLE_KINDS = ("torch zip", "torch legacy", "numpy pickle", "11M-opcode pickle")


def bench_big(pythons: dict[str, str], files: dict[str, Path], timeout: float) -> list[str]:
    lines = ["| file | size (MB) | tool | scan time (s) | MB/s | peak RSS (MB) | wall incl. startup (s) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    speed: dict[tuple[str, str], float] = {}
    for kind, path in files.items():
        size = path.stat().st_size / 1e6
        for tool, py in pythons.items():
            if tool == "picklescan" and kind not in PICKLE_KINDS:
                continue
            r = _spawn_measured(py, tool, str(path), timeout)
            if r.get("timeout"):
                lines.append(f"| {kind} | {size:.0f} | {tool} | timeout (>{timeout:.0f}) | - | {r['rss_mb']:.0f} | - |")
                print(lines[-1], flush=True)
                continue
            sec = r.get("seconds") or float("nan")
            speed[(kind, tool)] = sec
            crash = f" ({r['crash']})" if r.get("crash") else ""
            secs = f"{sec:.4f}" if sec < 0.1 else f"{sec:.2f}"
            lines.append(f"| {kind} | {size:.0f} | {tool}{crash} | {secs} | {size / sec:,.0f} | {r['rss_mb']:.0f} | {r['wall']:.2f} |")
            print(lines[-1], flush=True)
    ratios = []
    for kind in PICKLE_KINDS:
        if (kind, "auditor") in speed and (kind, "picklescan") in speed:
            ratios.append(f"{kind}: {speed[(kind, 'picklescan')] / speed[(kind, 'auditor')]:.1f}x")
    if ratios:
        lines.append("")
        lines.append("Pickle scanning speed-up over picklescan (in-process scan time): " + ", ".join(ratios))
    return lines


def bench_hash(files: dict[str, Path]) -> list[str]:
    sys.path.insert(0, str(REPO))
    from auditor.scan.manifest import sha256_file

    lines = ["| file | size (MB) | sha256_file MB/s | sha256sum MB/s | ratio |", "| --- | --- | --- | --- | --- |"]
    have = shutil.which("sha256sum")
    for kind, path in files.items():
        size = path.stat().st_size / 1e6
        ours = min(_timed(lambda: sha256_file(path)) for _ in range(3))
        theirs = min(_timed(lambda: subprocess.run([have, str(path)], check=True, stdout=subprocess.DEVNULL)) for _ in range(3)) if have else None
        ratio = f"{theirs / ours:.2f}" if theirs else "-"
        lines.append(f"| {kind} | {size:.0f} | {size / ours:.0f} | {size / theirs:.0f} | {ratio} |" if theirs else
                     f"| {kind} | {size:.0f} | {size / ours:.0f} | - | - |")
    return lines


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--make-big", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--tools-python", default=None,
                    help="interpreter with picklescan/modelscan/modelaudit installed (default: /tmp/benchvenv/bin/python if present)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--big-mb", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.child[1:], warm=args.warm)
        return
    if args.make_big:
        _make_big_child(Path(args.make_big[0]), int(args.make_big[1]))
        return
    tools_py = args.tools_python or ("/tmp/benchvenv/bin/python" if Path("/tmp/benchvenv/bin/python").exists() else None)
    pythons = {"auditor": sys.executable}
    for tool in ("picklescan", "modelscan", "modelaudit"):
        if tool in args.tools.split(",") and tools_py:
            ok = subprocess.run([tools_py, "-c", f"import {tool}"], capture_output=True).returncode == 0
            if ok:
                pythons[tool] = tools_py
    print(f"tools: {', '.join(pythons)}; cpus: {os.cpu_count()}; load: {os.getloadavg()[0]:.1f}")
    out = [f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; python {sys.version.split()[0]}", ""]
    if not args.skip_corpus and (CORPUS / "labels.tsv").is_file():
        out += ["### Corpus detection", ""] + bench_corpus(pythons, args.timeout) + [""]
    if not args.skip_big:
        tmp = Path(tempfile.mkdtemp(prefix="bench_scan_", dir="/tmp"))
        try:
            files = make_big(tmp, args.big_mb)
            out += ["### Large files", ""] + bench_big(pythons, files, args.timeout) + [""]
            hash_lines = bench_hash(files)
            print("\n".join(hash_lines))
            out += ["### Hashing", ""] + hash_lines + [""]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.markdown:
        args.markdown.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
