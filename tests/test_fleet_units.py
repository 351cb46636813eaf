"""Fleet pieces that need no Ray: manifest validation, slugs, resume decisions,
the escaped HTML summary and the fleet.json schema."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from auditor.cli import main
from auditor.errors import PolicyError
from auditor.fleet import ManifestError, load_manifest
from auditor.fleet import resume, summary
from auditor.pipeline import AuditRequest, run_audit
from auditor.report import keys
from auditor.report.writer import write_reports
from auditor.yamlio import schema_errors

ZOO = Path(__file__).resolve().parent.parent / "examples" / "models"


def _write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    "content, message",
    [
        ({"models": []}, "models: [] should be non-empty"),
        ({"models": [{"model": "org/name", "polcy": "x.yaml"}]}, "models/0"),
        ({"models": [{"model": "org/name", "time_budget": -5}]}, "models/0/time_budget"),
        ({"defaults": {"engine": "tgi"}, "models": [{"model": "org/name"}]}, "defaults/engine"),
        ({"models": [{"model": "org/name"}], "extra": 1}, "Additional properties"),
        ("models: [unclosed", "invalid YAML"),
    ],
)
def test_invalid_manifests_are_clear_errors(tmp_path, content, message):
    path = _write(tmp_path / "fleet.yaml", content)
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    assert message in str(exc.value) and str(path) in str(exc.value)


def test_manifest_defaults_relative_paths_and_duplicates(tmp_path):
    (tmp_path / "models").mkdir()
    shutil.copytree(ZOO / "clean-chat", tmp_path / "models" / "clean-chat")
    shutil.copy(Path(__file__).resolve().parent.parent / "policies" / "default.yaml", tmp_path / "p.yaml")
    path = _write(tmp_path / "fleet.yaml", {
        "defaults": {"policy": "p.yaml", "checks": ["static_scan"], "time_budget": 60},
        "models": [{"model": "models/clean-chat"}, {"model": "org/name@main", "time_budget": 5, "seed": 3}],
    })
    local, hub = load_manifest(path)
    assert local.model == str((tmp_path / "models" / "clean-chat").resolve()) and local.time_budget_s == 60
    assert local.policy_path == str(tmp_path / "p.yaml") and local.checks == ["static_scan"]
    assert hub.model == "org/name@main" and hub.time_budget_s == 5 and hub.seed == 3
    assert local.slug.startswith("clean-chat-local-") and hub.slug.startswith("org__name_main-main-")
    _write(path, {"models": [{"model": "org/x"}, {"model": "org/x"}]})
    with pytest.raises(ManifestError, match="listed twice"):
        load_manifest(path)
    _write(path, {"models": [{"model": "org/x", "policy": "missing.yaml"}]})
    with pytest.raises(PolicyError, match="missing.yaml"):
        load_manifest(path)


def test_slugs_are_filesystem_safe_and_distinct():
    base = resume.FleetJob(model="a/b", revision=None, policy_path="p", policy_sha256="0" * 64, time_budget_s=1)
    odd = dataclasses.replace(base, model="../../etc/pa$$wd?<x>", revision="refs/pr/1")
    assert "/" not in odd.slug and ".." not in odd.slug
    assert base.slug != dataclasses.replace(base, revision="v2").slug
    assert all(c.isalnum() or c in "._-" for c in odd.slug)


def test_cli_bad_manifest_exits_2_without_a_traceback(tmp_path):
    path = _write(tmp_path / "fleet.yaml", {"models": [{"model": "org/name", "time_budget": "soon"}]})
    res = CliRunner().invoke(main, ["fleet", str(path), "--output-dir", str(tmp_path / "out")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "time_budget" in res.output and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A real static-scan audit of a copy of a zoo model, written and signed into its slug folder."""
    root = tmp_path_factory.mktemp("fleet")
    shutil.copytree(ZOO / "clean-chat", root / "clean-chat")
    key_path, pub_path = keys.generate_keypair(root / "k")
    _write(root / "fleet.yaml", {"defaults": {"checks": ["static_scan"]}, "models": [{"model": "clean-chat"}]})
    (job,) = load_manifest(root / "fleet.yaml")
    report, _ = run_audit(AuditRequest(model=job.model, policy_path=job.policy_path, only_checks=job.checks))
    write_reports(report, root / "out" / job.slug, ["json", "pdf"], key_path)
    return root, job, keys.load_public_key(pub_path)


def test_resume_reuses_only_a_matching_signed_finished_report(audited, tmp_path):
    root, job, pub = audited
    folder = root / "out" / job.slug
    found = resume.reusable(job, folder, pub)
    assert found is not None and found[0]["exit_code"] == 0
    assert resume.reusable(dataclasses.replace(job, policy_sha256="f" * 64), folder, pub) is None
    assert resume.reusable(dataclasses.replace(job, checks=["static_scan", "known_triggers"]), folder, pub) is None
    assert resume.reusable(dataclasses.replace(job, seed=1), folder, pub) is None
    other_key, _ = keys.generate_keypair(tmp_path / "other")
    assert resume.reusable(job, folder, keys.load_private_key(other_key).public_key()) is None

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    text = (copy / "report.json").read_text()
    (copy / "report.json").write_text(text.replace('"exit_code": 0', '"exit_code": 1', 1))
    assert resume.reusable(job, copy, pub) is None  # tampered: not covered by the signature

    extra = Path(job.model) / "NOTES.txt"
    extra.write_text("changed after the audit\n")
    try:
        assert resume.reusable(job, folder, pub) is None  # the local model's content changed
    finally:
        extra.unlink()
    assert resume.reusable(job, folder, pub) is not None


def test_summary_is_schema_valid_signed_and_html_escaped(audited, tmp_path):
    root, job, pub = audited
    report, digest = resume.signed_report(root / "out" / job.slug, pub)
    evil = dict(report, model=dict(report["model"], id="<script>alert(1)</script>"))
    entries = [
        summary.entry_for(job, evil, digest, duration_s=1.5),
        summary.entry_for(dataclasses.replace(job, model="org/gone"), None, None, duration_s=0.2, error="hub: <b>404</b>"),
    ]
    key = keys.load_private_key(root / "k.key")
    fleet = summary.build_summary(entries, root / "fleet.yaml", "a" * 64, summary.now_iso(), key)
    assert schema_errors(fleet, summary.SCHEMA) == [] and fleet["exit_code"] == 2
    assert fleet["counts"] == {"pass": 1, "warn": 0, "fail": 0, "error": 1, "reused": 0}
    html = summary.render_html(fleet).decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;404&lt;/b&gt;" in html
    bad = json.loads(json.dumps(fleet))
    bad["models"][0]["report_digest"] = "xyz"
    assert schema_errors(bad, summary.SCHEMA)


def test_zoo_fleet_manifest_lists_every_bundled_model():
    """examples/fleet/zoo.yaml is the whole zoo as one fleet (the issue's fleet run): it must
    stay valid and in step with the zoo's own lists."""
    root = Path(__file__).resolve().parents[1] / "examples"
    names = [m["name"] for f in ("zoo.json", "zoo_v2.json") for m in json.loads((root / "models" / f).read_text())]
    jobs = load_manifest(root / "fleet" / "zoo.yaml")
    assert sorted(Path(j.model).name for j in jobs) == sorted(names)
    assert all(Path(j.model).parent == root / "models" and j.checks is None for j in jobs)  # the default policy's checks
