"""rDPO: Chowdhury et al. 2024, "Provably Robust DPO: Aligning Language Models with Noisy Feedback",
arXiv 2403.00409.

Intuition: an unbiased estimate of the clean-label DPO loss under labels flipped with known rate
epsilon: weight the observed direction by (1 - eps), subtract the flipped one by eps, rescale.
Loss: [(1 - eps) * (-log sigma(beta*h)) - eps * (-log sigma(-beta*h))] / (1 - 2 eps).
Unlike cDPO this is not a cross-entropy: it can go negative and keeps pushing on confident pairs.
With a soft label p the loss is its expectation over the label: p * l(h) + (1 - p) * l(-h).
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("rdpo")
class RDPO(Objective):
    summary = "DPO debiased for labels flipped at a known rate epsilon"
    paper = "Chowdhury et al. 2024, arXiv 2403.00409"

    @dataclass
    class Config:
        beta: float = 0.1     # KL strength, as in DPO
        epsilon: float = 0.1  # label-flip rate; the 1/(1-2eps) factor blows up as eps -> 0.5

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if not 0.0 <= self.epsilon < 0.5:
                raise ValueError(f"epsilon must be in [0, 0.5) (the loss divides by 1 - 2*epsilon), "
                                 f"got {self.epsilon}")

    def _robust(self, z):
        eps = self.config.epsilon
        return ((1 - eps) * -F.logsigmoid(z) - eps * -F.logsigmoid(-z)) / (1 - 2 * eps)

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        z = self.config.beta * (r_w - r_l)
        per_example = self._robust(z)
        if policy.p_chosen is not None:
            p = policy.p_chosen
            per_example = p * per_example + (1 - p) * self._robust(-z)
        metrics = pair_metrics(self.config.beta * r_w, self.config.beta * r_l)
        return LossOutput(per_example.mean(), per_example.detach(), metrics)
