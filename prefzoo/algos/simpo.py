"""SimPO: Meng et al. 2024, "SimPO: Simple Preference Optimization with a Reference-Free Reward",
arXiv 2405.14734.

Intuition: use the length-normalised log-likelihood beta/|y| * log pi(y|x) (what decoding actually
ranks by) as the implicit reward, drop the reference model, and ask for a margin gamma.
Loss (eq. 6): -log sigma(beta/|y_w| log pi(y_w|x) - beta/|y_l| log pi(y_l|x) - gamma).
With a soft label p: p * l(delta - gamma) + (1 - p) * l(-delta - gamma), l = -log sigma, i.e. the
expectation of the loss over which completion is labelled the winner.
Shapes: every input [B] (summed completion log-probs, lengths in tokens); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, pair_metrics, register


@register("simpo")
class SimPO(Objective):
    needs_reference = False
    summary = "reference-free Bradley-Terry on length-normalised log-likelihood with a margin gamma"
    paper = "Meng et al. 2024, arXiv 2405.14734"

    @dataclass
    class Config:
        beta: float = 2.0   # reward scale; the paper sweeps 2-2.5 (much larger than DPO's: rewards are per token)
        gamma: float = 1.0  # target margin between the rewards; the paper sweeps gamma/beta in 0.3-0.5

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if self.gamma < 0:
                raise ValueError(f"gamma must be >= 0, got {self.gamma}")

    def loss(self, policy: PairLogps, reference=None) -> LossOutput:
        beta, gamma = self.config.beta, self.config.gamma
        reward_w = beta * policy.chosen / policy.chosen_len.clamp(min=1)
        reward_l = beta * policy.rejected / policy.rejected_len.clamp(min=1)
        delta = reward_w - reward_l
        per_example = -F.logsigmoid(delta - gamma)
        if policy.p_chosen is not None:
            p = policy.p_chosen
            per_example = p * per_example + (1 - p) * -F.logsigmoid(-delta - gamma)
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(reward_w, reward_l))
