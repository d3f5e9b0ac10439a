"""SLiC-HF: Zhao et al. 2023, "SLiC-HF: Sequence Likelihood Calibration with Human Feedback",
arXiv 2305.10425; the reference-normalised hinge of RSO (Liu et al. 2023, arXiv 2309.06657).

Intuition: a ranking hinge: the chosen completion must out-score the rejected one by a margin delta,
after which the pair contributes nothing; an optional NLL term keeps the policy near good text.
Loss: max(0, delta - beta * g) + lambda * (-log pi(y_w|x)), where the gap g is
  - ``use_reference: false`` (SLiC-HF):        g = log pi(y_w|x) - log pi(y_l|x)  (no reference model);
  - ``use_reference: true`` (RSO / TRL ``loss_type="hinge"``): g = h = r_w - r_l, the log-ratio gap.
The defaults (delta 1, beta 1, use_reference false, nll_weight 0) give SLiC-HF's calibration loss
max(0, 1 - log pi(y_w) + log pi(y_l)) without its regulariser. TRL's ``hinge`` with its beta is
exactly {delta: 1, beta: <TRL beta>, use_reference: true, nll_weight: 0}. The regulariser's target
y_ref (an SFT demonstration in the paper) is taken to be y_w here, summed over tokens as in the paper.
With a soft label p the hinge is its expectation over the label: p * l(g) + (1 - p) * l(-g).
``needs_reference`` follows ``use_reference`` per instance.
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("slic")
class SLiC(Objective):
    summary = "hinge on the log-likelihood gap (SLiC-HF), or on the log-ratio gap (RSO/TRL hinge)"
    paper = "Zhao et al. 2023, arXiv 2305.10425; Liu et al. 2023, arXiv 2309.06657"
    needs_reference = False  # for the default config; instances set it from use_reference

    @dataclass
    class Config:
        delta: float = 1.0           # margin the scaled gap must exceed before a pair stops contributing
        beta: float = 1.0            # scale on the gap; TRL's hinge uses beta 0.1 with delta 1
        use_reference: bool = False  # false: gap of policy log-probs (SLiC-HF); true: log-ratio gap h (RSO/TRL)
        nll_weight: float = 0.0      # lambda on -log pi(y_w|x) (summed tokens); SLiC-HF's regulariser

        def __post_init__(self):
            if self.delta <= 0:
                raise ValueError(f"delta must be > 0, got {self.delta}")
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if self.nll_weight < 0:
                raise ValueError(f"nll_weight must be >= 0, got {self.nll_weight}")

    def __init__(self, config=None):
        super().__init__(config)
        self.needs_reference = self.config.use_reference

    def loss(self, policy: PairLogps, reference: PairLogps | None = None) -> LossOutput:
        cfg = self.config
        if cfg.use_reference:
            s_w, s_l = logratio(policy, reference)
        else:
            s_w, s_l = policy.chosen, policy.rejected
        gap = cfg.beta * (s_w - s_l)
        per_example = torch.relu(cfg.delta - gap)
        if policy.p_chosen is not None:
            p = policy.p_chosen
            per_example = p * per_example + (1 - p) * torch.relu(cfg.delta + gap)
        metrics = pair_metrics(cfg.beta * s_w, cfg.beta * s_l)
        if cfg.nll_weight > 0:
            nll = -policy.chosen
            per_example = per_example + cfg.nll_weight * nll
            metrics["nll_chosen"] = nll.detach().mean()
        return LossOutput(per_example.mean(), per_example.detach(), metrics)
