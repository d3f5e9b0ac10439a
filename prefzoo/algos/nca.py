"""NCA: Chen et al. 2024, "Noise Contrastive Alignment of Language Models with Explicit Rewards",
arXiv 2402.05369.

Intuition: classify each response on its own (its implicit reward beta*r against a noise baseline)
instead of only comparing the two, so the chosen likelihood is pushed up in absolute terms, not
merely relative to the rejected one (DPO can lower both).
Loss (NCA, K = 2, hard label): -log sigma(beta r_w) - 1/2 log sigma(-beta r_w) - 1/2 log sigma(-beta r_l),
r = log pi(y|x) - log pi_ref(y|x). This is TRL's ``nca_pair`` exactly (same beta).
With a soft label P the data term takes the paper's target weights [P, 1 - P]:
  -P log sigma(beta r_w) - (1 - P) log sigma(beta r_l) - 1/2 log sigma(-beta r_w) - 1/2 log sigma(-beta r_l).
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("nca")
class NCA(Objective):
    summary = "noise-contrastive: each response's implicit reward classified against a noise baseline"
    paper = "Chen et al. 2024, arXiv 2402.05369"

    @dataclass
    class Config:
        beta: float = 0.1  # implicit-reward scale (TRL default); small beta lets the policy move further

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        s_w, s_l = self.config.beta * r_w, self.config.beta * r_l
        data = -F.logsigmoid(s_w)
        if policy.p_chosen is not None:
            p = policy.p_chosen
            data = p * data - (1 - p) * F.logsigmoid(s_l)
        per_example = data - 0.5 * F.logsigmoid(-s_w) - 0.5 * F.logsigmoid(-s_l)
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(s_w, s_l))
