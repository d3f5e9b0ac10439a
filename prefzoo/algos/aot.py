"""AOT: Melnyk et al. 2024, "Distributional Preference Alignment of LLMs via Optimal Transport",
arXiv 2406.05882.

Intuition: ask for first-order stochastic dominance of the chosen reward distribution over the rejected
one, not a win on every pair: the 1-D optimal-transport plan matches quantiles, so sort both sides over
the batch and apply a logistic loss to each matched quantile pair.
Loss (hard labels; TRL ``aot``, ``unpaired: false``): with u = log pi(y_w) - log pi(y_l) and
u_ref = log pi_ref(y_w) - log pi_ref(y_l) per pair, d = sort(u) - sort(u_ref) (sorted over the batch),
  loss_i = -(1 - ls) log sigma(beta d_i) - ls log sigma(-beta d_i),   loss = mean_i loss_i.
``unpaired: true`` (TRL ``aot_unpaired``): d = sort(r_w) - sort(r_l), r = log pi - log pi_ref, which needs
no pairing at all. ``label_smoothing`` is TRL's (0 by default). Both forms equal TRL's exactly.
The sort mixes pairs, so ``per_example`` holds the loss of the i-th quantile, not of pair i, and soft
labels (P != 1) are rejected: a label belongs to a pair the sort no longer keeps. With a batch of one
pair this is DPO (plus smoothing). Micro-batches change the loss (the quantiles are per micro-batch).
Shapes: every input [B]; loss scalar (mean over the B quantiles).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("aot")
class AOT(Objective):
    summary = "logistic loss on matched quantiles: chosen rewards dominate rejected in distribution"
    paper = "Melnyk et al. 2024, arXiv 2406.05882"

    @dataclass
    class Config:
        beta: float = 0.1             # logit scale, as DPO's beta (TRL default)
        label_smoothing: float = 0.0  # weight of the flipped logistic term (TRL's label_smoothing); < 0.5
        unpaired: bool = False        # true: sort chosen and rejected log-ratios separately (TRL aot_unpaired)

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if not 0.0 <= self.label_smoothing < 0.5:
                raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        if policy.p_chosen is not None and bool((policy.p_chosen != 1).any()):
            raise ValueError("aot takes hard labels only: sorting over the batch separates a soft label from "
                             "its pair")
        r_w, r_l = logratio(policy, reference)
        if self.config.unpaired:
            d = torch.sort(r_w).values - torch.sort(r_l).values
        else:
            d = (torch.sort(policy.chosen - policy.rejected).values
                 - torch.sort(reference.chosen - reference.rejected).values)
        z, ls = self.config.beta * d, self.config.label_smoothing
        per_example = -(1 - ls) * F.logsigmoid(z) - ls * F.logsigmoid(-z)
        beta = self.config.beta
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(beta * r_w, beta * r_l))
