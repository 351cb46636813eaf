"""CI integrations run for real: the GitHub Action and workflow (actionlint + the vendored
SchemaStore schemas), the GitLab template, the pre-commit hook (pre-commit try-repo on a real
repository), the container recipe (hadolint + structure), and a JSON-only scan that starts
without the heavy libraries."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from auditor.jsonschema_lite import USED_FORMATS
from auditor.report.writer import EXTRA_FORMATS, REPORT_JSON

from conftest import ROOT, run_cli

BIN = Path(sys.executable).parent
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "examples" / "ci" / "github-workflow.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
MODEL_EXTENSIONS = ("pkl", "pt", "pth", "bin", "ckpt", "safetensors", "onnx", "gguf", "h5", "keras", "npy", "npz", "joblib")
# crafted bytes: GLOBAL posix.system + REDUCE; never unpickled, only scanned
EVIL_PICKLE = b"cposix\nsystem\n(S'echo pwned'\ntR."


def tool(name: str) -> str:
    path = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return path


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- GitHub Action

def test_action_metadata_is_consistent():
    action = load(ACTION)
    for key in ("name", "description", "inputs", "outputs", "runs"):
        assert key in action, key
    assert set(action["inputs"]) >= {"model", "revision", "policy", "preset", "signing-key", "formats", "output-dir"}
    assert action["inputs"]["model"]["required"] is True
    runs = action["runs"]
    assert runs["using"] == "composite"
    steps = runs["steps"]
    text = ACTION.read_text(encoding="utf-8")
    used_inputs = set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text))
    assert used_inputs <= set(action["inputs"]), used_inputs - set(action["inputs"])
    ids = {s["id"] for s in steps if "id" in s}
    assert set(re.findall(r"steps\.([A-Za-z0-9_-]+)\.outputs", text)) <= ids
    for s in steps:
        if "run" in s:
            assert s.get("shell") == "bash", s["name"]
            assert "${{" not in s["run"], f"{s['name']}: expressions go through env, never into the script"
        if "uses" in s:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", s["uses"]), s["uses"]
    by_uses = {s.get("uses", "").split("@")[0]: s for s in steps}
    assert "always()" in by_uses["github/codeql-action/upload-sarif"]["if"]
    assert by_uses["github/codeql-action/upload-sarif"]["with"]["sarif_file"].endswith("/" + EXTRA_FORMATS["sarif"])
    assert "always()" in by_uses["actions/upload-artifact"]["if"]
    key_step = next(s for s in steps if s.get("id") == "key")
    assert "umask 077" in key_step["run"] and "chmod 600" in key_step["run"]
    assert key_step["env"]["SIGNING_KEY"] == "${{ inputs.signing-key }}"
    # the job fails last, after both uploads, with auditor's own exit code
    last = steps[-1]
    assert "always()" in last["if"] and 'exit "${CODE:-2}"' in last["run"]
    assert steps.index(by_uses["actions/upload-artifact"]) < len(steps) - 1
    assert "--index-url https://download.pytorch.org/whl/cpu" in text  # never a CUDA torch


def test_actionlint_checks_the_workflow_and_the_action(tmp_path):
    actionlint = tool("actionlint")
    res = subprocess.run([actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    # a repository that uses this action locally: actionlint then reads action.yml and checks
    # every `with:` key against its inputs and the metadata itself
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # actionlint finds the project by its .git
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    local = WORKFLOW.read_text(encoding="utf-8").replace("uses: OWNER/auditor@v1", "uses: ./")
    assert "uses: ./" in local
    wf = tmp_path / ".github" / "workflows" / "audit.yml"
    wf.write_text(local, encoding="utf-8")
    res = subprocess.run([actionlint, "-no-color", str(wf.relative_to(tmp_path))], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    wf.write_text(local.replace("preset: standard", "preset: standard\n          no-such-input: x"), encoding="utf-8")
    res = subprocess.run([actionlint, "-no-color", str(wf.relative_to(tmp_path))], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and 'input "no-such-input" is not defined' in res.stdout


@pytest.mark.parametrize("schema, path", [
    ("vendor.github-actions", ACTION), ("vendor.github-workflows", WORKFLOW), ("vendor.gitlab-ci", GITLAB),
])
def test_files_match_the_vendored_schemas(schema, path):
    pytest.importorskip("check_jsonschema")
    res = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


# --------------------------------------------------------------------------- GitLab

def test_gitlab_template_structure():
    ci = load(GITLAB)
    job = ci["model-audit"]
    assert job["stage"] in ci["stages"]
    script = "\n".join(job["script"])
    assert "auditor audit" in script
    out_dir = re.search(r"--output-dir (\S+)", script).group(1)
    formats = re.search(r"--format (\S+)", script).group(1).split(",")
    assert {"json", "sarif", "junit"} <= set(formats)
    arts = job["artifacts"]
    assert arts["when"] == "always"  # reports are kept when the audit fails
    assert arts["reports"]["junit"] == f"{out_dir}/{EXTRA_FORMATS['junit']}"
    assert f"{out_dir}/" in arts["paths"]  # report.sarif, report.json and the rest
    assert "download.pytorch.org/whl/cpu" in "\n".join(job["before_script"])


# --------------------------------------------------------------------------- pre-commit

def test_hook_definition():
    (hook,) = load(HOOKS)
    assert hook["id"] == "auditor-scan" and hook["entry"] == "auditor scan" and hook["language"] == "system"
    files = re.compile(hook["files"])
    for ext in MODEL_EXTENSIONS:
        assert files.search(f"models/weights.{ext}") and files.search(f"W.{ext.upper()}"), ext
    for name in ("README.md", "train.py", "config.json", "model.safetensors.index.json"):
        assert not files.search(name), name


@pytest.fixture()
def model_repo(tmp_path):
    """A git repository holding one benign pickle (a plain dict) and one malicious one."""
    import pickle

    repo = tmp_path / "models"
    repo.mkdir()
    (repo / "benign.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3], "name": "tiny"}, protocol=4))
    (repo / "evil.pkl").write_bytes(EVIL_PICKLE)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "models"], cwd=repo, check=True)
    return repo


def try_repo(repo: Path, *files: str, home: Path) -> subprocess.CompletedProcess:
    pre_commit = tool("pre-commit")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # `language: system` runs this auditor
        "PYTHONPATH": str(ROOT),
        "PRE_COMMIT_HOME": str(home),
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    env.pop("AUDITOR_DEBUG", None)
    return subprocess.run([pre_commit, "try-repo", str(ROOT), "auditor-scan", "--verbose", "--files", *files],
                          cwd=repo, capture_output=True, text=True, env=env, timeout=600)


def test_pre_commit_try_repo(model_repo, tmp_path):
    home = tmp_path / "pre-commit-home"
    ok = try_repo(model_repo, "benign.pkl", home=home)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Passed" in ok.stdout
    bad = try_repo(model_repo, "benign.pkl", "evil.pkl", home=home)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout and "posix.system" in bad.stdout
    # one signed report per file, under the hook's output folder; the benign one passed
    reports = {p.parent.name: json.loads(p.read_text()) for p in (model_repo / ".auditor-scan").glob(f"*/{REPORT_JSON}")}
    assert reports["benign.pkl"]["verdict"] == "pass" and reports["evil.pkl"]["verdict"] == "fail"
    assert not list((model_repo / ".auditor-scan").rglob("report.pdf"))  # --format json: no PDF


def test_scan_exit_code_is_the_worst(tmp_path):
    import pickle

    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps([1, 2]))
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(EVIL_PICKLE)
    out = tmp_path / "out"
    assert run_cli("scan", str(good), str(evil), "--format", "json", "--output-dir", str(out)).returncode == 1
    out = tmp_path / "out2"
    missing = run_cli("scan", str(good), str(tmp_path / "nope.pkl"), str(evil), "--format", "json", "--output-dir", str(out))
    assert missing.returncode == 2, missing.stderr  # an error outranks a finding
    assert "Traceback" not in missing.stderr and "nope.pkl" in missing.stderr
    # the files after the unreadable one were still scanned
    assert json.loads((out / str(evil).strip("/").replace("/", "__") / REPORT_JSON).read_text())["verdict"] == "fail"


# --------------------------------------------------------------------------- container

def test_dockerfile_lints_and_has_the_required_shape():
    from dockerfile_parse import DockerfileParser

    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    hadolint = shutil.which("hadolint", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if hadolint:
        res = subprocess.run([hadolint, "--no-color", "-"], input=text, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
    parser = DockerfileParser(fileobj=None, cache_content=False)
    parser.content = text
    assert parser.baseimage == "python:3.11-slim"
    instrs = [(i["instruction"], i["value"]) for i in parser.structure]
    runs = [v for k, v in instrs if k == "RUN"]
    assert any("torch==2.13.0" in r and "--index-url https://download.pytorch.org/whl/cpu" in r for r in runs)
    torch_at = next(n for n, r in enumerate(runs) if "torch==2.13.0" in r)
    project_at = next(n for n, r in enumerate(runs) if "pip install ." in r)
    assert torch_at < project_at  # CPU torch first: the project then pulls no CUDA build
    user = [v for k, v in instrs if k == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert [v for k, v in instrs if k == "ENTRYPOINT"] == ['["auditor"]']
    copied = {v.split()[0] for k, v in instrs if k == "COPY" for v in [v]}
    # auditor/policies is a link to policies/: both must be in the image for the default policy
    assert {"policies", "auditor"} <= copied
    ignore = [ln.strip() for ln in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*" and {"!auditor/", "!policies/", "!pyproject.toml"} <= set(ignore)  # only what the install needs


# --------------------------------------------------------------------------- fast start

HEAVY = ("torch", "transformers", "reportlab", "pyhanko", "rfc3987_syntax", "arrow", "jinja2")


def test_json_only_scan_imports_no_heavy_library(tmp_path):
    pkl = tmp_path / "tiny.pkl"
    pkl.write_bytes(b"\x80\x04}\x94\x8c\x01a\x94K\x01s.")  # {'a': 1}, 16 bytes
    code = (
        "import json, runpy, sys\n"
        f"sys.argv = ['auditor', 'scan', {str(pkl)!r}, '--format', 'json', '--output-dir', {str(tmp_path / 'out')!r}]\n"
        "try:\n    runpy.run_module('auditor', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        f"print(json.dumps({{'exit': code, 'loaded': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result == {"exit": 0, "loaded": []}, res.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.json.dsse"]
    # a report without a PDF still verifies: the envelope names what was written
    from auditor.report import keys
    from auditor.report.verify import verify

    key_path, _ = keys.default_key()
    result = verify(tmp_path / "out", key_path)
    assert result.ok, result.reasons


def test_schemas_are_valid_and_use_only_the_checked_formats():
    from jsonschema import Draft202012Validator

    def formats(node):
        if isinstance(node, dict):
            if isinstance(node.get("format"), str) and node.get("type") in ("string", None):
                yield node["format"]
            for v in node.values():
                yield from formats(v)
        elif isinstance(node, list):
            for v in node:
                yield from formats(v)

    schemas = [p for p in (ROOT / "auditor").rglob("*.json") if p.name.endswith("schema.json")]
    assert len(schemas) >= 4
    for path in schemas:
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)  # runtime skips this: it is checked here
        unknown = set(formats(schema)) - set(USED_FORMATS)
        assert not unknown, f"{path.name} uses formats {unknown}: add them to jsonschema_lite.USED_FORMATS"
