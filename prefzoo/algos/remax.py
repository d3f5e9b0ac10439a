"""ReMax: Li et al. 2023, "ReMax: A Simple, Effective, and Efficient Reinforcement Learning Method for
Aligning Large Language Models", arXiv 2310.10505.

Intuition: REINFORCE whose baseline is the reward of the greedy response to the same prompt.
R_i = score_i - beta * sum_t (log pi - log pi_ref); A_i = R_i - score(greedy) (eq. 7), every token.
Shapes: scores, baseline [B]; advantages [B, R].
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.engine.advantages import AdvantageInput, Advantages, remax, sequence_advantages
from prefzoo.engine.online import OnlineAlgorithm, OnlineConfig
from prefzoo.registry import register


@register("remax")
class ReMax(OnlineAlgorithm):
    summary = "REINFORCE with the greedy response's reward as baseline; KL in the reward"
    paper = "Li et al. 2023, arXiv 2310.10505"
    kl_in_reward = True
    needs_greedy_baseline = True

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 1       # sampled responses per prompt (the paper: 1)

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return sequence_advantages(remax(inp.scores, inp.baseline), inp.mask)
