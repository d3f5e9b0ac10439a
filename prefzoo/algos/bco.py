"""BCO (paired): Jung et al. 2024, "Binary Classifier Optimization for Large Language Model Alignment",
arXiv 2404.04656.

Intuition: train a binary classifier whose logit is the implicit reward beta*r: chosen responses are
the positive class, rejected ones the negative; its log-loss upper-bounds the DPO loss, and the reward
shift delta tightens that bound.
Loss: -log sigma(beta r_w - delta) - log sigma(-(beta r_l - delta)), r = log pi(y|x) - log pi_ref(y|x).

The convention for delta (``reward_shift``), where the sources differ:
  - ``none`` (default): delta = 0. This is TRL 1.16's ``bco_pair`` exactly (same beta). Chosen because
    it keeps the loss a pure function of the batch: the same under micro-batching, on every process and
    after a checkpoint resume, and checkable in float64 against TRL.
  - ``running``: delta = the running mean of the per-call mean reward mean(beta*[r_w; r_l]) over every
    training call so far, this one included, detached: the paper's moving-average shift, as TRL's BCO
    trainers computed it before 1.16 (one sample per batch). The state lives in this object: it is
    updated only when autograd is on (training, not evaluation), once per ``loss`` call (so per
    micro-batch), per process (not all-reduced), and is not saved in checkpoints.
With a soft label P the loss is its expectation over the label: P l(y_w, y_l) + (1 - P) l(y_l, y_w).
Shapes: every input [B] (summed completion log-probs); loss scalar (batch mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from prefzoo.api import LossOutput, Objective, PairLogps, logratio, pair_metrics, register

SHIFTS = ("none", "running")


@register("bco")
class BCO(Objective):
    summary = "binary classifier on the implicit reward: chosen positive, rejected negative"
    paper = "Jung et al. 2024, arXiv 2404.04656"

    @dataclass
    class Config:
        beta: float = 0.1            # implicit-reward scale (TRL default)
        reward_shift: str = "none"   # delta: none (0, TRL 1.16) | running (mean reward so far, the paper's)

        def __post_init__(self):
            if self.beta <= 0:
                raise ValueError(f"beta must be > 0, got {self.beta}")
            if self.reward_shift not in SHIFTS:
                raise ValueError(f"reward_shift must be one of {', '.join(SHIFTS)}, not {self.reward_shift!r}")

    def __init__(self, config=None):
        super().__init__(config)
        self._shift_sum, self._shift_count = 0.0, 0  # running-mean state (reward_shift: running)

    def shift(self, s_w: torch.Tensor, s_l: torch.Tensor) -> float:
        """delta for this batch; with ``running`` on a training call, first folds this batch's mean in."""
        if self.config.reward_shift == "none":
            return 0.0
        if torch.is_grad_enabled():
            self._shift_sum += torch.cat([s_w, s_l]).mean().item()
            self._shift_count += 1
        return self._shift_sum / self._shift_count if self._shift_count else 0.0

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, r_l = logratio(policy, reference)
        s_w, s_l = self.config.beta * r_w, self.config.beta * r_l
        delta = self.shift(s_w.detach(), s_l.detach())
        per_example = -F.logsigmoid(s_w - delta) - F.logsigmoid(delta - s_l)
        if policy.p_chosen is not None:
            p = policy.p_chosen
            swapped = -F.logsigmoid(s_l - delta) - F.logsigmoid(delta - s_w)
            per_example = p * per_example + (1 - p) * swapped
        metrics = pair_metrics(s_w, s_l)
        metrics["reward_shift"] = torch.tensor(delta, dtype=per_example.dtype, device=per_example.device)
        return LossOutput(per_example.mean(), per_example.detach(), metrics)
