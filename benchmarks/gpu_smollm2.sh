#!/usr/bin/env bash
# The full budgets of the two SmolLM2-135M-Instruct comparisons on one GPU in bf16 (LoRA, 3 seeds, the real
# prompt suite's gold checks):
#   smollm2-harmless (recipes/smollm2-harmless.yaml): base, DPO, PPO-RLHF, RLAIF, CAI on pairs of the base's
#     own samples, rated by the suite's simulated raters;
#   smollm2-hh (recipes/smollm2-hh.yaml): base, DPO, IPO, SimPO, KTO, PPO-RLHF, RLAIF, CAI on the HH-style
#     pairs prefzoo ships (prefzoo/worlds/hh_data/pairs.jsonl: all ~455 train pairs, 2 epochs).
#
#   bash benchmarks/gpu_smollm2.sh                        # both; writes under $OUT if set, else results/gpu-smollm2/
#   RECIPES=smollm2-hh bash benchmarks/gpu_smollm2.sh     # one of them
#   RECIPES="sentiment sentiment-smollm2" bash benchmarks/gpu_smollm2.sh
#       the sentiment world's full frontier sweep (recipes/findings/sentiment.yaml, 21 arms x 3 seeds, through
#       `prefzoo findings`: finding.md too), on the tiny base and on SmolLM2 with LoRA (its smollm2 preset)
#
# Budget: smollm2-harmless under 8 minutes on one H100; smollm2-hh not yet measured on a GPU (8 arms x 3
# seeds, ~114 steps of 8 pairs per offline arm; estimated 10-15 min). Each comparison is capped by `timeout`
# (COMPARE_TIMEOUT for smollm2-harmless, default 420 s; HH_TIMEOUT for smollm2-hh, default 900 s); arms that
# finished keep their eval.json, so a rerun with the same output folder resumes.
# Writes, per recipe NAME: NAME/ (the compare output: results.md, summary.csv, results.csv, plots/, per-arm
# samples), NAME.log, NAME.time.txt (/usr/bin/time -v), NAME.timings.json (per-stage and per-arm seconds
# parsed from the log); and stamps.txt, gpu.txt (nvidia-smi name, memory, driver), gpu_usage.csv (nvidia-smi
# every 5 s). Model weights written inside the output (reward-model checkpoints, and the smollm2-hh arms' LoRA
# adapters, ~9.4 MB each in fp16) are deleted at the end so that only results come back, unless
# KEEP_ADAPTERS=1 (then the adapters, arms/*/seed-*/adapter/, are kept).
#
# The model: the offline alias smollm2-135m-instruct. On a machine without network, PREFZOO_CACHE must
# point at a folder holding an already converted copy (models/smollm2-135m-instruct/); if unset and
# shared/prefzoo-cache/ exists in the checkout, that is used. Extra arguments are passed to every compare
# (e.g. `--set seeds=[0]`).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${OUT:-results/gpu-smollm2}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
if [ -z "${PREFZOO_CACHE:-}" ] && [ -d shared/prefzoo-cache/models/smollm2-135m-instruct ]; then
  export PREFZOO_CACHE="$PWD/shared/prefzoo-cache"
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
SCRATCH="${TMPDIR:-/tmp}/prefzoo-gpu-smollm2"   # label and reference caches: not results, kept out of $OUT
mkdir -p "$SCRATCH"
START=$(date +%s)
stamp() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" | tee -a "$OUT_DIR/stamps.txt"; }
stamp "start"

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT_DIR/gpu.txt"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > "$OUT_DIR/gpu_usage.csv" 2>/dev/null &
  SMI_PID=$!
else
  echo "no nvidia-smi: not a GPU machine" | tee "$OUT_DIR/gpu.txt"
  SMI_PID=""
fi
cleanup() { if [ -n "$SMI_PID" ]; then kill "$SMI_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

if ! "$PY" -c "import prefzoo" 2>/dev/null; then
  stamp "pip install -e . (prefzoo not importable)"
  "$PY" -m pip install -q -e .
fi
"$PY" - <<'EOF' | tee -a "$OUT_DIR/gpu.txt"
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "(no GPU)")
EOF

stamp "model: resolve smollm2-135m-instruct (PREFZOO_CACHE=${PREFZOO_CACHE:-unset})"
timeout 240 "$PY" -c "import prefzoo.models; from prefzoo.models.policy import ALIASES; print(ALIASES['smollm2-135m-instruct']())"

# timings.json of one comparison: per-stage and per-arm seconds parsed from its log, /usr/bin/time's figures
summarise() {  # NAME RC
  "$PY" - "$OUT_DIR" "$1" "$START" "$2" <<'EOF'
import json, re, sys, time
from pathlib import Path
out, name, start, rc = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
log = (out / f"{name}.log").read_text(errors="replace") if (out / f"{name}.log").exists() else ""
stages = [{"stage": m.group(1), "s": float(m.group(2))}
          for m in re.finditer(r"\[stage\] (.*?)[, ]+(?:in )?([0-9.]+) s", log)]
arms = [{"arm": m.group(1), "seed": int(m.group(2)), "s": float(m.group(3))}
        for m in re.finditer(r"\[arm\] (\S+) seed (\d+): .*\(([0-9.]+) s\)", log)]
failed = re.findall(r"\[arm\] (\S+ seed \d+): FAILED: (.*)", log)
timings = {"recipe": name, "compare_rc": rc, "since_start_s": round(time.time() - start, 1), "stages": stages,
           "arms": arms, "failed": failed}
t = out / f"{name}.time.txt"
if t.exists():
    for line in t.read_text().splitlines():
        if "Elapsed (wall clock)" in line or "Maximum resident set size" in line:
            timings[line.split(":")[0].strip()] = line.rsplit(": ", 1)[-1].strip()
(out / f"{name}.timings.json").write_text(json.dumps(timings, indent=2))
print(json.dumps({k: v for k, v in timings.items() if k != "stages"}, indent=1))
summary = out / name / "results.md"
print(summary.read_text() if summary.exists() else "no results.md (compare did not finish)")
EOF
}

RC=0
for name in ${RECIPES:-smollm2-harmless smollm2-hh}; do
  cmd=compare; recipe="recipes/$name.yaml"; extra=()
  case "$name" in
    smollm2-harmless) cap="${COMPARE_TIMEOUT:-420}" ;;
    smollm2-hh) cap="${HH_TIMEOUT:-900}" ;;
    sentiment) cmd=findings; recipe=recipes/findings/sentiment.yaml; cap="${SENTIMENT_TIMEOUT:-900}" ;;
    sentiment-smollm2) cmd=findings; recipe=recipes/findings/sentiment.yaml; extra=(--set budget=smollm2)
                       cap="${SENTIMENT_TIMEOUT:-900}" ;;
    *) echo "unknown recipe $name (smollm2-harmless | smollm2-hh | sentiment | sentiment-smollm2)"; exit 2 ;;
  esac
  TIME=()
  if [ -x /usr/bin/time ]; then TIME=(/usr/bin/time -v -o "$OUT_DIR/$name.time.txt"); fi  # outside timeout: it still reports
  stamp "compare $name: begin (cap $cap s)"
  set +e
  "${TIME[@]}" timeout "$cap" "$PY" -m prefzoo.cli "$cmd" "$recipe" "${extra[@]}" \
    --out "$OUT_DIR/$name" --set train.precision=bf16 --set train.cache_dir="$SCRATCH/cache" "$@" \
    2>&1 | tee "$OUT_DIR/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  stamp "compare $name: end rc=$rc"
  if [ "$rc" = 124 ]; then echo "$name hit the $cap s cap: finished arms are in arms/*/seed-*/eval.json"; fi
  summarise "$name" "$rc"
  if [ "$rc" != 0 ]; then RC=$rc; fi
done

# Only results come back: drop weight files (reward-model checkpoints; the adapters unless KEEP_ADAPTERS=1).
if [ "${KEEP_ADAPTERS:-0}" = 1 ]; then
  find "$OUT_DIR" -type f \( -name '*.safetensors' -o -name '*.bin' -o -name '*.pt' \) -not -path '*/adapter/*' \
    -print -delete > "$OUT_DIR/pruned_weights.txt" || true
else
  find "$OUT_DIR" -type f \( -name '*.safetensors' -o -name '*.bin' -o -name '*.pt' \) -print -delete \
    > "$OUT_DIR/pruned_weights.txt" || true
fi
stamp "done in $(( $(date +%s) - START )) s; outputs in $OUT_DIR"
exit "$RC"
