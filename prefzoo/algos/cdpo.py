"""cDPO: Mitchell 2023, "A note on DPO with noisy preferences & relationship to IPO".

Intuition: if each label is flipped with probability epsilon, train towards the smoothed target
1 - epsilon instead of 1, so the loss stops pushing once sigma(beta*h) reaches 1 - epsilon.
Loss: -(1 - eps) log sigma(beta*h) - eps log sigma(-beta*h), h = (log pi/pi_ref)(y_w) - (log pi/pi_ref)(y_l).
With a soft label p the two noise sources compose: target p' = (1 - eps) p + eps (1 - p).
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register, soft_sigmoid_loss


@register("cdpo")
class CDPO(Objective):
    summary = "DPO with label smoothing: the target P(y_w > y_l) is 1 - epsilon, not 1"
    paper = "Mitchell 2023, 'A note on DPO with noisy preferences and relationship to IPO'"

    @dataclass
    class Config:
        beta: float = 0.1     # KL strength, as in DPO
        epsilon: float = 0.1  # assumed label-flip rate; 0 is plain DPO, 0.5 would make every pair a coin flip

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if not 0.0 <= self.epsilon < 0.5:
                raise ValueError(f"epsilon must be in [0, 0.5), got {self.epsilon}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        beta, eps = self.config.beta, self.config.epsilon
        p = policy.p_chosen if policy.p_chosen is not None else torch.ones_like(r_w)
        target = (1 - eps) * p + eps * (1 - p)  # smoothed label
        per_example = soft_sigmoid_loss(beta * (r_w - r_l), target)
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(beta * r_w, beta * r_l))
