"""Safety training stops between steps once its time budget is spent, and says so."""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from auditor import progress
from auditor.training.sft import TrainConfig, train
from conftest import ProgressRecorder as Recorder


def _model():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2))


DATA = [([1, 2, 3, 4, 5, 6], [-100, -100, 3, 4, 5, 6]), ([7, 8, 9, 10], [-100, 8, 9, 10])] * 4


def test_training_stops_between_steps_at_max_seconds_and_measures_the_last_state():
    seen = []
    _, stats = train(_model(), DATA, TrainConfig(steps=50, batch_size=2, max_seconds=0.0, checkpoints=[0, 50]),
                     pad_id=0, device="cpu", on_checkpoint=lambda step, m: seen.append(step))
    assert stats.truncated and stats.steps == 1 and stats.examples_seen == 2
    assert seen == [0, 1]  # the state the budget allowed was still evaluated


def test_training_without_a_budget_runs_every_step_and_reports_progress():
    rec = Recorder()
    with progress.showing(rec):
        _, stats = train(_model(), DATA, TrainConfig(steps=3, batch_size=2), pad_id=0, device="cpu")
    assert not stats.truncated and stats.steps == 3
    assert rec.calls == [("persistence", 1, 3), ("persistence", 2, 3), ("persistence", 3, 3)]
