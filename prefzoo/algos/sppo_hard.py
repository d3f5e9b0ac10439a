"""SPPO (hard labels): Wu et al. 2024, "Self-Play Preference Optimization for Language Model Alignment",
arXiv 2405.00675.

Intuition: regress each response's log-ratio onto its (centred) win probability scaled by eta = 1/beta,
so the winner's log-likelihood rises and the loser's falls in absolute terms (an IPO-like square per
response rather than on the gap).
Loss (eq. 4.7 of Algorithm 1, P = 1 for the winner, 0 for the loser, eta = 1/beta):
  (r_w - 1/(2 beta))^2 + (r_l + 1/(2 beta))^2,   r = log pi(y|x) - log pi_ref(y|x) (summed tokens).
TRL's ``sppo_hard`` is exactly this with the same beta. With a soft label P (the win probability a judge
such as PairRM estimates, as in the paper's full SPPO) the targets become (P - 1/2)/beta for y_w and
(1/2 - P)/beta for y_l, which is the paper's eq. 4.7 for one pair; P = 1 gives the hard form.
The paper's pi_t is the previous iterate; offline here it is the reference (one iteration); iterative
SPPO with fresh samples is a separate algorithm.
Shapes: every input [B]; loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("sppo-hard")
class SPPOHard(Objective):
    summary = "squared regression of each log-ratio onto +-1/(2 beta) (SPPO with hard win probabilities)"
    paper = "Wu et al. 2024, arXiv 2405.00675"

    @dataclass
    class Config:
        beta: float = 0.1  # 1/eta of the paper; the targets are +-1/(2 beta) (TRL default 0.1 -> +-5 nats)

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        beta = self.config.beta
        p = 1.0 if policy.p_chosen is None else policy.p_chosen
        target_w = (p - 0.5) / beta  # eta (P(y_w beats y_l) - 1/2)
        per_example = (r_w - target_w) ** 2 + (r_l + target_w) ** 2  # eq. 4.7, one pair
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(beta * r_w, beta * r_l))
