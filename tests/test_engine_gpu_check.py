"""benchmarks/gpu_check.sh without a GPU: it parses, its dry run lists every step
and writes the plan, and the zoo fleet manifest it generates is a valid manifest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from auditor.fleet import load_manifest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
STEPS = ("environment", "zoo_fleet_cuda", "vllm_agreement", "make_random_qwen", "qwen_audit_transformers", "qwen_audit_vllm")


def test_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_dry_run_prints_every_step_and_writes_the_plan(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--quick", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    printed = [line.split()[1] for line in res.stdout.splitlines() if line.startswith("[dry-run] ")]
    assert printed == list(STEPS)
    plan = (tmp_path / "gpu_check.md").read_text()
    assert all(f"## {s}" in plan for s in STEPS) and plan.count("not run (dry run)") == len(STEPS)
    assert "--device cuda --engine vllm" in plan and "hidden_size=896" in plan

    jobs = load_manifest(tmp_path / "zoo_fleet.yaml")
    zoo = {m["name"] for name in ("zoo.json", "zoo_v2.json") if (ROOT / "examples" / "models" / name).is_file()
           for m in json.loads((ROOT / "examples" / "models" / name).read_text())}
    assert {Path(j.model).name for j in jobs} == zoo
    assert all(j.device == "cuda" and j.engine == "transformers" and j.num_gpus == 0.25 for j in jobs)
    assert all(j.checks == ["static_scan", "known_triggers"] for j in jobs)


def test_unknown_option_is_refused(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "unknown option" in res.stderr
