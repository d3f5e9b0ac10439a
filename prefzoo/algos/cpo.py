"""CPO: Xu et al. 2024, "Contrastive Preference Optimization: Pushing the Boundaries of LLM Performance
in Machine Translation", arXiv 2401.08417; with TRL's experimental CPO variants SimPO (Meng et al. 2024,
arXiv 2405.14734) and AlphaPO (Gupta et al. 2025, arXiv 2501.03884).

Intuition: DPO with the reference dropped (a uniform prior, so the implicit reward is beta log pi) plus
an NLL term on the chosen completion that keeps the policy on the preferred data.
Loss (eq. 3 + NLL): l(beta * (s_w - s_l)) + lambda * NLL(y_w), l = -log sigma, s = log pi(y|x) summed.
``loss_type`` (as TRL's CPOTrainer): "sigmoid" (CPO), "hinge" (relu(1 - beta * d)), "ipo"
((d - 1/(2 beta))^2), "simpo" (l(beta * d - gamma)), "alphapo" (simpo with the NLL off, TRL's sugar);
ipo, simpo and alphapo use per-token mean log-probs s = log pi(y|x)/|y|. ``label_smoothing`` eps
(sigmoid, simpo): (1 - eps) l(z) + eps l(-z). ``alpha`` != 0 (AlphaPO, any loss_type) reshapes the reward
to s' = (1 - exp(s)^-alpha) / alpha, -> s as alpha -> 0.
NLL convention: TRL's, one token mean over every chosen completion of the batch,
-sum_i log pi(y_w,i) / sum_i |y_w,i|. Soft labels are refused (the NLL term needs a chosen completion).
Shapes: every input [B] (summed completion log-probs, lengths in tokens); loss scalar. No reference.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, pair_metrics, register

LOSS_TYPES = ("sigmoid", "hinge", "ipo", "simpo", "alphapo")


@register("cpo")
class CPO(Objective):
    needs_reference = False
    summary = "reference-free DPO (beta log pi as the reward) plus NLL on the chosen; simpo/alphapo variants"
    paper = "Xu et al. 2024, arXiv 2401.08417"

    @dataclass
    class Config:
        beta: float = 0.1              # reward scale (TRL's default; the paper uses 0.1)
        loss_type: str = "sigmoid"     # sigmoid (CPO) | hinge | ipo | simpo | alphapo
        label_smoothing: float = 0.0   # sigmoid/simpo: assumed label-flip rate
        gamma: float = 0.5             # simpo/alphapo target margin (TRL's simpo_gamma)
        alpha: float = 0.0             # AlphaPO reward shape; 0: plain log-probability reward
        nll_weight: float | None = None  # lambda (TRL's cpo_alpha); None: 1, or 0 for alphapo

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if self.loss_type not in LOSS_TYPES:
                raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, not {self.loss_type!r}")
            if not 0 <= self.label_smoothing < 0.5:
                raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
            if self.nll_weight is not None and self.nll_weight < 0:
                raise ValueError(f"nll_weight must be >= 0, got {self.nll_weight}")

    def _rewards(self, policy: PairLogps) -> tuple[torch.Tensor, torch.Tensor]:
        s_w, s_l = policy.chosen, policy.rejected
        if self.config.loss_type in ("ipo", "simpo", "alphapo"):
            s_w, s_l = s_w / policy.chosen_len.clamp(min=1), s_l / policy.rejected_len.clamp(min=1)
        a = self.config.alpha
        if a != 0:  # AlphaPO: (1 - p^-alpha) / alpha with p = exp(s)
            s_w, s_l = -torch.expm1(-a * s_w) / a, -torch.expm1(-a * s_l) / a
        return s_w, s_l

    def loss(self, policy: PairLogps, reference=None) -> LossOutput:
        if policy.p_chosen is not None:
            raise ValueError("cpo takes hard preference labels only (its NLL term needs a chosen completion)")
        cfg = self.config
        s_w, s_l = self._rewards(policy)
        d, eps = s_w - s_l, cfg.label_smoothing
        if cfg.loss_type == "hinge":
            pref = torch.relu(1 - cfg.beta * d)
        elif cfg.loss_type == "ipo":
            pref = (d - 1 / (2 * cfg.beta)) ** 2
        else:
            z = cfg.beta * d - (cfg.gamma if cfg.loss_type in ("simpo", "alphapo") else 0.0)
            pref = -(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z)
        lam = cfg.nll_weight if cfg.nll_weight is not None else (0.0 if cfg.loss_type == "alphapo" else 1.0)
        nll = -policy.chosen.sum() / policy.chosen_len.sum().clamp(min=1)
        loss = pref.mean() + lam * nll if lam else pref.mean()
        metrics = pair_metrics(cfg.beta * s_w, cfg.beta * s_l)
        metrics.update(preference_loss=pref.detach().mean(), nll_chosen=nll.detach())
        return LossOutput(loss, (pref + lam * nll).detach(), metrics)
