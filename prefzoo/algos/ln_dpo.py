"""LN-DPO: length-normalised DPO (TRL's ``sigmoid_norm``; the LN-DPO of Ahrabian et al. 2024, "A
Practical Analysis of Human Alignment with *PO", arXiv 2407.15229).

Intuition: DPO on per-token log-ratios, so a long completion cannot win (or lose) by length alone and
beta means the same at any length.
Loss: -log sigma(beta * (r_w/|y_w| - r_l/|y_l|)), r = log pi(y|x) - log pi_ref(y|x) summed over tokens.
Convention: TRL's, exactly (lengths are completion tokens, EOS included). With a soft label p the target
becomes p, as in dpo.
Shapes: every input [B] (summed completion log-probs, lengths in tokens); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register, soft_sigmoid_loss


@register("ln-dpo")
class LNDPO(Objective):
    summary = "DPO on per-token (length-normalised) log-ratios"
    paper = "Ahrabian et al. 2024, arXiv 2407.15229 (TRL sigmoid_norm)"

    @dataclass
    class Config:
        beta: float = 0.1  # scale of the per-token implicit reward (TRL's default)

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        r_w, r_l = r_w / policy.chosen_len.clamp(min=1), r_l / policy.rejected_len.clamp(min=1)
        beta = self.config.beta
        per_example = soft_sigmoid_loss(beta * (r_w - r_l), policy.p_chosen)
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(beta * r_w, beta * r_l))
