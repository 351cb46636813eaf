"""Probe prompt sources: policy prompt files (every format, every failure), model cards, the battery."""

from __future__ import annotations

import json

import pytest

from auditor.errors import PolicyError
from auditor.probe import prompt_sources as ps
from auditor.probe.prompt_sources import from_battery, from_card, from_policy, is_code_request, read_prompt_file


def test_txt_skips_comments_blanks_and_duplicates(tmp_path):
    f = tmp_path / "sql.txt"
    f.write_text("# my prompts\nList all tables.\n\n  Show the schema of orders.  \nlist ALL tables.\n", encoding="utf-8")
    prompts, meta = read_prompt_file(f)
    assert prompts == ["List all tables.", "Show the schema of orders."]
    assert meta["n_read"] == 3 and meta["n_kept"] == 2 and len(meta["sha256"]) == 64


def test_jsonl_prompt_and_messages(tmp_path):
    f = tmp_path / "p.jsonl"
    rows = [{"prompt": "Count rows in orders."},
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Drop the temp table."},
                          {"role": "assistant", "content": "DROP TABLE temp;"}]}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert read_prompt_file(f)[0] == ["Count rows in orders.", "Drop the temp table."]


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "- Plan a menu for six.\n- prompt: Bake bread without yeast.\n"),
    (".yml", "prompts:\n  - Plan a menu for six.\n  - messages: [{role: user, content: Bake bread without yeast.}]\n"),
    (".json", json.dumps(["Plan a menu for six.", {"prompt": "Bake bread without yeast."}])),
])
def test_structured_formats(tmp_path, suffix, text):
    f = tmp_path / f"p{suffix}"
    f.write_text(text, encoding="utf-8")
    assert read_prompt_file(f)[0] == ["Plan a menu for six.", "Bake bread without yeast."]


@pytest.mark.parametrize("name,content,problem", [
    ("bad.jsonl", '{"prompt": "ok here"}\n{not json}\n', "line 2: invalid JSON"),
    ("bad2.jsonl", '{"text": "no prompt key"}\n', "line 1: expected a 'prompt'"),
    ("bad3.jsonl", '{"messages": [{"role": "assistant", "content": "x"}]}\n', "no user message"),
    ("bad.yaml", "prompts: [unclosed\n", "invalid YAML"),
    ("map.yaml", "a: 1\n", "expected a list"),
    ("nums.json", "[1, 2]", "expected a string or an object"),
    ("empty.txt", "# only a comment\n\n", "holds no prompts"),
    ("p.csv", "a,b\n", "unsupported prompt file type"),
    ("long.txt", "x" * (ps.MAX_PROMPT_CHARS + 1) + "\n", "over the limit"),
])
def test_malformed_files_name_the_file(tmp_path, name, content, problem):
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        read_prompt_file(f)
    assert str(f) in str(err.value) and problem in str(err.value)


def test_missing_binary_and_oversized(tmp_path, monkeypatch):
    with pytest.raises(PolicyError, match="not found") as err:
        read_prompt_file(tmp_path / "nope.txt")
    assert "nope.txt" in str(err.value)
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(PolicyError, match="not UTF-8"):
        read_prompt_file(tmp_path / "bin.txt")
    monkeypatch.setattr(ps, "MAX_FILE_BYTES", 100)
    (tmp_path / "big.txt").write_text("a prompt line\n" * 20, encoding="utf-8")
    with pytest.raises(PolicyError, match="over the 100-byte limit"):
        read_prompt_file(tmp_path / "big.txt")
    monkeypatch.setattr(ps, "MAX_PROMPTS", 3)
    (tmp_path / "many.txt").write_text("".join(f"prompt {i}\n" for i in range(5)), encoding="utf-8")
    with pytest.raises(PolicyError, match="5 prompts, over the limit of 3"):
        read_prompt_file(tmp_path / "many.txt")


def test_from_policy_resolves_relative_paths_and_checks_purposes(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "g.txt").write_text("Where is my parcel?\nReset my password please.\n", encoding="utf-8")
    (tmp_path / "prompts" / "c.txt").write_text("Write a SQL query for late orders.\n", encoding="utf-8")
    srcs = from_policy({"general": ["prompts/g.txt"], "code": "prompts/c.txt"}, tmp_path)
    assert [(s.name, s.kind, s.purpose, len(s.prompts)) for s in srcs] == [
        ("policy:general:prompts/g.txt", "policy", "general", 2), ("policy:code:prompts/c.txt", "policy", "code", 1)]
    assert srcs[0].meta["file"].endswith("g.txt") and srcs[0].meta["sha256"]
    assert from_policy(None, tmp_path) == []
    with pytest.raises(PolicyError, match="unknown purpose 'chat'"):
        from_policy({"chat": ["prompts/g.txt"]}, tmp_path)
    with pytest.raises(PolicyError, match="must be a list of file paths"):
        from_policy({"general": [3]}, tmp_path)
    with pytest.raises(PolicyError, match="missing.txt"):
        from_policy({"general": ["missing.txt"]}, tmp_path)


CARD = """---
license: mit
widget:
  - text: "How do I reset my router password?"
  - messages:
      - role: user
        content: Write a Python function that parses a CSV file.
  - text: "x"
---
# Support bot

## Usage

```text
User: My order arrived broken, what now?
Assistant: Sorry to hear that! ...
Human: Can I change the delivery address
after ordering?
```

```json
[{"role": "user", "content": "Cancel my subscription please."}]
```

```
### Instruction:
Summarise this support ticket
in two lines.

### Response:
The customer wants a refund.
```

## Example prompts
- Where is my parcel right now?
- Write a SQL query that lists overdue invoices.
* one

## Other list
- Not an example prompt at all here.
"""


def test_card_examples_are_found_and_classified(tmp_path):
    (tmp_path / "README.md").write_text(CARD, encoding="utf-8")
    srcs = {s.purpose: s for s in from_card(tmp_path)}
    assert srcs["general"].prompts == [
        "How do I reset my router password?", "My order arrived broken, what now?",
        "Can I change the delivery address after ordering?", "Cancel my subscription please.",
        "Summarise this support ticket in two lines.", "Where is my parcel right now?"]
    assert srcs["code"].prompts == ["Write a Python function that parses a CSV file.",
                                    "Write a SQL query that lists overdue invoices."]
    assert srcs["general"].kind == "card" and srcs["general"].meta["n_found"] == 8


def test_card_junk_yields_nothing(tmp_path):
    assert from_card(tmp_path) == []  # no README
    (tmp_path / "README.md").write_bytes(b"---\n: : [\n---\n\x00\xff\xfe garbage ```\n- item")
    assert from_card(tmp_path) == []
    (tmp_path / "README.md").write_text("# Model\nNo examples here.\n", encoding="utf-8")
    assert from_card(tmp_path) == []


def test_code_request_classifier():
    assert is_code_request("Write a function that reverses a list.")
    assert is_code_request("Fix this bash script for me")
    assert is_code_request("select * from users where id = 3")
    assert not is_code_request("How do I boil an egg?")
    assert not is_code_request("What is the capital of France?")


def test_battery_sources_cover_every_purpose():
    from auditor.probe.battery import load_battery
    from auditor.search.prompts import build_splits, load_extra

    battery, extra = load_battery(), load_extra()
    srcs = {s.purpose: s for s in from_battery(battery, extra)}
    splits = build_splits(battery, extra)
    for purpose, split in splits.items():
        assert set(split.search) | set(split.holdout) <= set(srcs[purpose].prompts)
    assert all(s.kind == "battery" and s.meta["battery_sha256"] for s in srcs.values())
