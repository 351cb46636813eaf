"""End to end through the real CLI: a policy that requires a signature fails an unsigned copy
of a bundled model (exit 1), passes the signed one (exit 0) and names the signer in report.json,
and a malformed signature makes the audit incomplete (exit 2)."""

from __future__ import annotations

import json

import pytest

from auditor.report.keys import fingerprint
from conftest import run_cli, zoo_model
from provenance_signing import copy_model, sign_by_key, write_key

POLICY = """\
version: 1
name: require-signature
checks:
  provenance:
    enabled: true
    settings:
      require_signature: true
      method: key
      public_keys: [keys/publisher.pub]   # relative to this policy file
  static_scan:
    enabled: true
rules:
  - id: model-signature
    check: provenance
    severity: critical
    min_severity: high
  - id: no-dangerous-files
    check: static_scan
    severity: critical
    min_severity: high
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prov-cli")
    (tmp / "policy" / "keys").mkdir(parents=True)
    policy = tmp / "policy" / "require-signature.yaml"
    policy.write_text(POLICY)
    priv, _, key = write_key(tmp / "policy" / "keys" / "publisher")
    unsigned = copy_model(zoo_model("clean-chat"), tmp / "unsigned")
    signed = copy_model(zoo_model("clean-chat"), tmp / "signed")
    sign_by_key(signed, priv)
    return tmp, policy, unsigned, signed, fingerprint(key.public_key())


def audit(model, policy, out):
    proc = run_cli("audit", str(model), "--policy", str(policy), "--output-dir", str(out), "--format", "json")
    report_path = out / "report.json"
    return proc, json.loads(report_path.read_text()) if report_path.exists() else None


def test_unsigned_model_fails_when_a_signature_is_required(setup):
    tmp, policy, unsigned, _, _ = setup
    proc, report = audit(unsigned, policy, tmp / "out-unsigned")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert report["checks"][0]["id"] == "provenance" and report["checks"][0]["details"]["signed"] is False
    (hit,) = [f for f in report["findings"] if f["check"] == "provenance"]
    assert hit["rule"] == "provenance.unsigned" and hit["severity"] == "critical" and "model-signature" in hit["policy_rules"]


def test_signed_model_passes_and_the_report_names_the_signer(setup):
    tmp, policy, _, signed, fp = setup
    proc, report = audit(signed, policy, tmp / "out-signed")
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    details = report["checks"][0]["details"]
    assert details["verified"] and details["signer"] == fp and details["method"] == "key"
    assert details["files_verified"] == len([f for f in report["model"]["files"] if f["path"] != "model.sig"])


def test_malformed_signature_makes_the_audit_incomplete(setup):
    tmp, policy, _, _, _ = setup
    broken = copy_model(zoo_model("clean-chat"), tmp / "broken")
    (broken / "model.sig").write_text('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verif')
    proc, report = audit(broken, policy, tmp / "out-broken")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert report["verdict"] == "error" and report["checks"][0]["status"] == "error"


def test_signed_model_from_a_hub_verifies_against_its_snapshot(setup, tmp_path):
    """Through the hub protocol the files are cache links into blobs/; the signature still
    verifies against the audit's own manifest, and the model.sig came down with the repo."""
    from hubserver import HubServer, publish

    _, policy, _, signed, fp = setup
    server = HubServer(tmp_path / "hub")
    sha = publish(server.mirrors, "acme/signed-chat", signed)
    server.start()
    try:
        env = {"HF_ENDPOINT": server.endpoint, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}
        out = tmp_path / "out"
        proc = run_cli("audit", "acme/signed-chat", "--policy", str(policy), "--output-dir", str(out), "--format", "json", env=env)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    details = report["checks"][0]["details"]
    assert report["model"]["revision"] == sha and details["verified"] and details["signer"] == fp
