"""ReMax: Li et al. 2023, "ReMax: A Simple, Effective, and Efficient Reinforcement Learning Method for
Aligning Large Language Models", arXiv 2310.10505.

Intuition: REINFORCE whose baseline is the reward of the greedy response to the same prompt.
R_i = score_i - beta * sum_t (log pi - log pi_ref); A_i = R_i - score(greedy) (eq. 7), every token.
Shapes: scores, baseline [B]; advantages [B, R].
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import (AdvantageInput, Advantages, FeedbackInput, OnlineAlgorithm, OnlineConfig, Scores, register,
                         remax, sequence_advantages)


@register("remax")
class ReMax(OnlineAlgorithm):
    summary = "REINFORCE with the greedy response's reward as baseline; KL in the reward"
    paper = "Li et al. 2023, arXiv 2310.10505"

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 1       # sampled responses per prompt (the paper: 1)

    def feedback(self, inp: FeedbackInput) -> Scores:
        """The sampled responses' scores, and as baseline the score of the greedy response to the same
        prompt (decoded with the current policy, before the update), repeated over the prompt's rows."""
        greedy = inp.decode_greedy()
        return Scores(inp.score(inp.rollout), baseline=inp.score(greedy).repeat_interleave(inp.group_size))

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return sequence_advantages(remax(inp.scores, inp.baseline), inp.mask)
