"""GRPO: Shao et al. 2024, "DeepSeekMath", arXiv 2402.03300 (sec. 4.1).

Intuition: no critic; each sample is judged against its own group. A_i = (R_i - mean(R)) / std(R)
over the G samples of a prompt, applied to every token; clipped ratio surrogate; KL to the reference
in the loss with the k3 estimator pi_ref/pi - log(pi_ref/pi) - 1 (eq. 4), weight beta.
Shapes: scores [B] (G rows per prompt, group-major), token tensors [B, R].
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.engine.advantages import AdvantageInput, Advantages, group_normalized, sequence_advantages
from prefzoo.engine.online import OnlineAlgorithm, OnlineConfig
from prefzoo.registry import register


@register("grpo")
class GRPO(OnlineAlgorithm):
    summary = "group-normalised advantages, clipped ratio, k3 KL in the loss; no critic"
    paper = "Shao et al. 2024, arXiv 2402.03300"
    kl_in_reward = False
    kl_in_loss = True

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 8       # G, the group size (the paper uses 64 on maths)
        beta: float = 0.04                # weight of the k3 KL term (paper: 0.04)

        def __post_init__(self):
            super().__post_init__()
            if self.samples_per_prompt < 2:
                raise ValueError("grpo needs samples_per_prompt >= 2 (advantages are normalised in the group)")

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return sequence_advantages(group_normalized(inp.scores, inp.group_size), inp.mask)
