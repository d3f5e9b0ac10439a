"""GRPO: Shao et al. 2024, "DeepSeekMath", arXiv 2402.03300 (sec. 4.1).

Intuition: no critic; each sample is judged against its own group. A_i = (R_i - mean(R)) / std(R)
over the G samples of a prompt, applied to every token; clipped ratio surrogate; KL to the reference
in the loss with the k3 estimator pi_ref/pi - log(pi_ref/pi) - 1 (eq. 4), weight beta.
Shapes: scores [B] (G rows per prompt, group-major), token tensors [B, R].

The GRPO family (dapo, dr-grpo, gspo, cispo) subclasses this class and changes its options:
``scale_rewards`` (group | batch | none: what the centred reward is divided by), the shared options of
the online loop ``loss_agg`` and ``epsilon_low`` / ``epsilon_high``, and the policy term. prefzoo's
default aggregation is ``token-mean`` (over the global batch's tokens); the paper's eq. 3 is
``seq-mean-token-mean`` (TRL's loss_type "grpo"). The k3 term is aggregated like the policy term.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import (SCALE_REWARDS, AdvantageInput, Advantages, OnlineAlgorithm, OnlineBatch, OnlineConfig,
                         group_advantages, kl_k3, register, sequence_advantages, shaped_rewards)


@register("grpo")
class GRPO(OnlineAlgorithm):
    summary = "group-normalised advantages, clipped ratio, k3 KL in the loss; no critic"
    paper = "Shao et al. 2024, arXiv 2402.03300"

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 8       # G, the group size (the paper uses 64 on maths)
        beta: float = 0.04                # weight of the k3 KL term (paper: 0.04)
        scale_rewards: str = "group"      # group (the paper) | batch (std of the whole batch) | none (Dr. GRPO)
        log_kl: bool = True               # log kl (k1 to the reference; a reference forward per step). false, with
                                          # beta 0: nothing reads the reference, its forward is skipped, kl is NaN

        def __post_init__(self):
            super().__post_init__()
            if self.samples_per_prompt < 2:
                raise ValueError("grpo and its family need samples_per_prompt >= 2 (advantages are normalised "
                                 "in the group)")
            if self.scale_rewards not in SCALE_REWARDS:
                raise ValueError(f"scale_rewards must be one of {', '.join(SCALE_REWARDS)}, not {self.scale_rewards!r}")
            if not self.log_kl and (self.beta != 0 or self.target_kl is not None):
                raise ValueError("log_kl: false skips the reference forward, so it needs beta 0 and no target_kl "
                                 f"(got beta {self.beta}, target_kl {self.target_kl})")

    def __init__(self, config=None):
        super().__init__(config)
        # the engine skips the reference forward when nothing reads it: the k3 term (weight beta) and the kl log
        self.needs_reference = self.config.beta != 0 or self.config.log_kl

    def rewards(self, scores, kl_tok, lengths, beta):
        return shaped_rewards(scores, kl_tok, lengths, None)  # the KL goes into the loss, not the reward

    def advantages(self, inp: AdvantageInput) -> Advantages:
        adv = group_advantages(inp.scores, inp.group_size, self.config.scale_rewards, reduce_sum=inp.reduce_sum)
        return sequence_advantages(adv, inp.mask)

    def extra_loss(self, b: OnlineBatch, total: torch.Tensor, metrics: dict):
        if b.ref_logps is None:  # no reference forward (beta 0, log_kl false): no k3 term, none logged
            return total, metrics
        k3 = self.aggregate(b, kl_k3(b.logps, b.ref_logps))  # eq. 4, aggregated like the policy term
        return total + b.beta * k3, {**metrics, "kl_k3": k3.detach()}
