"""IPO: Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human
Preferences", arXiv 2310.12036.

Intuition: regress the log-ratio gap onto a fixed target 1/(2 tau) instead of pushing it to infinity
(DPO's sigmoid saturates only at h -> inf, so it overfits deterministic preferences).
Loss (eq. 17): (h - 1/(2 tau))^2, h = (log pi/pi_ref)(y_w) - (log pi/pi_ref)(y_l).
``average_log_probs`` (default True, as TRL does and as the IPO authors confirmed to TRL) uses the
per-token average of each log-ratio, h = r_w/|y_w| - r_l/|y_l|, so tau means the same at any length;
False gives the paper's summed form. With a soft label p (the paper's general objective) the target is
(p - 1/2)/tau, which is 1/(2 tau) for p = 1.
Shapes: every input [B]; loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("ipo")
class IPO(Objective):
    summary = "squared loss pulling the log-ratio gap to 1/(2 tau)"
    paper = "Azar et al. 2023, arXiv 2310.12036"

    @dataclass
    class Config:
        tau: float = 0.1                # regularisation: the target gap is 1/(2 tau); TRL calls it beta
        average_log_probs: bool = True  # per-token mean log-ratios (TRL); False: summed, as written in the paper

        def __post_init__(self):
            if self.tau <= 0:
                raise ValueError(f"tau must be > 0, got {self.tau}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        if self.config.average_log_probs:
            r_w, r_l = r_w / policy.chosen_len.clamp(min=1), r_l / policy.rejected_len.clamp(min=1)
        p = 1.0 if policy.p_chosen is None else policy.p_chosen
        target = (p - 0.5) / self.config.tau  # 1/(2 tau) for hard labels
        per_example = (r_w - r_l - target) ** 2  # eq. 17
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(r_w, r_l))
