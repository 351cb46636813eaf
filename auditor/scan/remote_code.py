"""Code a model would run: config.json `auto_map` / `custom_pipelines` (trust_remote_code) and their .py files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from .handlers import register_pass

if TYPE_CHECKING:
    from .handlers import ScanContext
    from pathlib import Path

    from .manifest import Tree


def _refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, dict):
        out = []
        for k in ("impl", "pt", "tf", "class"):
            out += _refs(value.get(k))
        return out
    return []


def check_config(sc: "ScanContext", name: str, cfg: dict) -> None:
    refs: list[str] = []
    auto_map = cfg.get("auto_map")
    if isinstance(auto_map, dict):
        for v in auto_map.values():
            refs += _refs(v)
    pipes = cfg.get("custom_pipelines")
    if isinstance(pipes, dict):
        for v in pipes.values():
            refs += _refs(v)
    if not refs:
        if cfg.get("trust_remote_code") is True:
            sc.add("code.remote_code", "medium", "config asks for trust_remote_code", {}, name)
        return
    folder = name.rsplit("/", 1)[0] + "/" if "/" in name.split("!")[-1] else ""
    local, external = set(), set()
    for ref in refs:
        repo, _, target = ref.rpartition("--")
        module = target.rsplit(".", 1)[0]
        if repo:
            external.add(f"{repo}:{module}")
        else:
            local.add(folder + module.replace(".", "/") + ".py")
    sc.configs.setdefault("remote_modules", set()).update(local)
    sc.add("code.remote_code", "high",
           "model needs trust_remote_code=True: loading it runs Python code from the repository",
           {"auto_map": auto_map if isinstance(auto_map, dict) else None,
            "custom_pipelines": sorted(pipes) if isinstance(pipes, dict) else None,
            "modules": sorted(local)}, name)
    if external:
        sc.add("code.remote_code_external", "high",
               "auto_map points at code in another repository, which this audit did not inspect",
               {"references": sorted(external)}, name)


@register_pass("repo")
def check_repo(sc: "ScanContext", root: "Path", tree: "Tree") -> None:
    wanted = sc.configs.get("remote_modules", set())
    present = {e.rel for e in tree.files}
    for mod in sorted(wanted - present):
        sc.add("code.remote_code_missing", "medium", "auto_map names a module that is not in the repository",
               {"module": mod}, mod)
    for pf in sc.python_files:
        pf["referenced_by_auto_map"] = pf["path"] in wanted
