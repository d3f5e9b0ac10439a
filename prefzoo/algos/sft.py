"""SFT: supervised fine-tuning, the negative log-likelihood of demonstrations.

Ouyang et al. 2022 (arXiv 2203.02155), step 1 of the RLHF pipeline. Loss: -sum_t log pi(y_t | x, y_<t)
averaged over completion tokens of the batch (token-level mean, so long answers weigh by length).
Shapes: logps, length [B]; loss scalar.
"""
from __future__ import annotations

from prefzoo.api import LossOutput, NoParams, Objective, SeqLogps, register


@register("sft")
class SFT(Objective):
    data_kind = "sft"
    needs_reference = False
    summary = "negative log-likelihood of demonstrations (token mean)"
    paper = "Ouyang et al. 2022, arXiv 2203.02155"
    Config = NoParams

    def loss(self, policy: SeqLogps, reference=None) -> LossOutput:
        per_example = -policy.logps / policy.length.clamp(min=1)
        loss = -policy.logps.sum() / policy.length.sum().clamp(min=1)
        return LossOutput(loss, per_example.detach(), {"nll_per_token": loss.detach()})
