"""f-DPO: Wang et al. 2023, "Beyond Reverse KL: Generalizing Direct Preference Optimization with Diverse
Divergence Constraints", arXiv 2309.16240.

Intuition: DPO's reward beta * log(pi/pi_ref) comes from the reverse-KL constraint; with another
f-divergence the optimal policy gives the reward beta * f'(pi/pi_ref), so DPO's Bradley-Terry loss runs
on f'(u) of each completion's ratio u = pi(y|x)/pi_ref(y|x) instead.
Loss: -log sigma(beta * (f'(u_w) - f'(u_l))), with f' (Table 1), log u = r (summed log-ratio):
  reverse_kl: f'(u) = log u                (plain DPO)
  forward_kl: f'(u) = 1 - 1/u
  js:         f'(u) = log(2u / (1 + u)) = log 2 + log sigma(r)
  alpha:      f'(u) = (1 - u^-alpha) / alpha, alpha in (0, 1); -> log u as alpha -> 0, forward KL at 1.
Convention: the paper's alpha. TRL's ``f_alpha_divergence_coef`` is 1 - alpha (its f'(t) is
(t^(c-1) - 1)/(c-1)); the two agree at the default 0.5. TRL clamps the exponent for float16/32 and has
no entry for float64; prefzoo does not clamp. With a soft label p the target becomes p, as in dpo.
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register, soft_sigmoid_loss

DIVERGENCES = ("reverse_kl", "forward_kl", "js", "alpha")


def f_prime(r: torch.Tensor, divergence: str, alpha: float) -> torch.Tensor:
    """f'(u) at u = exp(r) for ``divergence`` (Wang et al. 2023, Table 1). [B] -> [B]."""
    if divergence == "reverse_kl":
        return r
    if divergence == "forward_kl":
        return 1 - torch.exp(-r)
    if divergence == "js":
        return math.log(2) + F.logsigmoid(r)
    return -torch.expm1(-alpha * r) / alpha  # (1 - u^-alpha) / alpha


@register("fdpo")
class FDPO(Objective):
    summary = "DPO under an f-divergence constraint: Bradley-Terry on f'(pi/pi_ref)"
    paper = "Wang et al. 2023, arXiv 2309.16240"

    @dataclass
    class Config:
        beta: float = 0.1                  # reward scale, as in DPO
        divergence: str = "reverse_kl"     # reverse_kl (DPO) | forward_kl | js | alpha
        alpha: float = 0.5                 # alpha-divergence only: 0 < alpha < 1 (paper's convention)

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if self.divergence not in DIVERGENCES:
                raise ValueError(f"divergence must be one of {', '.join(DIVERGENCES)}, not {self.divergence!r}")
            if not 0 < self.alpha < 1:
                raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        cfg = self.config
        s_w, s_l = f_prime(r_w, cfg.divergence, cfg.alpha), f_prime(r_l, cfg.divergence, cfg.alpha)
        per_example = soft_sigmoid_loss(cfg.beta * (s_w - s_l), policy.p_chosen)
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(cfg.beta * s_w, cfg.beta * s_l))
