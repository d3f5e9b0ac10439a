"""GSPO: Zheng et al. 2025, "Group Sequence Policy Optimization", arXiv 2507.18071.

Intuition: the reward is given per sequence, so the importance ratio should be too. GSPO replaces
GRPO's per-token ratio by the length-normalised sequence ratio
s_i = (pi(y_i|x) / pi_old(y_i|x))^(1/|y_i|) = exp(mean_t (log pi - log pi_old)) (eq. 7), clipped per
sequence: loss_i = -min(s_i A_i, clip(s_i, 1 - eps_low, 1 + eps_high) A_i), averaged over sequences
(eq. 5; ``loss_agg: seq-mean-token-mean``, as TRL's importance_sampling_level="sequence" with loss_type
"grpo"). The clip range is tiny because s_i is a geometric mean: the paper uses 3e-4 and 4e-4.
Group-normalised advantages; no KL term (beta 0). Shapes: token tensors [B, R], s [B, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import OnlineBatch, clipped_surrogate, register, sequence_log_ratio
from prefzoo.algos.grpo import GRPO


@register("gspo")
class GSPO(GRPO):
    summary = "GRPO with a sequence-level, length-normalised importance ratio clipped per sequence"
    paper = "Zheng et al. 2025, arXiv 2507.18071"

    @dataclass
    class Config(GRPO.Config):
        beta: float = 0.0                 # no KL term
        epsilon_low: float | None = 3e-4  # sec. 5.1: left and right clipping ranges 3e-4 and 4e-4
        epsilon_high: float | None = 4e-4
        loss_agg: str = "seq-mean-token-mean"  # one loss per sequence, then their mean (eq. 5)

    def policy_loss(self, b: OnlineBatch):
        log_s = sequence_log_ratio(b.logps, b.old_logps, b.mask)                     # [B, 1]
        seq_adv = b.advantages[:, :1]                # a sequence-level advantage, the same on every token
        per_seq, clipped, s = clipped_surrogate(log_s, torch.zeros_like(log_s), seq_adv, *self.config.clip_range)
        pg = self.aggregate(b, per_seq)             # [B, 1] broadcast over each response's tokens
        return pg, {"policy_loss": pg.detach(),
                    "clip_fraction": b.aggregate(clipped.float(), "seq-mean-token-mean").detach(),
                    "ratio_mean": b.aggregate(s.detach(), "seq-mean-token-mean")}
