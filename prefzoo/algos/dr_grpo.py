"""Dr. GRPO: Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective", arXiv 2503.20783.

Intuition: GRPO done right, without its two biases. Dividing each response's loss by its length
favours long wrong answers (length bias), and dividing the advantage by the group's std up-weights
too easy and too hard questions (difficulty bias). Dr. GRPO drops both: A_i = R_i - mean(R) over the
group (``scale_rewards: none``), and the token losses are summed and divided by one constant, the
generation budget (``loss_agg: seq-mean-token-sum-norm``, ``loss_agg_norm`` None = max_new_tokens;
eq. 2 and Appendix A; TRL's loss_type "dr_grpo"). No KL term (beta 0, as their recipe).
Shapes: scores [B] (G rows per prompt, group-major), token tensors [B, R].
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import register
from prefzoo.algos.grpo import GRPO


@register("dr-grpo")
class DrGRPO(GRPO):
    summary = "GRPO without the length and std normalisations: centred rewards, a constant loss normaliser"
    paper = "Liu et al. 2025, arXiv 2503.20783"

    @dataclass
    class Config(GRPO.Config):
        beta: float = 0.0                 # no KL term
        scale_rewards: str = "none"       # A = R - mean(R): no division by the group std
        loss_agg: str = "seq-mean-token-sum-norm"  # sum over tokens / a constant (max_new_tokens)
