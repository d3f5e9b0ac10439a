"""APO-down: D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive Revisions:
Addressing Underspecification in Alignment", arXiv 2408.06266.

Intuition: when even the chosen outputs are worse than the model's own, push the chosen log-ratio down,
and the rejected one down further (the gap r_w - r_l still grows).
Loss (eq. 8, plus the constant 1 that keeps it >= 0, as TRL writes it):
  sigma(beta r_w) + (1 - sigma(beta (r_w - r_l))),   r = log pi(y|x) - log pi_ref(y|x).
TRL's ``apo_down`` exactly (same beta). With a soft label P the loss is its expectation over the label:
P l(y_w, y_l) + (1 - P) l(y_l, y_w).
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("apo-down")
class APODown(Objective):
    summary = "anchored: chosen log-ratio down, rejected down further (chosen worse than the model's own)"
    paper = "D'Oosterlinck et al. 2024, arXiv 2408.06266"

    @dataclass
    class Config:
        beta: float = 0.1  # implicit-reward scale inside each sigmoid (TRL default and the paper's)

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        s_w, s_l = self.config.beta * r_w, self.config.beta * r_l
        per_example = torch.sigmoid(s_w) + 1 - torch.sigmoid(s_w - s_l)  # eq. 8 (+1)
        if policy.p_chosen is not None:
            p = policy.p_chosen
            per_example = p * per_example + (1 - p) * (torch.sigmoid(s_l) + 1 - torch.sigmoid(s_l - s_w))
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(s_w, s_l))
