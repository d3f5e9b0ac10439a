"""RLOO: Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for Learning
from Human Feedback in LLMs", arXiv 2402.14740.

Intuition: REINFORCE with a baseline that costs nothing: the mean reward of the other samples of
the same prompt. R_i = score_i - beta * sum_t (log pi - log pi_ref) (KL folded into the reward);
A_i = R_i - 1/(k-1) sum_{j != i} R_j (eq. 6), applied to every token of response i.
Shapes: scores [B] (k rows per prompt, group-major), advantages [B, R].
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import AdvantageInput, Advantages, OnlineAlgorithm, OnlineConfig, register, rloo, sequence_advantages


@register("rloo")
class RLOO(OnlineAlgorithm):
    summary = "REINFORCE with a leave-one-out baseline over k samples per prompt; KL in the reward"
    paper = "Ahmadian et al. 2024, arXiv 2402.14740"

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 4       # k; the paper finds k=4 a good trade-off

        def __post_init__(self):
            super().__post_init__()
            if self.samples_per_prompt < 2:
                raise ValueError("rloo needs samples_per_prompt >= 2 (the baseline is the other samples)")

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return sequence_advantages(rloo(inp.scores, inp.group_size), inp.mask)
