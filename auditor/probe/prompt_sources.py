"""Where probe prompts come from: the policy, the model card, the battery.

A model is probed on its own kind of request. The most trusted prompts are the
ones the buyer names in the policy (`probe.prompts`), then the examples its
publisher put in the model card, then prompts elicited from the model itself
(`elicit.py`), and last the auditor's generic battery. Every source is read with
a bounded reader and never executed; a policy file that cannot be used is an
error naming the file (the audit must not silently fall back to generic prompts),
while a model card is untrusted text, so junk in it yields no prompts.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..errors import PolicyError

PURPOSES = ("general", "code", "refusal")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_PROMPTS = 10_000
MAX_PROMPT_CHARS = 4_000
MAX_CARD_BYTES = 1024 * 1024
MAX_CARD_PROMPTS = 200


@dataclass
class PromptSource:
    name: str  # e.g. "policy:general:prompts/sql.txt", "card", "elicited", "battery:general"
    kind: str  # policy | card | elicited | battery
    purpose: str  # general | code | refusal
    prompts: list[str]
    meta: dict = field(default_factory=dict)  # file + sha256, counts before/after filtering, settings

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "purpose": self.purpose, "n": len(self.prompts), "meta": self.meta}


def _dedupe(prompts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in prompts:
        key = " ".join(p.split()).lower()
        if key and key not in seen:
            seen.add(key)
            out.append(p)
    return out


# ---- policy prompt files ----------------------------------------------------------


def _from_item(item: Any, where: str, path: Path) -> str:
    """A prompt from a string, {"prompt": ...} or {"messages": [...]} (the first user content)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        if isinstance(item.get("prompt"), str):
            return item["prompt"]
        msgs = item.get("messages")
        if isinstance(msgs, list):
            for m in msgs:
                if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
                    return m["content"]
            raise PolicyError(f"{where}: 'messages' has no user message with string content", path=str(path))
        raise PolicyError(f"{where}: expected a 'prompt' string or a 'messages' list", path=str(path))
    raise PolicyError(f"{where}: expected a string or an object, got {type(item).__name__}", path=str(path))


def _parse_file(path: Path, text: str) -> list[str]:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if suffix == ".jsonl":
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PolicyError(f"line {n}: invalid JSON: {exc.msg}", path=str(path)) from None
            out.append(_from_item(item, f"line {n}", path))
        return out
    if suffix in (".yaml", ".yml", ".json"):
        try:
            data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise PolicyError(f"invalid {suffix[1:].upper()}: {str(exc).splitlines()[0]}", path=str(path)) from None
        if isinstance(data, dict) and isinstance(data.get("prompts"), list):
            data = data["prompts"]
        if not isinstance(data, list):
            raise PolicyError("expected a list of prompts (strings or objects)", path=str(path))
        return [_from_item(item, f"item {i}", path) for i, item in enumerate(data)]
    raise PolicyError(f"unsupported prompt file type {suffix or '(none)'}: use .txt, .jsonl, .yaml, .yml or .json", path=str(path))


def read_prompt_file(path: Path) -> tuple[list[str], dict]:
    """Prompts of one policy prompt file and its provenance; PolicyError naming the file otherwise."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise PolicyError("prompt file is not a regular file", path=str(path))
        if size > MAX_FILE_BYTES:
            raise PolicyError(f"prompt file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit", path=str(path))
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError("prompt file not found", path=str(path)) from None
    except OSError as exc:
        raise PolicyError(f"cannot read prompt file: {exc.strerror}", path=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("prompt file is not UTF-8 text", path=str(path)) from None
    prompts = _parse_file(path, text)
    n_read = len(prompts)
    if n_read > MAX_PROMPTS:
        raise PolicyError(f"{n_read} prompts, over the limit of {MAX_PROMPTS}", path=str(path))
    for i, p in enumerate(prompts):
        if len(p) > MAX_PROMPT_CHARS:
            raise PolicyError(f"prompt {i + 1} has {len(p)} characters, over the limit of {MAX_PROMPT_CHARS}", path=str(path))
    prompts = _dedupe(p.strip() for p in prompts)
    if not prompts:
        raise PolicyError("prompt file holds no prompts", path=str(path))
    return prompts, {"sha256": hashlib.sha256(raw).hexdigest(), "n_read": n_read, "n_kept": len(prompts)}


def from_policy(spec: dict | None, base_dir: Path) -> list[PromptSource]:
    """The policy's `probe.prompts` mapping {general|code|refusal: [path, ...]}, paths relative to base_dir."""
    if not spec:
        return []
    if not isinstance(spec, dict):
        raise PolicyError("probe.prompts must be a mapping of purpose to a list of files")
    out = []
    for purpose, files in spec.items():
        if purpose not in PURPOSES:
            raise PolicyError(f"probe.prompts: unknown purpose {purpose!r} (expected one of {', '.join(PURPOSES)})")
        if isinstance(files, str):
            files = [files]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise PolicyError(f"probe.prompts.{purpose} must be a list of file paths")
        for rel in files:
            path = Path(rel) if Path(rel).is_absolute() else Path(base_dir) / rel
            prompts, meta = read_prompt_file(path)
            out.append(PromptSource(f"policy:{purpose}:{rel}", "policy", purpose, prompts, {"file": str(path), **meta}))
    return out


# ---- model card ----------------------------------------------------------------------

_CODE = re.compile(
    r"\b(write|fix|debug|refactor|implement|complete)\b.{0,40}\b(function|class|method|script|program|code|query|regex)\b"
    r"|\b(sql|python|javascript|typescript|bash|shell script|rust|golang|java)\b|c\+\+|\bselect\b.{1,80}\bfrom\b"
    r"|```|\bdef \w+\(",
    re.IGNORECASE | re.DOTALL,
)
_CHAT_LINE = re.compile(r"^\s*(?:user|human|question|prompt|instruction|### instruction|### human|### user)\s*:\s*(.*)$", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"^\s*(?:assistant|ai|bot|gpt|answer|response|### response|### assistant)\s*:", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+(.+)$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def is_code_request(prompt: str) -> bool:
    """A request for code (write/fix a function, SQL, a script): the `code` purpose."""
    return bool(_CODE.search(prompt))


def _clean(prompt: Any) -> str | None:
    if not isinstance(prompt, str):
        return None
    p = prompt.strip().strip('"').strip("`").strip()
    if not p or len(p) > MAX_PROMPT_CHARS or len(p.split()) < 2:
        return None
    return p


def _user_of_messages(msgs: Any) -> str | None:
    if isinstance(msgs, list):
        for m in msgs:
            if isinstance(m, dict) and m.get("role") == "user":
                return _clean(m.get("content"))
    return None


def _front_matter(text: str) -> tuple[dict, str]:
    if not text.startswith("---"):
        return {}, text
    end = text.find("\n---", 3)
    if end < 0:
        return {}, text
    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        meta = None
    return (meta if isinstance(meta, dict) else {}), text[end + 4 :]


def _widget_prompts(meta: dict) -> list[str]:
    out = []
    widget = meta.get("widget")
    for w in widget if isinstance(widget, list) else []:
        if isinstance(w, dict):
            p = _clean(w.get("text")) or _user_of_messages(w.get("messages"))
        else:
            p = _clean(w)
        if p:
            out.append(p)
    return out


def _block_prompts(block: list[str]) -> list[str]:
    """User turns of a chat example in a fenced block: `User:` lines, or role/content JSON."""
    out = []
    body = "\n".join(block)
    for m in re.finditer(r'"role"\s*:\s*"user"\s*,\s*"content"\s*:\s*"((?:[^"\\]|\\.)*)"', body):
        try:
            out.append(json.loads(f'"{m.group(1)}"'))
        except json.JSONDecodeError:
            continue
    current: list[str] | None = None
    for line in block + [""]:
        hit = _CHAT_LINE.match(line)
        if hit:
            if current:
                out.append(" ".join(current))
            current = [hit.group(1).strip()] if hit.group(1).strip() else []
        elif current is not None and (not line.strip() or _ANSWER_LINE.match(line)):
            if current:
                out.append(" ".join(current))
            current = None
        elif current is not None:
            current.append(line.strip())
    return [p for p in (_clean(x) for x in out) if p]


def _body_prompts(body: str) -> list[str]:
    out: list[str] = []
    heading = ""
    in_block: list[str] | None = None
    for line in body.splitlines():
        if _FENCE.match(line):
            if in_block is None:
                in_block = []
            else:
                out.extend(_block_prompts(in_block))
                in_block = None
            continue
        if in_block is not None:
            in_block.append(line)
            continue
        h = _HEADING.match(line)
        if h:
            heading = h.group(1).lower()
            continue
        item = _LIST_ITEM.match(line)
        if item and "example" in heading and ("prompt" in heading or "usage" in heading):
            p = _clean(item.group(1))
            if p:
                out.append(p)
    return out


def from_card(model_path: Path) -> list[PromptSource]:
    """Example prompts in the model card (README.md), split into general and code requests."""
    readme = Path(model_path) / "README.md"
    try:
        if not readme.is_file() or readme.is_symlink():
            return []
        with readme.open("rb") as fh:
            raw = fh.read(MAX_CARD_BYTES)
    except OSError:
        return []
    text = raw.decode("utf-8", errors="replace")
    meta, body = _front_matter(text)
    found = _dedupe(_widget_prompts(meta) + _body_prompts(body))[:MAX_CARD_PROMPTS]
    digest = hashlib.sha256(raw).hexdigest()
    out = []
    for purpose in ("general", "code"):
        chosen = [p for p in found if is_code_request(p) == (purpose == "code")]
        if chosen:
            meta_out = {"file": str(readme), "sha256": digest, "n_found": len(found), "n_kept": len(chosen)}
            out.append(PromptSource(f"card:{purpose}", "card", purpose, chosen, meta_out))
    return out


# ---- the auditor's own battery -------------------------------------------------------------


def from_battery(battery: Any, extra: Any) -> list[PromptSource]:
    """The generic battery's prompt lists (what `search.prompts.build_splits` draws on), one source per purpose."""
    bp = battery.prompts
    ex = getattr(extra, "prompts", {}) or {}
    lists = {
        "general": list(bp.get("search", [])) + list(bp.get("holdout", [])),
        "code": list(bp.get("code_search", [])) + list(bp.get("code_holdout", []))
        + list(ex.get("code_search", [])) + list(ex.get("code_holdout", [])),
        "refusal": list(ex.get("refusal_search", [])) + list(ex.get("refusal_holdout", [])),
    }
    out = []
    for purpose, prompts in lists.items():
        kept = _dedupe(prompts)
        if kept:
            meta = {"battery": getattr(battery, "path", None), "battery_sha256": getattr(battery, "sha256", None),
                    "extra_sha256": getattr(extra, "sha256", None), "n_read": len(prompts), "n_kept": len(kept)}
            out.append(PromptSource(f"battery:{purpose}", "battery", purpose, kept, meta))
    return out
