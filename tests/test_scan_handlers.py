"""The scan engine finds format handlers through a registry; arrows point one way (engine -> handlers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from auditor.scan import handlers

SCAN = Path(__file__).resolve().parents[1] / "auditor" / "scan"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            out.update([node.module] if node.module else [a.name for a in node.names])
    return out


@pytest.mark.parametrize("module", sorted(p.stem for p in SCAN.glob("*.py") if p.stem not in ("engine", "__init__")))
def test_no_scan_module_imports_the_engine(module):
    assert "engine" not in _imports(SCAN / f"{module}.py")


def test_every_routed_format_has_a_handler():
    src = (SCAN / "router.py").read_text()
    returns = [n.value for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Return)]
    routed = {r.value for r in returns if isinstance(r, ast.Constant) and isinstance(r.value, str)}
    assert routed and routed <= handlers.formats()
    assert set(handlers.PASSES) == {"tree", "repo", "mode"}


def test_a_format_cannot_get_two_handlers():
    def other(sc, blob):
        return {}

    with pytest.raises(RuntimeError, match="two scan handlers"):
        handlers.register("zip")(other)
    assert handlers.get("zip").__name__ == "scan_zip"
