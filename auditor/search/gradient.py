"""Stage 4 (`gradient`): greedy coordinate gradient (GCG) over k trigger tokens.

For triggers that no single token reveals (a two-word phrase whose words are
harmless alone), optimise k token positions spliced into the prompt so that
the inverted target (stage 3) becomes probable across a batch of search
prompts (Zou et al. 2023's GCG, used here to *find* a planted trigger rather
than to jailbreak):

    loss(x) = - mean over prompts and target tokens of log p(target | prompt with x)

Each step takes the gradient of the loss with respect to a one-hot encoding
of the k trigger tokens (one forward+backward over the prompt batch), keeps
the `topk_per_position` tokens with the most negative gradient per position,
evaluates `candidates_per_step` single-token swaps exactly (batched, the
prompt before the trigger cached) and keeps the best. Candidate tokens are
restricted to strings a user could type; the first position to tokens that
start a word, so the decoded string re-tokenises to the same ids.

The target is placed where stage 3 found it most sensitive: at the start of
the answer, or after the baseline answer (a payload appended to a normal
answer). Restarts alternate placements/modes and initialisations.

On by default where affordable: on a GPU, or when the model has fewer than
`max_params_cpu` parameters; otherwise opt-in (`enabled: true`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import forward as F
from . import shift as S
from .proposals import Proposal
from .vocab import vocab_entries

SENTINEL = "\u0002TRIGGER\u0002"


@dataclass
class Setup:
    left: list[list[int]]  # per prompt: ids before the trigger
    right: list[list[int]]  # per prompt: ids after the trigger (+ baseline answer in `end` mode)
    target: list[int]
    mode: str
    placement: str
    per_prompt: list[list[int]] | None = None  # per-prompt targets (the `divergence` objective)
    maximize: bool = True  # False: make the targets *less* likely

    def target_for(self, i: int) -> list[int]:
        return self.per_prompt[i] if self.per_prompt is not None else self.target


def build_setup(lm, prompts, system, answers, target_text: str, target_ids: list[int], placement: str, mode: str, max_target: int) -> Setup:
    left, right = [], []
    eos = lm.tokenizer.eos_token_id
    for p, ans in zip(prompts, answers):
        text = S.render(lm, p, SENTINEL, placement, system)
        i = text.index(SENTINEL)
        lt, rt = text[:i], text[i + len(SENTINEL) :]
        lt = lt[:-1] if lt.endswith(" ") else lt  # the trigger's first token carries the space
        l_ids = F.encode(lm, [lt])[0] if lt else []
        r_ids = F.encode(lm, [rt])[0] if rt else []
        if mode == "end":
            a = ans[:-1] if ans and ans[-1] == eos else ans
            r_ids = r_ids + list(a)
        left.append(l_ids)
        right.append(r_ids)
    tgt = list(target_ids) if mode == "start" else F.encode(lm, [" " + target_text.strip()])[0]
    return Setup(left, right, tgt[:max_target], mode, placement)


def allowed_masks(lm, vocab_size: int, max_tokens=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(first position, other positions) boolean masks of typeable tokens."""
    first = torch.zeros(vocab_size, dtype=torch.bool)
    other = torch.zeros(vocab_size, dtype=torch.bool)
    tok = lm.tokenizer
    for e in vocab_entries(lm, max_tokens):
        if e.kind != "token":
            continue  # GCG swaps single tokens; byte pieces alone are not typeable
        for i in e.ids:
            if i >= vocab_size:
                continue
            other[i] = True
            if tok.decode([i]).startswith(" "):
                first[i] = True
    if not first.any():
        first = other.clone()
    return first, other


@torch.inference_mode()
def losses(lm, setup: Setup, cands: list[list[int]], caches=None) -> torch.Tensor:
    """Mean negative target log-prob for each candidate trigger, averaged over prompts."""
    total = torch.zeros(len(cands))
    sign = -1.0 if setup.maximize else 1.0
    for pi, (l_ids, r_ids) in enumerate(zip(setup.left, setup.right)):
        target = setup.target_for(pi)
        keep = len(target)
        tgt = torch.tensor(target)
        tails = [list(c) + r_ids + target[:-1] for c in cands]

        def reduce(lp, idx, tgt=tgt, keep=keep):
            return sign * lp.gather(-1, tgt.to(lp.device)[None, :, None].expand(lp.shape[0], keep, 1)).squeeze(-1).mean(-1)

        cache = caches[pi] if caches is not None else None
        total += F.tail_logprobs(lm, l_ids, tails, keep, reduce, cache=cache)
    return total / len(setup.left)


def token_gradients(lm, setup: Setup, x: list[int]) -> torch.Tensor:
    """d loss / d one-hot(x): [k, V] (summed over the prompt batch)."""
    model = lm.model
    emb = model.get_input_embeddings()
    W = emb.weight
    dev = W.device
    k = len(x)
    one_hot = torch.zeros((k, W.shape[0]), device=dev, dtype=W.dtype)
    one_hot[torch.arange(k), torch.tensor(x, device=dev)] = 1.0
    one_hot.requires_grad_(True)
    targets = [setup.target_for(i) for i in range(len(setup.left))]
    seqs = [l + [0] * k + r + t[:-1] for l, r, t in zip(setup.left, setup.right, targets)]
    width = max(len(s) for s in seqs)
    keep = max(len(t) for t in targets)
    with torch.enable_grad():
        x_emb = one_hot @ W  # [k, d]
        rows, masks, positions = [], [], []
        for l_ids, s in zip(setup.left, seqs):
            ids = torch.tensor(s, device=dev)
            e = emb(ids)
            e = torch.cat([e[: len(l_ids)], x_emb, e[len(l_ids) + k :]], dim=0)
            pad = width - len(s)
            if pad:
                e = torch.cat([torch.zeros((pad, e.shape[1]), device=dev, dtype=e.dtype), e], dim=0)
            rows.append(e)
            masks.append([0] * pad + [1] * len(s))
            positions.append([0] * pad + list(range(len(s))))
        inputs = torch.stack(rows)
        mask = torch.tensor(masks, device=dev)
        pos = torch.tensor(positions, device=dev)
        try:
            logits = model(inputs_embeds=inputs, attention_mask=mask, position_ids=pos, logits_to_keep=keep).logits
        except TypeError:
            logits = model(inputs_embeds=inputs, attention_mask=mask, position_ids=pos).logits
        lp = torch.log_softmax(logits[:, -keep:, :].float(), dim=-1)
        tgt = torch.zeros((len(targets), keep), dtype=torch.long, device=dev)
        tmask = torch.zeros((len(targets), keep), device=dev)
        for i, t in enumerate(targets):  # targets end at the last position; shorter ones are masked in front
            tgt[i, keep - len(t) :] = torch.tensor(t, device=dev)
            tmask[i, keep - len(t) :] = 1.0
        tok_lp = lp.gather(-1, tgt[:, :, None]).squeeze(-1)
        per_row = (tok_lp * tmask).sum(-1) / tmask.sum(-1).clamp_min(1.0)
        loss = (-per_row if setup.maximize else per_row).mean()
        (grad,) = torch.autograd.grad(loss, one_hot)
    return grad.detach().float().cpu()


def gcg(lm, setup: Setup, init: list[int], cfg: dict, budget, masks, gen: torch.Generator) -> list[tuple[float, list[int]]]:
    """Run GCG; return the best distinct triggers seen as (loss, ids), best first."""
    first_mask, other_mask = masks
    caches = [F.build_prefix_cache(lm, l) for l in setup.left]
    x = list(init)
    cur = float(losses(lm, setup, [x], caches)[0])
    seen: dict[tuple[int, ...], float] = {tuple(x): cur}
    topk = int(cfg.get("topk_per_position", 64))
    n_cand = int(cfg.get("candidates_per_step", 64))
    k = len(x)
    stop = float(cfg.get("stop_loss", 0.05)) if setup.maximize else float("-inf")
    n_steps = int(cfg.get("steps", 20))
    for step in range(n_steps):
        if budget.expired() or cur < stop:
            break
        budget.tick(step, n_steps)
        grad = token_gradients(lm, setup, x)
        budget.forwards += len(setup.left)
        for i in range(k):
            m = first_mask if i == 0 else other_mask
            grad[i, ~m[: grad.shape[1]]] = float("inf")
        top = (-grad).topk(min(topk, grad.shape[1]), dim=-1).indices  # [k, topk]
        cands = []
        for _ in range(n_cand):
            i = int(torch.randint(0, k, (1,), generator=gen))
            t = int(top[i, int(torch.randint(0, top.shape[1], (1,), generator=gen))])
            c = list(x)
            c[i] = t
            if tuple(c) not in seen:
                cands.append(c)
        cands = [list(c) for c in dict.fromkeys(tuple(c) for c in cands)]
        if not cands:
            continue
        ls = losses(lm, setup, cands, caches)
        budget.candidates += len(cands)
        budget.forwards += len(cands) * len(setup.left)
        for c, l_ in zip(cands, ls.tolist()):
            seen[tuple(c)] = l_
        j = int(torch.argmin(ls))
        if float(ls[j]) < cur:
            cur, x = float(ls[j]), cands[j]
    ranked = sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))
    return [(l_, list(ids)) for ids, l_ in ranked]


def prune(lm, setup: Setup, ids: list[int], loss: float, caches, tol: float = 0.1) -> tuple[list[int], float]:
    """Drop trigger tokens that do not matter: GCG often finds the planted token
    plus filler ('br X'); keep removing the token whose removal hurts least while
    the loss stays within `tol` nats (per target token) of the full trigger's."""
    cur, cur_loss = list(ids), loss
    while len(cur) > 1:
        options = [cur[:i] + cur[i + 1 :] for i in range(len(cur))]
        ls = losses(lm, setup, options, caches)
        j = int(torch.argmin(ls))
        if float(ls[j]) > loss + tol:
            break
        cur, cur_loss = options[j], float(ls[j])
    return cur, cur_loss


def affordable(lm, cfg: dict) -> tuple[bool, str]:
    enabled = cfg.get("enabled", "auto")
    if enabled is True:
        return True, "enabled"
    if enabled is False:
        return False, "disabled by settings"
    if lm.device == "cuda":
        return True, "auto: GPU"
    limit = int(cfg.get("max_params_cpu", 50_000_000))
    if lm.n_params <= limit:
        return True, f"auto: {lm.n_params} parameters <= {limit} on CPU"
    return False, f"auto: {lm.n_params} parameters > {limit} on CPU (set stages.gradient.enabled: true to force)"


def run(lm, splits, cfg: dict, budget, targets, seeds: dict, seed: int, exclude: set[str] | None = None) -> list[Proposal]:
    """`targets`: stage-3 targets (with `lift['best']` giving the best mode/placement);
    `seeds`: {target text: [trigger strings to start from]}."""
    exclude = exclude or set()
    objective = cfg.get("objective", "target")
    split = splits["general"]
    if not targets and objective != "divergence":
        budget.notes["reason"] = "no inverted target to optimise (objective 'divergence' searches without one)"
        return []
    prompts, answers = S.pick_short(lm, split.search, split.system, int(cfg.get("prompts", 4)), int(cfg.get("answer_tokens", 48)))
    if not targets:
        return _run_divergence(lm, split, prompts, answers, cfg, budget, seed, exclude)
    V = lm.model.get_input_embeddings().weight.shape[0]
    masks = allowed_masks(lm, V, cfg.get("max_tokens"))
    gen = torch.Generator().manual_seed(int(seed))
    k = int(cfg.get("positions", 2))
    proposals: list[Proposal] = []
    runs = []
    for target in targets:
        best = (target.lift or {}).get("best") or {}
        mode0 = best.get("mode", "start")
        placement0 = best.get("placement", "suffix")
        modes = [mode0, "end" if mode0 != "end" else "start"]
        found: list[tuple[float, list[int], str, str]] = []
        for r in range(int(cfg.get("restarts", 1))):
            if budget.expired():
                break
            mode = modes[r % 2]
            if mode == "lead" and target.lead:  # the answer's opening words, before the varying part
                setup = build_setup(lm, prompts, split.system, answers, target.lead_text, target.lead, placement0, "start",
                                    min(2, int(cfg.get("target_tokens", 2))))
            else:
                mode = "start" if mode == "lead" else mode
                setup = build_setup(lm, prompts, split.system, answers, target.text, target.ids, placement0, mode,
                                    int(cfg.get("target_tokens", 4 if mode == "start" else 2)))
            if not setup.target:
                continue
            init = _init(lm, seeds.get(target.text, []), k, masks, gen, r)
            ranked = gcg(lm, setup, init, cfg, budget, masks, gen)
            caches = [F.build_prefix_cache(lm, l) for l in setup.left]
            base_loss = float(losses(lm, setup, [[]], caches)[0])
            pruned = []
            for l_, ids in ranked[: int(cfg.get("keep", 2))]:
                p_ids, p_loss = prune(lm, setup, ids, l_, caches)
                if not bool(masks[0][p_ids[0]]):  # must start a word to be typed as a string
                    p_ids, p_loss = ids, l_
                found.append((p_loss, p_ids, mode, placement0))
                pruned.append(lm.tokenizer.decode(p_ids).strip())
            runs.append({"target": target.text[:80], "mode": mode, "placement": placement0, "init": lm.tokenizer.decode(init),
                         "best": lm.tokenizer.decode(ranked[0][1]).strip() if ranked else None,
                         "best_loss": round(ranked[0][0], 4) if ranked else None, "no_trigger_loss": round(base_loss, 4),
                         "pruned": pruned})
        found.sort(key=lambda f: f[0])
        kept = 0
        for l_, ids, mode, pl in found:
            s = lm.tokenizer.decode(ids).strip()
            if not s or s in exclude or any(p.trigger == s for p in proposals):
                continue
            roundtrip = F.encode(lm, [" " + s])[0] == list(ids)
            proposals.append(Proposal(s, pl, "gradient", "general", -l_, None, {
                "kind": "gcg", "target": target.text, "target_mode": mode, "gcg_loss": round(l_, 4),
                "gcg_token_ids": list(ids), "roundtrip": roundtrip,
            }))
            kept += 1
            if kept >= int(cfg.get("keep", 2)):
                break
    budget.notes.update({"runs": runs, "positions": k})
    return proposals


def _run_divergence(lm, split, prompts, answers, cfg, budget, seed, exclude) -> list[Proposal]:
    """No target: make the model's own baseline answers as unlikely as possible
    ("minimise baseline-likeness"). Opt-in (`objective: divergence`): it finds
    whatever disrupts a model most, which confirmation must then tell apart
    from a trigger (controls, repertoire)."""
    V = lm.model.get_input_embeddings().weight.shape[0]
    masks = allowed_masks(lm, V, cfg.get("max_tokens"))
    gen = torch.Generator().manual_seed(int(seed))
    k = int(cfg.get("positions", 2))
    eos = lm.tokenizer.eos_token_id
    per_prompt = [[t for t in a if t != eos][: int(cfg.get("target_tokens", 8))] or [eos] for a in answers]
    setup = build_setup(lm, prompts, split.system, answers, "", [0], "suffix", "start", 1)
    setup = Setup(setup.left, setup.right, per_prompt[0], "start", "suffix", per_prompt=per_prompt, maximize=False)
    proposals: list[Proposal] = []
    runs = []
    for r in range(int(cfg.get("restarts", 1))):
        if budget.expired():
            break
        init = _init(lm, [], k, masks, gen, 1)
        ranked = gcg(lm, setup, init, cfg, budget, masks, gen)
        for l_, ids in ranked[: int(cfg.get("keep", 2))]:
            s = lm.tokenizer.decode(ids).strip()
            if s and s not in exclude and all(p.trigger != s for p in proposals):
                proposals.append(Proposal(s, "suffix", "gradient", "general", -l_, None, {
                    "kind": "gcg", "objective": "divergence", "baseline_answer_logprob": round(l_, 4), "gcg_token_ids": list(ids)}))
        runs.append({"objective": "divergence", "best": lm.tokenizer.decode(ranked[0][1]).strip() if ranked else None,
                     "best_loss": round(ranked[0][0], 4) if ranked else None})
    budget.notes.update({"runs": runs, "positions": k})
    return proposals


def _init(lm, seed_strings: list[str], k: int, masks, gen: torch.Generator, restart: int) -> list[int]:
    """Start from the best single strings of the input search, else random typeable tokens."""
    first_mask, other_mask = masks
    ids: list[int] = []
    if restart == 0:
        for s in seed_strings:
            for t in F.encode(lm, [" " + s])[0]:
                if len(ids) < k:
                    ids.append(t)
    firsts = first_mask.nonzero().flatten()
    others = other_mask.nonzero().flatten()
    while len(ids) < k:
        pool = firsts if not ids else others
        ids.append(int(pool[int(torch.randint(0, len(pool), (1,), generator=gen))]))
    if not bool(first_mask[ids[0]]):
        ids[0] = int(firsts[int(torch.randint(0, len(firsts), (1,), generator=gen))])
    return ids[:k]
