"""REINFORCE++: Hu 2025, "REINFORCE++: An Efficient RLHF Algorithm with Robustness to Both Prompt and
Reward Models", arXiv 2501.03262.

Intuition: PPO's tricks without a critic. Per-token reward r_t = -beta k1_t plus the score at the last
token (KL folded into the reward); the advantage of a token is its return G_t = sum_{s >= t} r_s
(gamma 1); advantages are normalised over the *global batch* (every token of every process: mean and
std), not per prompt group, which the paper argues is less biased and overfits less than GRPO's local
normalisation; PPO's clipped surrogate, a token-level mean.
``baseline: true`` is REINFORCE++-baseline (for k > 1 samples per prompt): A_i = R_i - mean of its
group, normalised over the global batch, and the KL moves from the reward into the loss as the k2
estimator (log pi - log pi_ref)^2 / 2 with weight beta. Shapes: scores [B], token tensors [B, R].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import (AdvantageInput, Advantages, OnlineAlgorithm, OnlineBatch, OnlineConfig, gae,
                         group_advantages, kl_k2, register, sequence_advantages, shaped_rewards, whiten)


@register("reinforce-pp")
class ReinforcePP(OnlineAlgorithm):
    summary = "critic-free PPO: KL-shaped token returns normalised over the global batch; -baseline as an option"
    paper = "Hu 2025, arXiv 2501.03262"

    @dataclass
    class Config(OnlineConfig):
        beta: float = 0.01                # KL coefficient (OpenRLHF's init_kl_coef)
        gamma: float = 1.0                # discount of the token returns
        baseline: bool = False            # REINFORCE++-baseline: group-mean baseline, k2 KL in the loss

        def __post_init__(self):
            super().__post_init__()
            if self.baseline and self.samples_per_prompt < 2:
                raise ValueError("reinforce-pp with baseline: true needs samples_per_prompt >= 2")

    def rewards(self, scores, kl_tok, lengths, beta):
        if self.config.baseline:  # the score alone; the KL goes into the loss
            return shaped_rewards(scores, kl_tok, lengths, None)
        return shaped_rewards(scores, kl_tok, lengths, beta)

    def advantages(self, inp: AdvantageInput) -> Advantages:
        if self.config.baseline:
            centred = group_advantages(inp.scores, inp.group_size, "none")
            adv = sequence_advantages(centred, inp.mask).advantages
        else:  # returns: A_t = r_t + gamma A_{t+1} (GAE with V = 0 and lambda = 1)
            adv = gae(inp.token_rewards, torch.zeros_like(inp.token_rewards), inp.mask, self.config.gamma, 1.0).advantages
        return Advantages(whiten(adv, inp.mask, reduce_sum=inp.reduce_sum))

    def extra_loss(self, b: OnlineBatch, total: torch.Tensor, metrics: dict):
        if not self.config.baseline:
            return total, metrics
        k2 = self.aggregate(b, kl_k2(b.logps, b.ref_logps))
        return total + b.beta * k2, {**metrics, "kl_k2": k2.detach()}
