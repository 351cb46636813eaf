"""What an auditor needs to rerun an audit and get the same findings."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess
import sys
from pathlib import Path

from . import __version__

TRACKED = (
    "torch", "transformers", "huggingface_hub", "safetensors", "tokenizers", "numpy",
    "bandit", "peft", "jsonschema", "reportlab", "pyhanko", "cryptography", "cyclonedx-python-lib",
    "pyyaml", "jinja2", "click",
)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "auditor": __version__}
    for name in TRACKED:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def tool_git_commit() -> str | None:
    """The commit of auditor's own source when it runs from a checkout (not the model's)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if len(sha) == 40 else None


def host() -> dict:
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count() or 0}


def block(seed: int, device: str, policy_sha256: str, battery_sha256: str | None, argv: list[str] | None) -> dict:
    d = {
        "seed": seed,
        "device": device,
        "versions": versions(),
        "policy_sha256": policy_sha256,
        "host": host(),
        "command": list(argv if argv is not None else sys.argv),
    }
    if battery_sha256:
        d["battery_sha256"] = battery_sha256
    return d
