"""CISPO: MiniMax 2025, "MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention",
arXiv 2506.13585 (sec. 3.1).

Intuition: PPO's clip drops the gradient of every token whose ratio left the range, and in long
reasoning those are often the rare "fork" tokens (however, wait, ...) that matter most. CISPO clips
the importance weight instead and stops its gradient, so every token keeps a REINFORCE gradient:
J = 1/sum_i |y_i| sum_{i,t} sg(clip(r_it, 1 - eps_low, 1 + eps_high)) A_i log pi(y_it) (eq. 4),
a token-level mean (``loss_agg: token-mean``). The paper sets no lower bound (``epsilon_low`` 1: the
weight is >= 0 anyway) and tunes the upper one; ``epsilon_high`` 4 caps the weight at 5, TRL's
recommended eps_max (TRL's cispo ``epsilon_high`` is that cap itself, 1 + prefzoo's).
Group-normalised advantages; no KL term (beta 0). Shapes: token tensors [B, R].
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import OnlineBatch, cispo_loss_tokens, register
from prefzoo.algos.grpo import GRPO


@register("cispo")
class CISPO(GRPO):
    summary = "clipped, stop-gradient importance weight times the REINFORCE term; every token keeps a gradient"
    paper = "MiniMax 2025, arXiv 2506.13585"

    @dataclass
    class Config(GRPO.Config):
        beta: float = 0.0                 # no KL term
        epsilon_low: float | None = 1.0   # no lower bound on the weight (sec. 3.1)
        epsilon_high: float | None = 4.0  # weight <= 5 (TRL / ScaleRL's eps_max)
        loss_agg: str = "token-mean"      # 1 / sum_i |y_i| over the batch (eq. 4)

    def policy_loss(self, b: OnlineBatch):
        per_token, clipped, ratio = cispo_loss_tokens(b.logps, b.old_logps, b.advantages, *self.config.clip_range)
        pg = self.aggregate(b, per_token)
        return pg, {"policy_loss": pg.detach(), "clip_fraction": b.mean(clipped.float()).detach(),
                    "ratio_mean": b.mean(ratio).detach()}
