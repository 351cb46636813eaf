"""Supervised fine-tuning on a working copy: full fine-tuning or LoRA, one loop.

- Full fine-tuning (small models): all parameters in fp32, AdamW.
- LoRA (`peft`, above a size threshold or when asked): the base stays frozen in
  its loaded dtype (bf16 on GPU), adapters train in fp32; on CUDA the forward
  runs under bf16 autocast.
- Loss only on the assistant target tokens; right-padded batches.
- Deterministic under the seed: the data order comes from `random.Random(seed)`
  and training runs inside `workspace.deterministic` (seeded forked RNG,
  deterministic kernels where torch has them).
- `on_checkpoint(step)` is called at step 0 (before any update) and after each
  requested step, with the model in eval mode, so the caller can measure the
  backdoor during training.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from .. import progress
from .cost import MemoryMeter


@dataclass
class TrainConfig:
    steps: int = 40
    learning_rate: float = 3e-4
    batch_size: int = 8
    max_seq_len: int = 256
    lora: bool = False
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_target_modules: str | list[str] = "all-linear"
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    gradient_checkpointing: bool = False
    seed: int = 0
    checkpoints: list[int] = field(default_factory=list)  # steps at which to call on_checkpoint (0 included)
    max_seconds: float | None = None  # time budget: stop between steps once training has taken this long


@dataclass
class TrainStats:
    steps: int
    examples_seen: int
    tokens_seen: int
    seconds: float
    seconds_per_step: float  # excluding the first step (warm-up) when there is more than one
    first_step_seconds: float
    peak_memory_mb: float | None
    memory_kind: str
    trainable_params: int
    losses: list[list[float]]  # [step, loss] every few steps
    lora: bool
    dtype: str
    truncated: bool = False  # stopped by max_seconds before `steps` (the last step was still measured)


def batch_stream(data: Sequence[tuple[list[int], list[int]]], steps: int, batch_size: int, rng: random.Random):
    """Deterministic batches: reshuffle each epoch, wrap around as needed."""
    order: list[int] = []
    for _ in range(steps):
        batch = []
        while len(batch) < batch_size:
            if not order:
                order = list(range(len(data)))
                rng.shuffle(order)
            batch.append(order.pop())
        yield [data[i] for i in batch]


def collate(batch, pad_id: int, device) -> dict[str, torch.Tensor]:
    width = max(len(x) for x, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    lab = torch.full((len(batch), width), -100, dtype=torch.long)
    att = torch.zeros((len(batch), width), dtype=torch.long)
    for r, (x, y) in enumerate(batch):
        ids[r, : len(x)] = torch.tensor(x)
        lab[r, : len(y)] = torch.tensor(y)
        att[r, : len(x)] = 1
    return {"input_ids": ids.to(device), "attention_mask": att.to(device), "labels": lab.to(device)}


def apply_lora(model, cfg: TrainConfig):
    """Wrap the model with LoRA adapters (peft). Returns the PeftModel."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:  # pragma: no cover — peft is a dependency of the persistence check
        from ..errors import AuditorError

        raise AuditorError("LoRA needs the 'peft' package (pip install peft)") from exc
    target = cfg.lora_target_modules
    lcfg = LoraConfig(
        r=int(cfg.lora_rank),
        lora_alpha=int(cfg.lora_alpha),
        lora_dropout=0.0,
        target_modules=target,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft notes that GPT-2's Conv1D needs fan_in_fan_out=True and sets it itself
        warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
        peft_model = get_peft_model(model, lcfg)
    for n, p in peft_model.named_parameters():  # adapters in fp32 even on a bf16 base
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    return peft_model


def train(model, data, cfg: TrainConfig, *, pad_id: int, device: str, on_checkpoint=None):
    """Fine-tune `model` in place (it must be a working copy). Returns (model, TrainStats):
    the returned model is the PeftModel wrapper when LoRA was used (the caller measures
    with it, then calls `.unload()`). On failure the adapters are removed again, and
    gradient checkpointing and `config.use_cache` are always restored, so the disk
    workspace can hand back the original model unchanged."""
    if not data:
        raise ValueError("no training examples")
    config = getattr(model, "config", None)
    prev_cache = getattr(config, "use_cache", None)
    wrapped = model
    gc_on = False
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*gradient_checkpointing.*")
        try:
            if cfg.lora:
                wrapped = apply_lora(model, cfg)
            if cfg.gradient_checkpointing and hasattr(wrapped, "gradient_checkpointing_enable"):
                wrapped.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
                gc_on = True
                if cfg.lora and hasattr(wrapped, "enable_input_require_grads"):
                    wrapped.enable_input_require_grads()
            stats = _train(wrapped, data, cfg, pad_id=pad_id, device=device, on_checkpoint=on_checkpoint)
        except BaseException:
            if wrapped is not model and hasattr(wrapped, "unload"):
                wrapped.unload()
            raise
        finally:
            if gc_on and hasattr(wrapped, "gradient_checkpointing_disable"):
                wrapped.gradient_checkpointing_disable()
            if config is not None and prev_cache is not None:
                config.use_cache = prev_cache
    return wrapped, stats


def _train(
    model,
    data: Sequence[tuple[list[int], list[int]]],
    cfg: TrainConfig,
    *,
    pad_id: int,
    device: str,
    on_checkpoint: Callable[[int, object], None] | None = None,
) -> TrainStats:
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
        betas=(0.9, 0.98),
        foreach=False,
    )
    warm = max(0, int(cfg.warmup_steps))

    def lr_at(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        prog = (s - warm) / max(1, cfg.steps - warm)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    use_autocast = device == "cuda"
    checkpoints = sorted(set(int(c) for c in cfg.checkpoints if 0 <= int(c) <= cfg.steps))
    rng = random.Random(cfg.seed * 7919 + 17)
    meter = MemoryMeter(device)
    losses: list[list[float]] = []
    tokens = 0
    if on_checkpoint and 0 in checkpoints:
        model.eval()
        on_checkpoint(0, model)
    model.train()
    if hasattr(model, "config"):
        model.config.use_cache = False
    t_train = 0.0
    t_first = 0.0
    truncated, done_steps = False, cfg.steps
    meter.start()
    for step, batch in enumerate(batch_stream(data, cfg.steps, cfg.batch_size, rng), start=1):
        t0 = time.perf_counter()
        enc = collate(batch, pad_id, device)
        tokens += int(enc["attention_mask"].sum())
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_autocast):
            loss = model(**enc).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        t_train += dt
        if step == 1:
            t_first = dt
        meter.sample()
        if step == 1 or step % 5 == 0 or step == cfg.steps:
            losses.append([step, round(float(loss.detach()), 4)])
        if on_checkpoint and step in checkpoints:
            model.eval()
            if hasattr(model, "config"):
                model.config.use_cache = True
            on_checkpoint(step, model)
            model.train()
            if hasattr(model, "config"):
                model.config.use_cache = False
        progress.update("persistence", step, cfg.steps)
        if cfg.max_seconds is not None and t_train > cfg.max_seconds and step < cfg.steps:
            truncated, done_steps = True, step
            if on_checkpoint and step not in checkpoints:  # measure what the budget allowed
                model.eval()
                if hasattr(model, "config"):
                    model.config.use_cache = True
                on_checkpoint(step, model)
            break
    model.eval()
    if hasattr(model, "config"):
        model.config.use_cache = True
    opt.zero_grad(set_to_none=True)
    del opt
    peak, kind = meter.peak_mb()
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    stats = TrainStats(
        steps=done_steps,
        examples_seen=done_steps * cfg.batch_size,
        tokens_seen=tokens,
        seconds=round(t_train, 3),
        seconds_per_step=round((t_train - t_first) / (done_steps - 1) if done_steps > 1 else t_train, 4),
        first_step_seconds=round(t_first, 4),
        peak_memory_mb=peak,
        memory_kind=kind,
        trainable_params=trainable,
        losses=losses,
        lora=cfg.lora,
        dtype=dtype,
        truncated=truncated,
    )
    return stats


@torch.no_grad()
def mean_token_logprob(model, data: Sequence[tuple[list[int], list[int]]], *, pad_id: int, device, batch_size: int = 16) -> list[float]:
    """Mean per-token log-probability of the labelled (answer) tokens of each example, in input order."""
    out: list[float] = []
    for i in range(0, len(data), batch_size):
        enc = collate(data[i : i + batch_size], pad_id, device)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.float()
        logp = torch.log_softmax(logits[:, :-1, :], dim=-1)
        tgt = enc["labels"][:, 1:]
        mask = (tgt != -100).float()
        tok = logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        out += ((tok * mask).sum(-1) / mask.sum(-1).clamp(min=1)).cpu().tolist()
    return out
