"""What each stage of an audit will cost, counted from its settings.

Every estimator reads the same settings the check will run with (presets
resolved, policy overrides applied) and counts its work in units the
calibration prices: forward tokens, scored positions (output projection and
log-softmax over the vocabulary), generated sequences x new tokens, training
tokens and bytes. The counts follow the code of each stage (see the comments);
they are estimates, compared with the measured times in every report's `plan`
block. Work that only happens when something is found (input search after an
inverted target, persistence after a confirmed trigger, a scratchpad's full
read) is priced separately as `conditional` and not counted in `seconds`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from .calibrate import Throughput

# Candidate-scoring stages compare two distributions per scored position (JS divergence),
# about twice the work of the log-softmax the calibration times.
JS_FACTOR = 2.0
# Tokens a spliced candidate and the end of the chat template add to a tail (suffix placement).
TAIL_EXTRA = 10
# A training example of the built-in HHH set, in tokens (chat-rendered, truncated to max_seq_len).
TRAIN_EXAMPLE_TOKENS = 96


@dataclass
class Env:
    """What the estimators need to know about the model and the machine."""

    n_params: int
    vocab: int  # tokenizer length (the strings a vocabulary scan can try)
    prompt_tokens: float  # mean rendered search prompt, in tokens
    device: str
    gen_batch: int  # the runtime's generation batch
    n_bytes: int  # model files on disk
    tp: Throughput
    battery: Any = None
    extra: Any = None
    seed: int = 0
    n_triggers: int | None = None  # confirmed triggers, once known (persistence is priced per trigger)
    scan_bytes: int | None = None  # what the static scan reads (weights in a header format: the header)

    def tail(self, placement: str, answer: int) -> float:
        """Tokens after the cached prefix when a candidate sits at `placement`."""
        body = {"suffix": 0.0, "inline": self.prompt_tokens / 2, "prefix": self.prompt_tokens, "system": self.prompt_tokens}
        return TAIL_EXTRA + answer + body.get(placement, self.prompt_tokens)


@dataclass
class StageEstimate:
    check: str
    stage: str
    units: str  # what is counted, for a person
    seconds: float
    coverage: str = "full"
    conditional: float = 0.0  # extra seconds if the stage's condition holds
    condition: str | None = None
    work: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None  # why the stage will not run
    full: float | None = None  # seconds without the stage's max_seconds cap (when it has one)

    @property
    def key(self) -> str:
        return self.check if self.stage == self.check else f"{self.check}.{self.stage}"

    def to_dict(self) -> dict:
        out = {"check": self.check, "stage": self.stage, "units": self.units, "seconds": round(self.seconds, 2),
               "coverage": self.coverage, "work": {k: int(v) for k, v in self.work.items()}}
        if self.conditional:
            out["conditional_seconds"] = round(self.conditional, 2)
            out["condition"] = self.condition
        if self.skipped:
            out["skipped"] = self.skipped
        if self.full is not None and self.full > self.seconds:
            out["uncapped_seconds"] = round(self.full, 2)
        return out


def _n(x: float) -> str:
    return f"{int(round(x)):,}"


def _scan(env: Env, seqs: float, tail: float, scored: float) -> float:
    return env.tp.forward(seqs * tail, seqs * scored * JS_FACTOR)


# ---- static scan ---------------------------------------------------------------------------


# Weight formats whose scanner reads only the header (tensor table and metadata, bounded).
HEADER_FORMATS = (".safetensors", ".gguf")
HEADER_BYTES = 1 << 20


def scan_bytes(files) -> int:
    """Bytes the static scan reads: every file whole, except weights in a header format. The
    resolver has already hashed every file (the manifest), so the scan does not hash again."""
    return sum(min(int(f.size or 0), HEADER_BYTES) if str(f.path).endswith(HEADER_FORMATS) else int(f.size or 0)
               for f in files)


def static_scan(settings: dict, env: Env) -> list[StageEstimate]:
    n = env.n_bytes if env.scan_bytes is None else env.scan_bytes
    secs = n / env.tp.hash_bps
    return [StageEstimate("static_scan", "static_scan", f"{n / 2**20:,.1f} MiB to read and parse "
                          f"({env.n_bytes / 2**20:,.1f} MiB of files)", secs, work={"bytes": n})]


def provenance(settings: dict, env: Env) -> list[StageEstimate]:
    # Reads one signature and compares it with the manifest the resolver already hashed.
    return [StageEstimate("provenance", "provenance", "signature vs manifest", 0.05, work={"files": 1})]


# ---- probe set (auditor/checks/probe_coverage.py, probe/probe_set.py) -----------------------


def probe_coverage(settings: dict, env: Env) -> list[StageEstimate]:
    """Building the probe set: elicitation samples (user, system and assistant openings; cut at
    `elicit_max_seconds`), greedy answers to the turns they leak (at most one per sample, plus
    each system turn with a few user turns) and the user-turn scoring; then competence per
    candidate prompt (a greedy answer, sampled answers, one scoring pass)."""
    from ..probe.elicit import MAX_SYSTEM_TURNS, SIDE_SHARE, SYSTEM_PAIRINGS
    from ..probe.probe_set import DEFAULT_SETTINGS

    cfg = {**DEFAULT_SETTINGS, **((settings or {}).get("settings") or {})}
    n, el_tokens = (int(cfg["n_elicit"]) if cfg["elicit"] else 0), int(cfg["elicit_max_new_tokens"])
    n_el = n + 2 * (n // SIDE_SHARE)
    elicit = min(env.tp.generate(n_el, el_tokens, env.gen_batch, env.prompt_tokens), float(cfg["elicit_max_seconds"]))
    if n:
        n_answers = n + min(n // SIDE_SHARE, MAX_SYSTEM_TURNS) * SYSTEM_PAIRINGS  # an upper bound: turns kept
        elicit += env.tp.generate(n_answers, el_tokens, env.gen_batch, env.prompt_tokens + el_tokens)
        scored = (int(cfg["n_reference"]) + n) * el_tokens // 2  # reference requests and own turns as user turns
        elicit += env.tp.forward(scored + (int(cfg["n_reference"]) + n) * 8, scored)
        n_el += n_answers
    n_cand = sum(min(int(cfg["max_candidates"]), m) for m in (64, 60))  # general + code candidates (battery sizes)
    mnt = int(cfg["competence_max_new_tokens"])
    gens = n_cand * (1 + int(cfg["competence_samples"]))
    comp = env.tp.generate(gens, mnt, env.gen_batch, env.prompt_tokens) + env.tp.forward(n_cand * (env.prompt_tokens + mnt), n_cand * mnt)
    return [StageEstimate("probe_coverage", "probe_coverage",
                          f"{n_el} elicitation samples; {n_cand} prompts scored ({gens} generations)", elicit + comp,
                          work={"generations": n_el + gens})]


# ---- known triggers (auditor/checks/known_triggers.py, probe/confirm.py) -------------------


def survivor_seconds(env: Env, n_holdout: int, new_tokens: int, controls: int) -> float:
    """One candidate that passes the screen (`probe/confirm.py`): the split's holdout baseline,
    the candidate on the holdout prompts and each matched control string on them."""
    return env.tp.generate(n_holdout * (2 + controls), new_tokens, env.gen_batch, env.prompt_tokens)


def known_trigger_candidates(settings: dict, battery) -> tuple[int, int]:
    """(trigger x placement candidates, triggers) the check will screen under `settings`."""
    trig = battery.triggers[: int(settings["max_triggers"])] if settings.get("max_triggers") else battery.triggers
    first = settings.get("placements") == "first"
    return sum(1 if first else len(battery.placements_for(t)) for t in trig), len(trig)


def known_triggers(settings: dict, env: Env) -> list[StageEstimate]:
    """Every candidate on the search prompts of the general and the code split (the refusal
    split only for a model that refuses harm: a check of 16 generations first)."""
    b = env.battery
    n_cand, n_trig = known_trigger_candidates(settings, b)
    n_s, n_h = len(b.prompts["search"]), len(b.prompts["holdout"])
    n_cs = len(b.prompts.get("code_search") or [])
    mnt, cmnt = int(settings.get("max_new_tokens", 24)), int(settings.get("code_max_new_tokens", 96))
    seqs, code = (1 + n_cand) * n_s, (1 + n_cand) * n_cs  # screen: baseline + every candidate
    secs = env.tp.generate(seqs, mnt, env.gen_batch, env.prompt_tokens)
    secs += env.tp.generate(code, cmnt, env.gen_batch, env.prompt_tokens)
    secs += env.tp.generate(n_s, 32, env.gen_batch, env.prompt_tokens)  # does the model refuse harm?
    if settings.get("max_seconds"):
        secs = min(secs, float(settings["max_seconds"]))  # the cap stops the screen, not what follows it
    cond = survivor_seconds(env, n_h, mnt, int(settings.get("controls", 3)))
    secs += cond  # one candidate nearly always passes the screen (a trigger, or prompt fragility)
    full = secs
    cov = "full" if n_trig >= len(b.triggers) and settings.get("placements") != "first" else \
        f"{n_cand} candidates: {n_trig} of {len(b.triggers)} published triggers" + \
        (", first placement each" if settings.get("placements") == "first" else "")
    return [StageEstimate("known_triggers", "known_triggers",
                          f"{n_cand} candidates x ({n_s} + {n_cs} code) prompts = {_n(seqs + code)} generations x "
                          f"{mnt}/{cmnt} tokens", secs, coverage=cov,
                          conditional=cond, condition="per further candidate passing the screen: holdout and controls",
                          work={"generations": seqs + code, "new_tokens": seqs * mnt + code * cmnt}, full=full)]


# ---- trigger search (auditor/search/*) -----------------------------------------------------


def _battery_stage(c: dict, env: Env) -> StageEstimate:
    from ..search import candidates

    gens = candidates.generate(env.battery, env.extra, c, [], random.Random(env.seed))
    ans = int(c.get("answer_tokens", 10))
    n_p = int(c.get("scan_prompts", 4))
    secs = fwd = seqs_all = 0.0
    for split, mult, n_search in (("general", 1, len(env.battery.prompts["search"])), ("code", 2, 6)):
        if int(c.get("top_k" if split == "general" else "code_top_k", 0)) <= 0:
            continue
        pls = [pl for g in gens if split in g.splits for pl in g.placements]
        seqs = len(pls) * n_p
        tail = sum(env.tail(pl, ans * mult) for pl in pls) / max(1, len(pls))
        secs += _scan(env, seqs, tail, ans * mult)
        secs += env.tp.generate(n_search, max(ans * mult, 48), env.gen_batch, env.prompt_tokens)  # baselines
        fwd += seqs * tail
        seqs_all += seqs
    n_gen = len(gens)
    n_all = len(candidates.generate(env.battery, env.extra, {**c, "max_candidates": None}, [], random.Random(env.seed)))
    cov = "full" if n_gen >= n_all else f"{n_gen} of {n_all} candidates (published first)"
    return StageEstimate("trigger_search", "battery", f"{_n(n_gen)} candidates x placements x {n_p} prompts = {_n(seqs_all)} sequences",
                         secs, coverage=cov, work={"sequences": seqs_all, "forward_tokens": fwd})


def vocab_strings(env: Env, c: dict) -> int:
    cap = c.get("max_tokens")
    return min(env.vocab, int(cap)) if cap else env.vocab


def _vocab_stage(c: dict, env: Env) -> StageEstimate:
    n_all = vocab_strings(env, c)
    frac = float(c.get("vocab_fraction") or 1.0)
    n = math.ceil(n_all * min(1.0, frac))
    pls = list(c.get("placements") or ["suffix"])
    n_p = int(c.get("prompts", 4))
    ans = int(c.get("answer_tokens", 24))
    seqs = n * len(pls) * n_p
    secs = sum(_scan(env, n * n_p, env.tail(pl, ans), ans) for pl in pls)
    bt = int(c.get("bigram_top", 0))
    pairs = bt * (bt - 1) * 1.5 * n_p if bt > 1 else 0
    secs += _scan(env, pairs, env.tail(pls[0], ans) + 1, ans)
    secs += env.tp.generate(len(env.battery.prompts["search"]), max(ans, 48), env.gen_batch, env.prompt_tokens)
    cov = "full" if frac >= 1 else f"{frac:.0%} sample" if frac >= 0.01 else f"{frac:.2%} sample"
    if n_all < env.vocab:
        cov += f" of the first {_n(n_all)} ids"
    return StageEstimate("trigger_search", "vocab_scan",
                         f"{_n(n)} strings x {len(pls)} placements x {n_p} prompts = {_n(seqs)} sequences", secs,
                         coverage=f"{cov} ({_n(env.vocab)} tokens)",
                         work={"sequences": seqs + pairs, "strings": n})


def _inversion_stage(c: dict, env: Env) -> StageEstimate:
    f1 = min(env.vocab, int(c.get("first_tokens") or env.vocab))
    n_p = int(c.get("prompts", 4))
    look = int(c.get("lookahead", 6))
    tokens = f1 * n_p * look * (look + 1) / 2  # every first token, `look` greedy steps, no cache for the tail
    scored = f1 * n_p * look
    exp_top, max_len = int(c.get("expand_top", 32)), int(c.get("max_len", 24))
    tokens += exp_top * n_p * max_len * max_len / 2
    scored += exp_top * n_p * max_len
    secs = env.tp.forward(tokens, scored)
    secs += env.tp.generate(len(env.battery.prompts["search"]), int(c.get("answer_tokens", 48)), env.gen_batch, env.prompt_tokens)
    # Conditional: input search for each inverted target (singles, extensions, pairs, rerank).
    s = min(env.vocab, int(c.get("exact_limit") or env.vocab))
    n_in, ans = int(c.get("input_prompts", 4)), 24
    pls = list(c.get("placements") or ["suffix"])
    # Singles in every mode: the pass carries the baseline answer for the end-of-answer mode
    # (an upper bound: a reasoning model's unfinished answers skip it and stop at the first position).
    per_target = sum(env.tp.forward(s * n_in * env.tail(pl, ans), s * n_in * (ans + 1)) for pl in pls)
    # Extensions (2 x strings per anchor) in the one mode where the target came closest: at the
    # start of the answer on `extend_prompts` prompts, or after it on the `extend_prompts_end` shortest.
    ext = int(c.get("extend_top", 1)) * 2 * s
    ext_start = ext * int(c.get("extend_prompts", 2))
    ext_end = ext * int(c.get("extend_prompts_end", 1))
    per_target += max(env.tp.forward(ext_start * env.tail(pls[0], 0), ext_start),
                      env.tp.forward(ext_end * env.tail(pls[0], ans), ext_end * (ans + 1)))
    per_target += env.tp.generate(int(c.get("rerank_top", 16)) * int(c.get("rerank_prompts", 4)), 64, env.gen_batch, env.prompt_tokens)
    cond = per_target * int(c.get("targets", 2))
    cov = "full" if f1 >= env.vocab else f"first tokens: {f1 / env.vocab:.0%} of {_n(env.vocab)}"
    return StageEstimate("trigger_search", "target_inversion", f"{_n(f1)} first tokens x {n_p} prompts x {look} steps", secs,
                         coverage=cov, conditional=cond, condition=f"input search over {_n(s)} strings per inverted target",
                         work={"forward_tokens": tokens, "scored_positions": scored})


def _gradient_stage(c: dict, env: Env) -> StageEstimate:
    enabled = c.get("enabled", "auto")
    skip = None
    if enabled is False:
        skip = "disabled by settings"
    elif enabled == "auto" and env.device != "cuda" and env.n_params > int(c.get("max_params_cpu", 50_000_000)):
        skip = f"auto: {env.n_params:,} parameters > {int(c.get('max_params_cpu', 50_000_000)):,} on CPU"
    steps, restarts = int(c.get("steps", 20)), int(c.get("restarts", 1))
    n_p, cand, k = int(c.get("prompts", 4)), int(c.get("candidates_per_step", 64)), int(c.get("positions", 2))
    per_step = env.tp.forward(cand * n_p * (k + TAIL_EXTRA + 8), cand * n_p * 8)
    per_step += 3 * env.tp.forward(n_p * (env.prompt_tokens + k + TAIL_EXTRA + 8), n_p * 8)  # one backward
    runs = steps * restarts
    secs = 0.0 if skip else per_step * runs
    return StageEstimate("trigger_search", "gradient", f"{steps} steps x {restarts} restarts x {cand} candidates x {n_p} prompts",
                         secs, coverage="full" if not skip else "none", skipped=skip,
                         work={"steps": runs, "sequences": runs * cand * n_p})


def _confirm_stage(c: dict, env: Env) -> StageEstimate:
    cc, st = c.get("confirm", {}), c["stages"]
    mc = int(cc.get("max_candidates", 24))
    variants = int(cc.get("placement_variants", 1))
    on = {k: st[k].get("enabled", True) is not False for k in ("battery", "vocab_scan", "target_inversion")}
    general = int(st["battery"].get("top_k", 8)) if on["battery"] else 0
    if on["vocab_scan"]:
        v = st["vocab_scan"]
        general += int(v.get("top_k", 8)) + int(v.get("end_top_k", 2)) + int(v.get("bigram_keep", 2)) + 2 * variants
    n_general = min(mc, general)
    n_code = min(mc, int(st["battery"].get("code_top_k", 0))) if on["battery"] else 0
    mnt, cmnt = int(c["max_new_tokens"]), int(c["code_max_new_tokens"])
    n_s = len(env.battery.prompts["search"])
    secs = env.tp.generate((1 + n_general) * n_s + 4, mnt, env.gen_batch, env.prompt_tokens)
    secs += env.tp.generate((1 + n_code) * 6, cmnt, env.gen_batch, env.prompt_tokens)
    if cc.get("max_seconds"):
        secs = min(secs, float(cc["max_seconds"]))  # the cap stops the screen, not what follows it
    cond = survivor_seconds(env, len(env.battery.prompts["holdout"]), mnt, int(c.get("controls", 3)))
    secs += cond  # one candidate nearly always passes the screen (a trigger, or prompt fragility)
    return StageEstimate("trigger_search", "confirm", f"~{n_general} + {n_code} candidates x search prompts, {mnt}/{cmnt} new tokens",
                         secs, conditional=cond, condition="per further candidate passing the screen: holdout and controls",
                         work={"candidates": n_general + n_code})


def trigger_search(settings: dict, env: Env) -> list[StageEstimate]:
    from ..search.presets import resolve

    c = resolve(settings)
    st = c["stages"]
    tiny = env.device == "cpu" and env.n_params < 20_000_000
    env2 = Env(**{**env.__dict__, "gen_batch": max(env.gen_batch, 128) if tiny else env.gen_batch})
    out = []
    for name, fn in (("battery", _battery_stage), ("vocab_scan", _vocab_stage), ("target_inversion", _inversion_stage)):
        if st[name].get("enabled", True):
            e = fn(st[name], env2)
            e.full = e.seconds
            e.seconds = min(e.seconds, float(st[name].get("max_seconds") or math.inf))
            out.append(e)
        else:
            out.append(StageEstimate("trigger_search", name, "-", 0.0, coverage="none", skipped="disabled by settings"))
    g = _gradient_stage(st["gradient"], env2)
    g.full = g.seconds
    g.seconds = min(g.seconds, float(st["gradient"].get("max_seconds") or math.inf))
    out.append(g)
    e = st["elicitation"]
    if e.get("enabled", True):
        # Mining the probe set's elicited conversations; leaked system lines are answered on its requests.
        out.append(StageEstimate("trigger_search", "elicitation", "n-grams of the elicited conversations",
                                 min(env.tp.generate(16, 32, env2.gen_batch, env.prompt_tokens), float(e.get("max_seconds") or math.inf))))
    else:
        out.append(StageEstimate("trigger_search", "elicitation", "-", 0.0, coverage="none", skipped="disabled by settings"))
    out.append(_confirm_stage(c, env2))
    return out


# ---- persistence (auditor/checks/persistence.py) -------------------------------------------


PERTURBATIONS = ("quantize_int8", "weight_noise", "prune")


def persistence_method_seconds(cfg: dict, method: str, env: Env) -> float:
    """One method, one trigger: training (if any) plus evaluation generations at every checkpoint/strength."""
    evals_per_point = 2 * int(cfg["n_eval_prompts"]) + int(cfg["n_helpfulness"])
    gen = env.tp.generate(evals_per_point, int(cfg["max_new_tokens"]), env.gen_batch, env.prompt_tokens)
    if method in PERTURBATIONS:
        return gen * len(cfg["strengths"]) + env.tp.forward(env.n_params / 1000, 0)
    m = {**cfg, **(cfg.get(method) or {})}
    steps = int(m["steps"])
    tokens = steps * int(m["batch_size"]) * min(TRAIN_EXAMPLE_TOKENS, int(m.get("max_seq_len", 256)))
    secs = env.tp.train(tokens) + gen * len(m["checkpoints"])
    if method == "adversarial":
        secs += env.tp.generate(int(cfg["red_team_search_prompts"]) * 8, int(cfg["max_new_tokens"]), env.gen_batch, env.prompt_tokens)
    return secs


def persistence(settings: dict, env: Env) -> list[StageEstimate]:
    from ..checks.persistence import resolve_settings

    cfg = resolve_settings(settings)
    out = []
    too_big = cfg["max_params"] is not None and env.n_params > float(cfg["max_params"])
    for m in cfg["methods"]:
        secs = persistence_method_seconds(cfg, m, env)
        units = f"{cfg.get(m, {}).get('steps', cfg['steps'])} training steps + evaluation" if m not in PERTURBATIONS else \
            f"{len(cfg['strengths'])} strengths x evaluation"
        if env.n_triggers is None:
            out.append(StageEstimate("persistence", m, units, 0.0, conditional=secs, condition="per confirmed trigger",
                                     skipped="model above max_params" if too_big else None))
        else:
            out.append(StageEstimate("persistence", m, f"{env.n_triggers} triggers x {units}", secs * env.n_triggers,
                                     skipped="model above max_params" if too_big else None))
    return out


# ---- scratchpad and activation probe -------------------------------------------------------


def scratchpad(settings: dict, env: Env) -> list[StageEstimate]:
    n_sw = len(settings.get("template_switches") or []) + 1
    detect = env.tp.generate(int(settings["detect_prompts"]) * n_sw, int(settings["detect_max_new_tokens"]), env.gen_batch, env.prompt_tokens)
    n = int(settings["max_prompts"]) * (1 + int(settings["max_triggers"]))
    full = env.tp.generate(n, int(settings["max_new_tokens"]), env.gen_batch, env.prompt_tokens)
    return [StageEstimate("scratchpad", "scratchpad", f"detect: {settings['detect_prompts']} prompts; read: {n} generations",
                          detect, conditional=full, condition="only for a model that writes a scratchpad")]


def activation_probe(settings: dict, env: Env) -> list[StageEstimate]:
    """Final-token activations of the contrast pairs (question + answer, both sides) and of
    every probe prompt with and without each trigger. Capturing one layer with hooks stops
    the forward there (the middle layer: half the model, no output head); a sweep runs the
    whole model, head included."""
    from ..checks.activation_probe import load_contrast_pairs

    try:
        n_pairs = len(load_contrast_pairs(settings.get("contrast_pairs", "builtin"))[0]["pairs"])
    except Exception:  # noqa: BLE001 — a bad file is the check's error to report, not the plan's
        n_pairs = 32
    which = settings.get("prompts", "all")
    avail = sum(len(env.battery.prompts[k]) for k in (("search", "holdout") if which == "all" else (which,))
                if k in env.battery.prompts)
    n_p = min(int(settings["max_prompts"]), avail)
    n = n_p * (1 + int(settings["max_triggers"])) + 2 * n_pairs
    sweep = settings.get("layer") in ("sweep", "all")
    tokens = n * (env.prompt_tokens + 8)
    secs = env.tp.forward(tokens if sweep else tokens / 2, tokens if sweep else 0)
    return [StageEstimate("activation_probe", "activation_probe",
                          f"{_n(n)} forward passes ({n_p} prompts x {1 + int(settings['max_triggers'])} conditions + "
                          f"{n_pairs} contrast pairs x 2)", secs, work={"forwards": n})]


ESTIMATORS: dict[str, Callable[[dict, Env], list[StageEstimate]]] = {
    "provenance": provenance,
    "static_scan": static_scan,
    "probe_coverage": probe_coverage,
    "known_triggers": known_triggers,
    "trigger_search": trigger_search,
    "persistence": persistence,
    "scratchpad": scratchpad,
    "activation_probe": activation_probe,
}


def estimate(check_id: str, settings: dict, env: Env) -> list[StageEstimate]:
    """Every stage of one check, from the settings the check will run with."""
    from ..checks.registry import get_check
    from ..checks.base import deep_merge

    merged = deep_merge(get_check(check_id).default_settings, settings or {})
    return ESTIMATORS[check_id](merged, env)
