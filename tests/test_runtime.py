"""The loaded-model runtime on a real (randomly initialised) tiny GPT-2: batching must not change results."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    d = tmp_path_factory.mktemp("tiny")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(["Human: hello there\nAssistant: general kenobi"] * 20,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<unk>")
    fast.save_pretrained(d)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_positions=64, n_embd=32, n_layer=2, n_head=2)).save_pretrained(d)
    from auditor.probe.loading import load_model

    return load_model(d, device="cpu")


def test_scores_do_not_depend_on_batch_padding(lm):
    short, long = lm.render("hi"), lm.render("a much longer prompt about many different things")
    alone = lm.next_token_logprobs([short])
    batched = lm.next_token_logprobs([short, long], batch_size=2)
    assert torch.allclose(alone[0], batched[0], atol=1e-4)
    a = lm.continuation_logprob([short], [" general"])
    b = lm.continuation_logprob([short, long], [" general", " kenobi"], batch_size=2)
    assert a[0] == pytest.approx(b[0], abs=1e-4)


def test_generation_is_deterministic_and_order_preserving(lm):
    prompts = [lm.render(p) for p in ("one", "a longer two", "three three three")]
    first = lm.generate(prompts, max_new_tokens=5)
    again = lm.generate(list(reversed(prompts)), max_new_tokens=5)
    assert first == list(reversed(again))
    assert lm.info()["chat_template"] is False and "Human: one" in prompts[0]
