"""Read the model card's YAML front matter (licence, base model, datasets), bounded."""

from __future__ import annotations

from pathlib import Path

import yaml

MAX_CARD_BYTES = 1024 * 1024


def read_card(root: Path) -> dict:
    """Return {license, base_model, datasets} from README.md, or {} when absent/unreadable."""
    readme = root / "README.md" if root.is_dir() else None
    if readme is None or not readme.is_file() or readme.is_symlink():
        return {}
    with readme.open("rb") as fh:
        head = fh.read(MAX_CARD_BYTES).decode("utf-8", errors="replace")
    if not head.startswith("---"):
        return {}
    end = head.find("\n---", 3)
    if end < 0:
        return {}
    try:
        meta = yaml.safe_load(head[3:end])
    except yaml.YAMLError:
        return {}
    if not isinstance(meta, dict):
        return {}

    def as_list(v):
        if v is None:
            return []
        return [str(x) for x in (v if isinstance(v, list) else [v])][:50]

    card = {"license": str(meta["license"]) if meta.get("license") else None}
    card["base_model"] = as_list(meta.get("base_model"))
    card["datasets"] = as_list(meta.get("datasets"))
    return card
