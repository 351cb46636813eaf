"""Chat datasets for safety training: load, validate (bounded), split, encode.

Format: JSON Lines, one conversation per line::

    {"messages": [{"role": "system", "content": "..."},      # optional
                  {"role": "user", "content": "..."},
                  {"role": "assistant", "content": "..."},
                  ...]}                                      # more turns allowed

Roles alternate user/assistant after an optional leading system message and the
conversation ends with an assistant turn: that last turn is the training target,
everything before it the prompt (rendered with the model's own chat template).
Blank lines and lines starting with `//` are ignored.

Reading is bounded (file size, number of records, characters per message) and
every problem is reported with its line number, never as a traceback.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import MalformedFileError, ResourceLimitError
from ..settings import DATA_DIR

SAFETY_DIR = DATA_DIR / "safety"
BUILTIN = {"hhh": SAFETY_DIR / "hhh_sft.jsonl", "red_team": SAFETY_DIR / "red_team.jsonl"}

MAX_BYTES = 64 * 1024 * 1024
MAX_RECORDS = 200_000
MAX_CHARS = 32_000
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Conversation:
    """One training example: `messages` ends with the assistant target."""

    messages: tuple[tuple[str, str], ...]  # (role, content)

    @property
    def system(self) -> str | None:
        return self.messages[0][1] if self.messages[0][0] == "system" else None

    @property
    def user(self) -> str:
        """The last user message (the question the target answers)."""
        return [c for r, c in self.messages if r == "user"][-1]

    @property
    def answer(self) -> str:
        return self.messages[-1][1]

    def with_user(self, user: str, system: str | None | bool = False) -> "Conversation":
        """A copy with the last user message replaced (and the system line, when given)."""
        msgs = list(self.messages)
        idx = max(i for i, (r, _) in enumerate(msgs) if r == "user")
        msgs[idx] = ("user", user)
        if system is not False:
            if msgs[0][0] == "system":
                msgs = msgs[1:]
            if system is not None:
                msgs = [("system", system)] + msgs
        return Conversation(tuple(msgs))

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.messages).encode()).hexdigest()


def resolve_path(spec: str | Path | None, default: str) -> Path:
    """`None`/`"builtin"` -> the shipped file for `default`; anything else is a path."""
    if spec in (None, "builtin", "default"):
        return BUILTIN[default]
    return Path(str(spec)).expanduser()


def _validate(obj: Any, where: str, path: str) -> Conversation:
    if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
        raise MalformedFileError(f"{where}: expected an object with a 'messages' list", path=path)
    msgs = obj["messages"]
    if len(msgs) < 2:
        raise MalformedFileError(f"{where}: a conversation needs at least a user and an assistant message", path=path)
    out: list[tuple[str, str]] = []
    for j, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise MalformedFileError(
                f"{where}: message {j} must be {{'role': system|user|assistant, 'content': string}}", path=path
            )
        if len(m["content"]) > MAX_CHARS:
            raise ResourceLimitError(f"{where}: message {j} is longer than {MAX_CHARS} characters", path=path)
        out.append((m["role"], m["content"]))
    body = out[1:] if out[0][0] == "system" else out
    expected = ["user", "assistant"] * (len(body) // 2 + 1)
    if not body or [r for r, _ in body] != expected[: len(body)] or body[-1][0] != "assistant":
        raise MalformedFileError(
            f"{where}: after an optional system message, roles must alternate user/assistant and end with assistant",
            path=path,
        )
    if not body[-1][1].strip():
        raise MalformedFileError(f"{where}: the final assistant message is empty", path=path)
    return Conversation(tuple(out))


def load_chat_jsonl(path: str | Path, *, max_records: int = MAX_RECORDS, max_bytes: int = MAX_BYTES) -> list[Conversation]:
    """Read and validate a chat JSONL file (see the module docstring for the format)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise MalformedFileError("dataset file not found", path=str(p)) from None
    if p.is_dir():
        raise MalformedFileError("is a directory, expected a JSONL file", path=str(p))
    if size > max_bytes:
        raise ResourceLimitError(f"dataset is larger than {max_bytes} bytes", path=str(p))
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedFileError("dataset is not UTF-8 text", path=str(p)) from None
    out: list[Conversation] = []
    for i, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("//"):
            continue
        if len(out) >= max_records:
            raise ResourceLimitError(f"dataset has more than {max_records} records", path=str(p))
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as exc:
            raise MalformedFileError(f"line {i}: invalid JSON: {exc.msg}", path=str(p)) from None
        out.append(_validate(obj, f"line {i}", str(p)))
    if not out:
        raise MalformedFileError("dataset has no conversations", path=str(p))
    return out


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split(
    convs: Sequence[Conversation], heldout_fraction: float, salt: str = "heldout", by: str = "answer"
) -> tuple[list, list]:
    """Deterministic train/held-out split by a hash (stable across runs and orderings).

    `by="answer"` keeps every conversation with the same reference answer on the
    same side, so a paraphrased question cannot leak a held-out answer into training.
    """
    train, held = [], []
    for c in convs:
        key = c.answer if by == "answer" else c.key()
        h = int(hashlib.sha256((salt + key).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (held if h < heldout_fraction else train).append(c)
    if not train and held:
        train, held = held[1:], held[:1]
    return train, held


# ---- rendering and encoding ---------------------------------------------------------


def render_prompt(tokenizer, messages: Sequence[tuple[str, str]]) -> str:
    """The model's own chat format for `messages`, ready for the next assistant turn."""
    msgs = [{"role": r, "content": c} for r, c in messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    parts = []
    for r, c in messages:
        if r == "system":
            parts.append(f"{c}\n")
        elif r == "user":
            parts.append(f"Human: {c}\n")
        else:
            parts.append(f"Assistant: {c}\n")
    return "".join(parts) + "Assistant:"


def target_text(tokenizer, messages: Sequence[tuple[str, str]]) -> str:
    """The text of the final assistant turn as the chat template writes it after the
    generation prompt (so the model learns the exact continuation it would generate)."""
    answer = messages[-1][1]
    if getattr(tokenizer, "chat_template", None):
        try:
            full = tokenizer.apply_chat_template(
                [{"role": r, "content": c} for r, c in messages], tokenize=False
            )
            prompt = render_prompt(tokenizer, messages[:-1])
            if full.startswith(prompt):
                tail = full[len(prompt) :]
                eos = tokenizer.eos_token
                if eos and eos in tail:  # stop at the end-of-turn token: what follows belongs to the next turn
                    tail = tail[: tail.index(eos)]
                if answer.strip() and answer.strip() in tail:
                    return tail
        except Exception:  # noqa: BLE001 — templates that cannot render a final assistant turn
            pass
    return " " + answer


def encode(
    tokenizer, convs: Sequence[Conversation], max_len: int, add_eos: bool = True
) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per conversation; labels are -100 on the prompt.

    Prompt and target are tokenised separately and concatenated, exactly as the
    runtime scores continuations, and the target ends with EOS (unless `add_eos`
    is false: for answers that were cut at a token limit). Over-long
    examples keep the end of the prompt and as much of the target as fits.
    """
    eos = tokenizer.eos_token_id
    out = []
    for c in convs:
        prompt = render_prompt(tokenizer, c.messages[:-1])
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a_ids = tokenizer(target_text(tokenizer, c.messages), add_special_tokens=False)["input_ids"]
        if eos is not None and add_eos:
            a_ids = a_ids + [eos]
        a_ids = a_ids[: max(1, max_len // 2)] if len(p_ids) + len(a_ids) > max_len else a_ids
        room = max_len - len(a_ids)
        p_ids = p_ids[-room:] if room > 0 else []
        ids = p_ids + a_ids
        out.append((ids, [-100] * len(p_ids) + a_ids))
    return out
