"""The click commands: keygen, verify (exit 0/1/2), diff."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.report.commands import diff_cmd, keygen_cmd, register, verify_cmd
from auditor.report.writer import write_reports

SAMPLE = Path(__file__).parent / "fixtures" / "report_sample.json"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    result = CliRunner().invoke(keygen_cmd, [str(d / "team")])
    assert result.exit_code == 0, result.output
    assert "fingerprint:  SHA256:" in result.output
    out = d / "out"
    write_reports(json.loads(SAMPLE.read_text()), out, ["sarif"], d / "team.key", None)
    return d, out


def test_keygen_mode(setup):
    d, _ = setup
    assert stat.S_IMODE((d / "team.key").stat().st_mode) == 0o600
    again = CliRunner().invoke(keygen_cmd, [str(d / "team")])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    assert "Traceback" not in again.output


def test_verify_ok(setup):
    d, out = setup
    r = CliRunner().invoke(verify_cmd, [str(out), "--key", str(d / "team.pub")])
    assert r.exit_code == 0, r.output
    assert "VERIFIED" in r.output and "verdict FAIL" in r.output
    r = CliRunner().invoke(verify_cmd, [str(out / "report.json"), "--key", str(d / "team.pub"), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["ok"] is True


def test_verify_tampered_exits_1(setup, tmp_path):
    d, out = setup
    copy = tmp_path / "c"
    shutil.copytree(out, copy)
    p = copy / "report.json"
    p.write_bytes(p.read_bytes().replace(b'"fail"', b'"pass"', 1))
    r = CliRunner().invoke(verify_cmd, [str(copy), "--key", str(d / "team.pub")])
    assert r.exit_code == 1 and "NOT VERIFIED" in r.output and "report.json" in r.output


def test_verify_unreadable_exits_2(setup, tmp_path):
    d, out = setup
    r = CliRunner().invoke(verify_cmd, [str(tmp_path / "nothing"), "--key", str(d / "team.pub")])
    assert r.exit_code == 2 and "error:" in r.output and "Traceback" not in r.output
    (tmp_path / "bad.pub").write_text("garbage")
    r = CliRunner().invoke(verify_cmd, [str(out), "--key", str(tmp_path / "bad.pub")])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_diff_command(setup, tmp_path):
    _, out = setup
    new = json.loads(SAMPLE.read_text())
    new["findings"][1]["evidence"]["triggered_rate"] = 0.5
    (tmp_path / "new.json").write_text(json.dumps(new))
    r = CliRunner().invoke(diff_cmd, [str(out), str(tmp_path / "new.json")])
    assert r.exit_code == 0 and "Rates that moved" in r.output
    r = CliRunner().invoke(diff_cmd, [str(out), str(tmp_path / "new.json"), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["rates"][0]["new"] == 0.5
    r = CliRunner().invoke(diff_cmd, [str(out), str(tmp_path / "missing.json")])
    assert r.exit_code == 2


def test_register():
    import click

    @click.group()
    def cli():
        pass

    register(cli)
    assert {"verify", "keygen", "diff"} <= set(cli.commands)
