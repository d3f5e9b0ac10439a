"""DPO: Rafailov et al. 2023, "Direct Preference Optimization", arXiv 2305.18290.

Intuition: the optimal KL-regularised policy defines an implicit reward beta * log(pi/pi_ref), so a
Bradley-Terry loss on that reward trains the policy directly, without a reward model or RL.
Loss (eq. 7): -log sigma(beta * ((log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l)))).
With a soft label p = P(y_w better) the target becomes p (Bradley-Terry cross-entropy).
``wpo`` (Zhou et al. 2024, "WPO: Enhancing RLHF with Weighted Preference Optimization", arXiv 2406.11827,
eq. 2 with the weight alignment of sec. 3.2; TRL's ``use_weighting``): each pair's loss is multiplied by the
detached w(y_w) w(y_l), w(y) = exp((1/|y|) sum_t [log pi(y_t|x,y_<t) - log sum_v pi(v|x,y_<t)^2]), the
length-normalised probability of the completion under the current policy, aligned so that the policy's own
samples weigh 1 on average; off-policy pairs the policy would rarely produce count less. It needs a per-token
quantity of the policy's logits, so the objective asks the loop for ``log_sum_sq_probs``.
Shapes: every input [B] (summed completion log-probs); loss scalar.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register, soft_sigmoid_loss


def wpo_weights(policy: PairLogps) -> torch.Tensor:
    """[B] detached WPO pair weights w(y_w) w(y_l) (Zhou et al. 2024, eq. 2, aligned weights); needs
    ``policy.log_sum_sq_probs`` (the offline loop fills it when ``needs_sum_sq_probs`` is true)."""
    sq = policy.log_sum_sq_probs
    if sq is None:
        raise ValueError("wpo needs PairLogps.log_sum_sq_probs: the objective must declare needs_sum_sq_probs "
                         "so that the offline loop fills it")
    log_w = ((policy.chosen - sq.chosen) / policy.chosen_len.clamp(min=1)
             + (policy.rejected - sq.rejected) / policy.rejected_len.clamp(min=1))
    return torch.exp(log_w.detach())


@register("dpo")
class DPO(Objective):
    summary = "Bradley-Terry loss on the implicit reward beta*log(pi/pi_ref)"
    paper = "Rafailov et al. 2023, arXiv 2305.18290"

    @dataclass
    class Config:
        beta: float = 0.1  # KL strength: small beta lets the policy move further from the reference
        wpo: bool = False  # weight pairs by their aligned probability under the policy (WPO); off: plain DPO

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")

    @property
    def needs_sum_sq_probs(self) -> bool:  # the loop fills PairLogps.log_sum_sq_probs only for WPO
        return self.config.wpo

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        beta = self.config.beta
        per_example = soft_sigmoid_loss(beta * (r_w - r_l), policy.p_chosen)  # eq. 7
        metrics = pair_metrics(beta * r_w, beta * r_l)
        if self.config.wpo:
            weights = wpo_weights(policy)
            per_example = per_example * weights  # WPO eq. 2
            metrics["wpo_weight"] = weights.mean()
        return LossOutput(per_example.mean(), per_example.detach(), metrics)
