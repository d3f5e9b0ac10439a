"""DiscoPOP: Chris Lu et al. 2024, "Discovering Preference Optimization Algorithms with and for Large
Language Models", arXiv 2406.08414.

Intuition: an LLM-discovered loss (log-ratio modulated, "LRML"): a blend of DPO's logistic loss and an
exponential loss, the mix set by a sigmoid of the scaled gap, so confident pairs lean exponential and
wrong-way pairs lean logistic (non-convex in the gap).
Loss (eq. 5): z = beta*h, h = (log pi/pi_ref)(y_w) - (log pi/pi_ref)(y_l), m = sigma(z / tau),
  loss = (1 - m) (-log sigma(z)) + m exp(-z).
TRL's ``discopop`` exactly (same beta; TRL's ``discopop_tau`` = tau, default 0.05, the paper's).
With a soft label P the loss is its expectation over the label: P l(z) + (1 - P) l(-z).
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("discopop")
class DiscoPOP(Objective):
    summary = "log-ratio modulated blend of the logistic (DPO) and exponential losses"
    paper = "Lu et al. 2024, arXiv 2406.08414"

    @dataclass
    class Config:
        beta: float = 0.1   # scale of the gap z = beta*h, as in DPO (TRL default)
        tau: float = 0.05   # temperature of the mixing sigmoid m = sigma(z/tau); the paper's 0.05 (TRL too)

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if self.tau <= 0:
                raise ValueError(f"tau must be > 0, got {self.tau}")

    def _lrml(self, z: torch.Tensor) -> torch.Tensor:
        m = torch.sigmoid(z / self.config.tau)
        return (1 - m) * -F.logsigmoid(z) + m * torch.exp(-z)  # eq. 5

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        beta = self.config.beta
        z = beta * (r_w - r_l)
        per_example = self._lrml(z)
        if policy.p_chosen is not None:
            p = policy.p_chosen
            per_example = p * per_example + (1 - p) * self._lrml(-z)
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(beta * r_w, beta * r_l))
