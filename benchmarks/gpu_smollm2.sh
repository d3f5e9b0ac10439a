#!/usr/bin/env bash
# The full smollm2-harmless comparison (recipes/smollm2-harmless.yaml: base, DPO, PPO-RLHF, RLAIF, CAI
# on SmolLM2-135M-Instruct with LoRA, 3 seeds, the real prompt suite's gold checks) on one GPU in bf16.
#
#   bash benchmarks/gpu_smollm2.sh          # writes under $OUT if set, else results/gpu-smollm2/
#
# Budget: under 8 minutes on one H100. The comparison is capped by `timeout` (COMPARE_TIMEOUT, default
# 420 s); arms that finished keep their eval.json, so a rerun with the same output folder resumes.
# Writes: smollm2-harmless/ (the compare output: results.md, summary.csv, results.csv, plots/, per-arm samples),
# compare.log, time.txt (/usr/bin/time -v), timings.json (date stamps, per-stage and per-arm seconds
# parsed from the log), gpu.txt (nvidia-smi name, memory, driver), gpu_usage.csv (nvidia-smi every 5 s).
# Model weights written inside the output (reward-model checkpoints) are deleted at the end so that only
# results come back.
#
# The model: the offline alias smollm2-135m-instruct. On a machine without network, PREFZOO_CACHE must
# point at a folder holding an already converted copy (models/smollm2-135m-instruct/); if unset and
# shared/prefzoo-cache/ exists in the checkout, that is used. Extra arguments are passed to compare
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

stamp "compare: begin"
TIME=()
if [ -x /usr/bin/time ]; then TIME=(/usr/bin/time -v -o "$OUT_DIR/time.txt"); fi  # outside timeout: it still reports
set +e
"${TIME[@]}" timeout "${COMPARE_TIMEOUT:-420}" "$PY" -m prefzoo.cli compare recipes/smollm2-harmless.yaml \
  --out "$OUT_DIR/smollm2-harmless" --set train.precision=bf16 --set train.cache_dir="$SCRATCH/cache" "$@" \
  2>&1 | tee "$OUT_DIR/compare.log"
RC=${PIPESTATUS[0]}
set -e
stamp "compare: end rc=$RC"
if [ "$RC" = 124 ]; then echo "compare hit the ${COMPARE_TIMEOUT:-420} s cap: finished arms are in arms/*/seed-*/eval.json"; fi

# Only results come back: drop weight files (reward-model checkpoints) from the output.
find "$OUT_DIR" -type f \( -name '*.safetensors' -o -name '*.bin' -o -name '*.pt' \) -print -delete \
  > "$OUT_DIR/pruned_weights.txt" || true

"$PY" - "$OUT_DIR" "$START" "$RC" <<'EOF'
import json, re, sys, time
from pathlib import Path
out, start, rc = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
log = (out / "compare.log").read_text(errors="replace") if (out / "compare.log").exists() else ""
stages = [{"stage": m.group(1), "s": float(m.group(2))}
          for m in re.finditer(r"\[stage\] (.*?)[, ]+(?:in )?([0-9.]+) s", log)]
arms = [{"arm": m.group(1), "seed": int(m.group(2)), "s": float(m.group(3))}
        for m in re.finditer(r"\[arm\] (\S+) seed (\d+): .*\(([0-9.]+) s\)", log)]
failed = re.findall(r"\[arm\] (\S+ seed \d+): FAILED: (.*)", log)
timings = {"compare_rc": rc, "total_s": round(time.time() - start, 1), "stages": stages, "arms": arms,
           "failed": failed}
t = out / "time.txt"
if t.exists():
    for line in t.read_text().splitlines():
        if "Elapsed (wall clock)" in line or "Maximum resident set size" in line:
            timings[line.split(":")[0].strip()] = line.rsplit(": ", 1)[-1].strip()
(out / "timings.json").write_text(json.dumps(timings, indent=2))
print(json.dumps({k: v for k, v in timings.items() if k != "stages"}, indent=1))
summary = out / "smollm2-harmless" / "results.md"
print(summary.read_text() if summary.exists() else "no results.md (compare did not finish)")
EOF
stamp "done in $(( $(date +%s) - START )) s; outputs in $OUT_DIR"
exit "$RC"
