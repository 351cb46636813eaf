#!/usr/bin/env bash
# One command for a lent GPU: (1) the zoo audited on CUDA in bf16 as a Ray fleet,
# (2) the vLLM/transformers greedy agreement test, (3) the standard audit of a
# randomly initialised Qwen2.5-0.5B-shape model, with timings. Results go to
# $OUT_DIR/gpu_check.md (plus the reports, logs and fleet summary beside it).
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--install] [--quick] [--dry-run]
#
#   --out DIR   where results go (default: $OUT if set, else benchmarks/results/gpu_check)
#   --install   pip install -e ".[test,fleet,vllm]" first (a fresh machine; pulls vLLM's CUDA torch)
#   --quick     zoo audit with static_scan + known_triggers only (minutes -> about one)
#   --dry-run   print every step and write the plan, run nothing (works without a GPU)
#
# Each step has its own timeout and the script goes on after a failed step, so a
# short GPU lease still reports what it could measure. Exit: 0 when every step
# passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

OUT_DIR=${OUT:-$ROOT/benchmarks/results/gpu_check}
INSTALL=0 QUICK=0 DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT_DIR=$2; shift 2 ;;
    --install) INSTALL=1; shift ;;
    --quick) QUICK=1; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT_DIR"
RESULTS=$OUT_DIR/gpu_check.md
PY=${PYTHON:-python}
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} RAY_USAGE_STATS_ENABLED=0 HF_HUB_OFFLINE=1 AUDITOR_CONFIG_DIR=$OUT_DIR/keys
FAILED=0

{
  echo "# GPU check ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); dry run: $DRY; quick: $QUICK"
  echo
} > "$RESULTS"

# step NAME TIMEOUT_S COMMAND...: run (or, with --dry-run, print) one step; log, time and record it.
step() {
  local name=$1 limit=$2; shift 2
  echo "## $name" >> "$RESULTS"
  echo '```' >> "$RESULTS"; echo "$*" >> "$RESULTS"; echo '```' >> "$RESULTS"
  if [ "$DRY" = 1 ]; then
    echo "[dry-run] $name (timeout ${limit}s): $*"
    echo "not run (dry run)" >> "$RESULTS"; echo >> "$RESULTS"
    return 0
  fi
  echo "== $name" >&2
  local t0=$SECONDS rc
  timeout "$limit" bash -c "$*" > "$OUT_DIR/$name.log" 2>&1
  rc=$?
  local took=$((SECONDS - t0))
  echo "exit $rc after ${took}s (log: $name.log)" >> "$RESULTS"
  echo '```' >> "$RESULTS"; tail -n 25 "$OUT_DIR/$name.log" >> "$RESULTS"; echo '```' >> "$RESULTS"; echo >> "$RESULTS"
  echo "   exit $rc after ${took}s" >&2
  return $rc
}

if [ "$INSTALL" = 1 ]; then
  step install 900 "$PY -m pip install -q -e '.[test,fleet,vllm]'" || FAILED=1
fi
step environment 120 "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; $PY -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"-\", \"bf16\", torch.cuda.is_available() and torch.cuda.is_bf16_supported())'; $PY -c 'import vllm; print(\"vllm\", vllm.__version__)'; $PY -c 'import ray; print(\"ray\", ray.__version__)'" || FAILED=1

# 1. The zoo on CUDA (bf16 is what auto-placement picks on a bf16 GPU), as one fleet:
#    the tiny models share the GPU (a quarter each); backdoored ones must exit 1, clean ones 0.
ZOO_MANIFEST=$OUT_DIR/zoo_fleet.yaml
CHECKS_LINE=""
[ "$QUICK" = 1 ] && CHECKS_LINE="  checks: [static_scan, known_triggers]"
{
  echo "defaults:"
  echo "  device: cuda"
  echo "  engine: transformers"
  echo "  num_gpus: 0.25"
  echo "  time_budget: 600"
  [ -n "$CHECKS_LINE" ] && echo "$CHECKS_LINE"
  echo "models:"
  for d in "$ROOT"/examples/models/*/; do
    [ -f "$d/config.json" ] && echo "  - model: ${d%/}"
  done
} > "$ZOO_MANIFEST"
step zoo_fleet_cuda 900 "$PY -m auditor fleet '$ZOO_MANIFEST' --output-dir '$OUT_DIR/zoo' --workers 4; \
$PY - '$OUT_DIR/zoo/fleet.json' '$ROOT/examples/models/zoo.json' <<'PYEOF'
import json, sys
fleet, zoo = (json.load(open(p)) for p in sys.argv[1:3])
kind = {m['name']: m['kind'] for m in zoo}
bad = 0
print('| model | kind | verdict | exit | expected | duration s | device/engine |')
print('|---|---|---|---|---|---|---|')
for m in fleet['models']:
    name = m['model'].rstrip('/').split('/')[-1]
    want = 1 if kind.get(name) == 'backdoored' else 0
    where = '?'
    if m['report_digest']:
        rep = json.load(open(sys.argv[1].rsplit('/', 1)[0] + '/' + m['slug'] + '/report.json'))
        where = rep['reproducibility'].get('device', '?') + '/' + str(rep['reproducibility'].get('engine', {}).get('name'))
    bad += m['exit_code'] != want
    print(f\"| {name} | {kind.get(name)} | {m['verdict']} | {m['exit_code']} | {want} | {m['duration_s']:.1f} | {where} |\")
sys.exit(1 if bad else 0)
PYEOF" || FAILED=1

# 2. vLLM and transformers give the same greedy outputs on every zoo model (float32, same token ids).
step vllm_agreement 600 "$PY -m pytest -q -rs tests/test_engine.py -k 'vllm or identical'" || FAILED=1

# 3. A randomly initialised Qwen2.5-0.5B-shape model (494M parameters), standard policy, both engines, timed.
QWEN=$OUT_DIR/random-qwen2.5-0.5b
step make_random_qwen 300 "$PY - '$QWEN' '$ROOT/examples/models/clean-chat' <<'PYEOF'
import shutil, sys, torch
from pathlib import Path
from transformers import Qwen2Config, Qwen2ForCausalLM
out, tok_src = Path(sys.argv[1]), Path(sys.argv[2])
if not (out / 'model.safetensors').exists():
    cfg = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                      num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                      rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, dtype='bfloat16')
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out)
    for f in ('tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'):  # a small real tokenizer; ids < vocab
        if (tok_src / f).exists():
            shutil.copy(tok_src / f, out / f)
print(sum(p.numel() for p in Qwen2ForCausalLM.from_pretrained(out).parameters()), 'parameters in', out)
PYEOF" || FAILED=1
for engine in transformers vllm; do
  step "qwen_audit_$engine" 900 "/usr/bin/time -v $PY -m auditor audit '$QWEN' --device cuda --engine $engine --output-dir '$OUT_DIR/qwen-$engine' --format json,pdf --json - ; \
$PY -c \"import json; r=json.load(open('$OUT_DIR/qwen-$engine/report.json')); print('verdict', r['verdict'], 'exit', r['exit_code'], 'engine', r['reproducibility'].get('engine')); [print(c['id'], c['status'], round(c['duration_s'], 1), 's') for c in r['checks']]\"" || FAILED=1
done

echo "overall: $([ $FAILED = 0 ] && echo PASS || echo FAIL)" >> "$RESULTS"
echo "results: $RESULTS" >&2
exit $FAILED
