"""prefzoo's GRPO against TRL's GRPOTrainer, at TRL's defaults and at its fastest correct setting on this CPU.

The same harness as ``rloo_vs_trl.py`` (read its docstring for what is held equal and how it is timed)
with the algorithm switched: group size 4, 16 new tokens, 16 completions per step, one iteration per
rollout batch, beta 0.04 (the k3 KL in the loss; TRL's default beta is 0, so both TRL sides set it, and
TRL's ``use_bias_correction_kl`` is off so that its loss is the paper's, as prefzoo's is), TRL's default
``loss_type="dapo"`` against prefzoo's default ``loss_agg="token-mean"`` (the same normalisation: the
batch's completion tokens), group-scaled rewards on both. Run from the repo root:

    .venv/bin/python benchmarks/grpo_vs_trl.py                      # 30 steps, 5 warm-up, 2 rounds, 1 thread
    .venv/bin/python benchmarks/grpo_vs_trl.py --rounds 3 --threads 2

The last line is JSON (``speedup_vs_trl_best``, ``speedup_vs_trl_default``, settings, load, threads).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rloo_vs_trl import main  # noqa: E402

if __name__ == "__main__":
    main(algo="grpo")
