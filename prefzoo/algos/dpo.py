"""DPO: Rafailov et al. 2023, "Direct Preference Optimization", arXiv 2305.18290.

Intuition: the optimal KL-regularised policy defines an implicit reward beta * log(pi/pi_ref), so a
Bradley-Terry loss on that reward trains the policy directly, without a reward model or RL.
Loss (eq. 7): -log sigma(beta * ((log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)))).
With a soft label p = P(y_w better) the target becomes p (Bradley-Terry cross-entropy).
Shapes: every input [B] (summed completion log-probs); loss scalar.
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register, soft_sigmoid_loss


@register("dpo")
class DPO(Objective):
    summary = "Bradley-Terry loss on the implicit reward beta*log(pi/pi_ref)"
    paper = "Rafailov et al. 2023, arXiv 2305.18290"

    @dataclass
    class Config:
        beta: float = 0.1  # KL strength: small beta lets the policy move further from the reference

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        beta = self.config.beta
        per_example = soft_sigmoid_loss(beta * (r_w - r_l), policy.p_chosen)  # eq. 7
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(beta * r_w, beta * r_l))
