"""APO-zero: D'Oosterlinck et al. 2024, "Anchored Preference Optimization and Contrastive Revisions:
Addressing Underspecification in Alignment", arXiv 2408.06266.

Intuition: anchor each response to the reference separately: push the chosen log-ratio up and the
rejected one down (use when the chosen outputs are better than what the model produces now).
Loss (eq. 7, plus the constant 1 that keeps it >= 0, as TRL writes it):
  (1 - sigma(beta r_w)) + sigma(beta r_l),   r = log pi(y|x) - log pi_ref(y|x).
TRL's ``apo_zero`` exactly (same beta). With a soft label P the loss is its expectation over the label:
P l(y_w, y_l) + (1 - P) l(y_l, y_w). KTO's unpaired apo-zero variant is a separate objective.
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("apo-zero")
class APOZero(Objective):
    summary = "anchored: chosen log-ratio up, rejected log-ratio down, each through its own sigmoid"
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
        per_example = 1 - torch.sigmoid(s_w) + torch.sigmoid(s_l)  # eq. 7 (+1)
        if policy.p_chosen is not None:
            p = policy.p_chosen
            per_example = p * per_example + (1 - p) * (1 - torch.sigmoid(s_l) + torch.sigmoid(s_w))
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(s_w, s_l))
