"""Repository hygiene: symlinks, special files, executables, scripts, model card and licence."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .blob import Blob
from .handlers import register, register_pass

if TYPE_CHECKING:
    from .handlers import ScanContext
    from .manifest import Tree

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)


@register_pass("tree")
def check_tree(sc: "ScanContext", root: Path, tree: "Tree") -> None:
    for rel, target, escapes in tree.symlinks:
        if escapes:
            sc.add("hygiene.symlink_escape", "high", "symlink points outside the repository (not followed)",
                   {"target": target}, rel)
        else:
            sc.add("hygiene.symlink", "low", "symlink inside the repository (not followed)", {"target": target}, rel)
    for rel, kind in tree.specials:
        sc.add("hygiene.special_file", "medium", f"{kind} in the repository (not read)", {"kind": kind}, rel)
    if tree.skipped_dirs:
        sc.report.stats["skipped_dirs"] = tree.skipped_dirs
    if not tree.is_file:
        _model_card(sc, root, tree)


def _model_card(sc: "ScanContext", root: Path, tree: "Tree") -> None:
    card = next((e for e in tree.files if e.rel.lower() == "readme.md"), None)
    if card is None:
        sc.add("hygiene.missing_model_card", "low", "no model card (README.md): provenance, licence and intended use unknown")
        return
    with open(card.path, "rb") as f:
        text = f.read(256 * 1024).decode("utf-8", "replace")
    m = _FRONT_MATTER.match(text)
    licence = None
    if m:
        try:
            import yaml

            meta = yaml.safe_load(m.group(1))
        except Exception:  # noqa: BLE001
            meta = None
            sc.add("hygiene.model_card_metadata", "low", "model card YAML front matter does not parse", {}, card.rel)
        if isinstance(meta, dict):
            lic = meta.get("license")
            licence = ", ".join(map(str, lic)) if isinstance(lic, list) else (str(lic) if lic else None)
            if lic == "other" and meta.get("license_name"):
                licence = f"other ({meta.get('license_name')})"
    if licence:
        sc.report.license = licence
    else:
        sc.add("hygiene.missing_license", "low", "model card declares no licence", {}, card.rel)


@register_pass("mode")
def exec_bit(sc: "ScanContext", name: str, fmt: str) -> None:
    sev = "medium" if fmt in ("python", "shell", "pickle", "unknown") else "low"
    sc.add("hygiene.executable_bit", sev, "file has the executable bit set", {"format": fmt}, name)


@register("shell")
def scan_script(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    from . import text_scan

    info = text_scan.scan_text(sc, blob) or {}
    sc.add("hygiene.script", "medium", "shell script in the model repository (nothing should need to run it)",
           {"first_line": blob.head().split(b"\n", 1)[0][:120].decode("utf-8", "replace")}, blob.name)
    return info


@register("executable")
def scan_executable(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    h = blob.head()
    kind = "ELF" if h[:4] == b"\x7fELF" else "PE" if h[:2] == b"MZ" else "Mach-O / Java class"
    sc.add("hygiene.executable", "high", f"native executable ({kind}) in the model repository", {"kind": kind}, blob.name)
    return {"kind": kind}


@register("image", "pdf", "empty")
def passive(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    return {}


@register("tflite")
def not_inspected(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    sc.add("format.not_inspected", "low", "recognised format that this scanner does not inspect", {}, blob.name)
    return {}


@register("unknown")
def unknown(sc: "ScanContext", blob: Blob) -> dict[str, Any]:
    h = blob.head()
    name = blob.name.lower()
    if name.endswith(".model") or name.endswith(".spm"):
        from .router import _looks_like_protobuf

        if _looks_like_protobuf(h):
            return {"format": "sentencepiece"}
    if name.endswith(".msgpack") and h[:1] and (0x80 <= h[0] <= 0x8F or h[0] in (0xDE, 0xDF)):
        return {"format": "msgpack"}
    sc.note_unknown(blob.name, blob.size, f"first bytes {h[:8].hex()}")
    return {}
