"""Where auditor keeps its own state and data, from the environment (like huggingface_hub's constants)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"


def config_dir() -> Path:
    """`AUDITOR_CONFIG_DIR`, else `$XDG_CONFIG_HOME/auditor`, else `~/.config/auditor`."""
    explicit = os.environ.get("AUDITOR_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "auditor"


def policies_dir() -> Path:
    """The shipped policies: `policies/` of a checkout, or `auditor/policies` when installed."""
    installed = PACKAGE_DIR / "policies"
    if installed.is_dir():
        return installed
    return PACKAGE_DIR.parent / "policies"


def default_policy_path() -> Path:
    return policies_dir() / "default.yaml"
