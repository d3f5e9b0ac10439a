"""Reward model: Stiennon et al. 2020 (arXiv 2009.01325); Ouyang et al. 2022 (arXiv 2203.02155).

Intuition: learn a scalar reward R(x, y) from pairwise preferences under Bradley-Terry,
P(y_w > y_l) = sigma(R(x, y_w) - R(x, y_l)), so that RL (PPO and friends) can optimise it later.
Loss: -log sigma(R(x, y_w) - R(x, y_l)) (soft labels: -p log sigma(delta) - (1-p) log sigma(-delta)).
R is the SFT model's backbone with a scalar head, read at the response's EOS, and normalised so that
SFT samples score mean 0, std 1.

As an algorithm on its own it trains and saves the reward model; the policy is left untouched.
Training is the offline loop with the ``BradleyTerry`` objective over a scalar head
(``prefzoo.stages.reward``), so it checkpoints, resumes and runs on several processes like any objective.
``params`` (lr, epochs, batch_size, ...) govern the reward model's training; the recipe's ``train``
section supplies the rest (betas, weight decay, clipping, schedule, precision, logging, checkpoints, resume).
"""
from __future__ import annotations

import json
import math

from prefzoo.api import Algorithm, register
from prefzoo.dist import is_main
from prefzoo.job import TrainResult
from prefzoo.stages.reward import RewardModelConfig, train_reward_model


def _json_safe(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x


@register("reward-model")
class RewardModelAlgorithm(Algorithm):
    family = "reward"
    data_kind = "pairs"
    needs_reference = False
    summary = "Bradley-Terry reward model (SFT backbone + scalar head, read at EOS, normalised)"
    paper = "Ouyang et al. 2022 / Stiennon et al. 2020"
    Config = RewardModelConfig

    def run(self, job):
        rm, summary = train_reward_model(job, job.records(self.data_kind), self.config)
        history = summary.pop("history")
        if is_main():
            rm.save(job.out_dir / "reward_model")
            report = {k: _json_safe(v) for k, v in summary.items()}
            (job.out_dir / "reward_model.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        return TrainResult(job.policy, history, summary, artifacts={"reward_model": rm})
