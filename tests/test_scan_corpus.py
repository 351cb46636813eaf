"""Real samples from picklescan / modelaudit / modelscan test suites (read, never loaded): labels must hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.scan import scan_path

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "static"
pytestmark = pytest.mark.skipif(not (CORPUS / "labels.tsv").is_file(), reason="shared corpus not present")


def _labels() -> list[tuple[str, str]]:
    if not (CORPUS / "labels.tsv").is_file():
        return []
    rows = [line.rstrip("\n").split("\t") for line in (CORPUS / "labels.tsv").read_text().splitlines() if line.strip()]
    return [(p, lab) for p, lab in rows]


@pytest.mark.parametrize("path,label", _labels())
def test_corpus_label(path, label):
    r = scan_path(CORPUS / path)
    sev = r.max_severity()
    rules = sorted({f.rule for f in r.findings})
    if label == "mal":
        assert sev in ("high", "critical"), (path, rules)
    elif label == "benign":
        assert sev not in ("high", "critical"), (path, [(f.rule, f.severity) for f in r.findings])
        assert not r.errors, r.errors
    else:  # susp: flagging is expected, silence is not ideal
        assert r.findings, path


def test_corpus_totals():
    rows = _labels()
    mal = [p for p, lab in rows if lab == "mal"]
    benign = [p for p, lab in rows if lab == "benign"]
    detected = sum(scan_path(CORPUS / p).max_severity() in ("high", "critical") for p in mal)
    clean = sum(scan_path(CORPUS / p).max_severity() not in ("high", "critical") for p in benign)
    assert (detected, clean) == (len(mal), len(benign))
