"""EXO: Ji et al. 2024, "Towards Efficient Exact Optimization of Language Model Alignment", arXiv 2402.00856.

Intuition: DPO minimises the forward KL to the preference distribution, which averages over modes;
EXO minimises the reverse KL KL(q_theta || p), which is mode-seeking, as RLHF's objective is.
Loss (EXO-pref, eq. 16, K = 2): with q_w = sigma(beta*h), q_l = 1 - q_w = sigma(-beta*h) the policy's
pair distribution (h = (log pi/pi_ref)(y_w) - (log pi/pi_ref)(y_l)) and the target p = [1 - eps, eps],
  loss = q_w (log q_w - log(1 - eps)) + q_l (log q_l - log eps).
eps > 0 is required (log eps); the paper recommends 1e-3. TRL's ``exo_pair`` is this loss with its
``label_smoothing`` as eps: ``{beta: <TRL beta>, epsilon: <TRL label_smoothing>}`` matches it exactly.
With a soft label P the target is the smoothed p_w = (1 - eps) P + eps (1 - P) (eps still keeps it
off 0 and 1); a hard label (P = 1) gives TRL's [1 - eps, eps]. TRL has no soft-label form.
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register


@register("exo")
class EXO(Objective):
    summary = "reverse KL from the policy's pair distribution sigma(beta*h) to the smoothed label"
    paper = "Ji et al. 2024, arXiv 2402.00856"

    @dataclass
    class Config:
        beta: float = 0.1       # beta_pi: scale of the implicit reward inside the policy's softmax (TRL default)
        epsilon: float = 1e-3   # label smoothing of the target [1 - eps, eps]; > 0 (log eps), paper: 1e-3

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if not 0.0 < self.epsilon < 0.5:
                raise ValueError(f"epsilon must be in (0, 0.5): the target needs log(eps), got {self.epsilon}")

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        beta, eps = self.config.beta, self.config.epsilon
        z = beta * (r_w - r_l)
        if policy.p_chosen is None:
            log_p_w, log_p_l = math.log1p(-eps), math.log(eps)
        else:
            target = (1 - eps) * policy.p_chosen + eps * (1 - policy.p_chosen)
            log_p_w, log_p_l = torch.log(target), torch.log1p(-target)
        log_q_w, log_q_l = F.logsigmoid(z), F.logsigmoid(-z)
        per_example = log_q_w.exp() * (log_q_w - log_p_w) + log_q_l.exp() * (log_q_l - log_p_l)  # eq. 16
        return LossOutput(per_example.mean(), per_example.detach(), pair_metrics(beta * r_w, beta * r_l))
