"""ORPO: Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model",
arXiv 2403.07691.

Intuition: one stage instead of SFT-then-DPO: the NLL of the chosen completion plus a small penalty
that raises the odds of the chosen completion relative to the rejected one; no reference model.
Loss (eq. 6-7): -log pi(y_w|x)/|y_w| + lambda * -log sigma(log odds(y_w) - log odds(y_l)),
odds(y) = p/(1 - p) with p = exp(mean token log-prob of y), so log odds = a - log(1 - exp(a)),
a = log pi(y|x)/|y| < 0, computed with a stable log(1 - exp(a)).
The NLL is each example's per-token mean, then the batch mean (TRL instead takes one token mean over
the whole batch; the two differ when chosen lengths differ). Soft labels are refused: the NLL term
would have to pick a completion to imitate.
Shapes: every input [B] (summed completion log-probs, lengths in tokens); loss scalar (batch mean).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, pair_metrics, register


def log1mexp(a: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(a)) for a < 0, accurate at both ends (Maechler 2012): expm1 near 0, log1p far away."""
    a = a.clamp(max=-torch.finfo(a.dtype).tiny)  # a == 0 exactly (p == 1) would give -inf
    return torch.where(a > -math.log(2), torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))


@register("orpo")
class ORPO(Objective):
    needs_reference = False
    summary = "NLL of the chosen plus lambda * log-sigmoid of the log odds ratio; no reference"
    paper = "Hong et al. 2024, arXiv 2403.07691"

    @dataclass
    class Config:
        lam: float = 0.1  # weight of the odds-ratio term against the NLL (the paper's lambda; TRL calls it beta)

        def __post_init__(self):
            if self.lam < 0:
                raise ValueError(f"lam must be >= 0, got {self.lam}")

    def loss(self, policy: PairLogps, reference=None) -> LossOutput:
        if policy.p_chosen is not None:
            raise ValueError("orpo takes hard preference labels only (its NLL term needs a chosen completion); "
                             "drop p_chosen or use dpo/cdpo/ipo, which take soft labels")
        a_w = policy.chosen / policy.chosen_len.clamp(min=1)
        a_l = policy.rejected / policy.rejected_len.clamp(min=1)
        log_odds = (a_w - log1mexp(a_w)) - (a_l - log1mexp(a_l))
        nll = -a_w
        odds_term = -F.logsigmoid(log_odds)
        per_example = nll + self.config.lam * odds_term
        metrics = pair_metrics(a_w, a_l)
        metrics.update(nll_chosen=nll.detach().mean(), log_odds_ratio=log_odds.detach().mean(),
                       odds_loss=odds_term.detach().mean())
        return LossOutput(per_example.mean(), per_example.detach(), metrics)
