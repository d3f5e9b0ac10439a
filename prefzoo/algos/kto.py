"""KTO: Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization",
arXiv 2402.01306.

Intuition: learn from single completions marked good or bad: push a completion's implicit reward
above (good) or below (bad) a reference point z0, the policy's KL from the reference, with a
saturating (prospect-theory) value function.
Loss: r = log pi(y|x) - log pi_ref(y|x);
  z0 = max(0, mean over the batch's mismatched (x, y') of log pi(y'|x) - log pi_ref(y'|x)), detached;
  desirable:   lambda_D * (1 - sigma(beta * (r - z0)));
  undesirable: lambda_U * (1 - sigma(beta * (z0 - r))).
Weighting: the loss is the plain mean over the batch, so each example counts once and the
desirable:undesirable mix of the batch sets their relative weight; the paper recommends choosing
lambda_D, lambda_U so that lambda_D * n_D / (lambda_U * n_U) lies in [1, 4/3].
``loss_type: apo_zero_unpaired`` (TRL's KTO option of that name; D'Oosterlinck et al. 2024, "Anchored
Preference Optimization", arXiv 2408.06266, the unpaired form of APO-zero, eq. 7): no reference point,
desirable lambda_D * (1 - sigma(beta r)), undesirable lambda_U * sigma(beta r): raise good completions and
lower bad ones, each anchored at the reference alone. (An option here rather than a new name: same data,
same weights, same inputs; z0 is still logged as ``kl`` but unused.)
Shapes: logps, length, label, mismatched [B] (label 1 desirable, 0 undesirable); loss scalar.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import LossOutput, Objective, UnpairedLogps, register


@register("kto")
class KTO(Objective):
    data_kind = "unpaired"
    summary = "prospect-theoretic loss on single completions labelled desirable or undesirable"
    paper = "Ethayarajh et al. 2024, arXiv 2402.01306"

    @dataclass
    class Config:
        beta: float = 0.1                # reward scale / KL strength, as in DPO
        desirable_weight: float = 1.0    # lambda_D: raise it when desirable examples are scarce
        undesirable_weight: float = 1.0  # lambda_U: raise it when undesirable examples are scarce
        loss_type: str = "kto"           # kto | apo_zero_unpaired (APO-zero on unpaired data, no z0)

        def __post_init__(self):
            if self.loss_type not in ("kto", "apo_zero_unpaired"):
                raise ValueError(f"loss_type must be kto or apo_zero_unpaired, not {self.loss_type!r}")
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if self.desirable_weight <= 0 or self.undesirable_weight <= 0:
                raise ValueError(f"desirable_weight and undesirable_weight must be > 0, got "
                                 f"{self.desirable_weight} and {self.undesirable_weight}")

    def loss(self, policy: UnpairedLogps, reference: UnpairedLogps) -> LossOutput:
        cfg = self.config
        r = policy.logps - reference.logps
        z0 = (policy.mismatched - reference.mismatched).mean().clamp(min=0).detach()
        good = policy.label
        if cfg.loss_type == "apo_zero_unpaired":  # APO eq. 7, unpaired: anchored at the reference, no z0
            desirable = cfg.desirable_weight * (1 - torch.sigmoid(cfg.beta * r))
            undesirable = cfg.undesirable_weight * torch.sigmoid(cfg.beta * r)
        else:
            desirable = cfg.desirable_weight * (1 - torch.sigmoid(cfg.beta * (r - z0)))
            undesirable = cfg.undesirable_weight * (1 - torch.sigmoid(cfg.beta * (z0 - r)))
        per_example = good * desirable + (1 - good) * undesirable
        reward = (cfg.beta * r).detach()
        n_good, n_bad = good.sum(), (1 - good).sum()
        metrics = {"kl": z0,
                   "desirable_reward": (reward * good).sum() / n_good.clamp(min=1),
                   "undesirable_reward": (reward * (1 - good)).sum() / n_bad.clamp(min=1),
                   "desirable_fraction": good.mean().detach()}
        return LossOutput(per_example.mean(), per_example.detach(), metrics)
