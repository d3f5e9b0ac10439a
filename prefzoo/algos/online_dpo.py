"""Online DPO: Guo et al. 2024, "Direct Language Model Alignment from Online AI Feedback", arXiv 2402.04792.

Intuition: DPO on fresh pairs: sample two responses per prompt from the current policy, let the
feedback's prefer() label them, and take a DPO step on that pair.
Loss: -p log sigma(beta * (r_a - r_b)) - (1-p) log sigma(-beta * (r_a - r_b)), r = sum_t (log pi - log pi_ref),
p = P(a better) from the feedback (hard labels give p in {0, 1}).
Shapes: token tensors [2N, R], rows (2i, 2i+1) a pair; labels [N].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import (AdvantageInput, Advantages, FeedbackInput, LossOutput, OnlineAlgorithm, OnlineBatch,
                         OnlineConfig, Scores, register, shaped_rewards, soft_sigmoid_loss)


@register("online-dpo")
class OnlineDPO(OnlineAlgorithm):
    summary = "DPO on two fresh samples per prompt, labelled online by the feedback's prefer()"
    paper = "Guo et al. 2024, arXiv 2402.04792"

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 2       # a pair per prompt (fixed)
        beta: float = 0.1                 # DPO's beta (KL strength inside the loss)
        hard_labels: bool = True          # round P(a better) to 0/1 (the paper); False: soft targets

        def __post_init__(self):
            super().__post_init__()
            if self.samples_per_prompt != 2:
                raise ValueError("online-dpo samples exactly 2 responses per prompt")

    def feedback(self, inp: FeedbackInput) -> Scores:
        """Labels P(a better than b) for each prompt's pair (rows 2i, 2i+1) from the feedback's prefer()."""
        ro = inp.rollout
        labels = inp.reward.checked_prefer(ro.prompts[0::2], ro.texts[0::2], ro.texts[1::2])
        zeros = torch.zeros(len(ro), device=ro.response_mask.device)
        return Scores(inp.penalised(zeros, ro.eos), labels=labels.to(ro.response_mask.device))

    def rewards(self, scores, kl_tok, lengths, beta):
        return shaped_rewards(scores, kl_tok, lengths, None)  # the KL lives inside the DPO loss

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return Advantages(torch.zeros_like(inp.mask))  # no policy gradient: the loss is DPO's

    def loss(self, b: OnlineBatch) -> LossOutput:
        r = ((b.logps - b.ref_logps) * b.mask).sum(-1)
        margin = self.config.beta * (r[0::2] - r[1::2])
        p = (b.labels >= 0.5).to(margin.dtype) if self.config.hard_labels else b.labels.to(margin.dtype)
        per_pair = soft_sigmoid_loss(margin, p)
        chosen_first = (p >= 0.5).to(margin.dtype)
        acc = (margin.detach() > 0).to(margin.dtype) * chosen_first + (margin.detach() < 0).to(margin.dtype) * (1 - chosen_first)
        return LossOutput(per_pair.mean(), per_pair.detach(), {"reward_accuracy": acc.mean(),
                                                                "reward_margin": margin.detach().abs().mean()})
