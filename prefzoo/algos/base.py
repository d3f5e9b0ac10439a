"""What an algorithm is: typed log-prob inputs, a typed loss output, and the ``Objective`` base.

An offline objective is a pure function of tensors: ``loss(policy, reference) -> LossOutput``, where
``policy``/``reference`` are the typed log-prob summaries the offline loop computed for one batch
(``PairLogps`` for pairs, ``SeqLogps`` for SFT, ``UnpairedLogps`` for KTO). No I/O, no ``.item()``.
The loop branches on the capabilities ``data_kind`` and ``needs_reference``, never on names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F


@dataclass
class PairLogps:
    """Summed completion log-probs of a batch of pairs. All tensors [B]."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    chosen_len: torch.Tensor
    rejected_len: torch.Tensor
    p_chosen: torch.Tensor | None = None  # soft label P(chosen better); None means hard labels (1)


@dataclass
class SeqLogps:
    """Summed completion log-probs of single completions (SFT). Tensors [B]."""

    logps: torch.Tensor
    length: torch.Tensor


@dataclass
class UnpairedLogps:
    """Unpaired completions (KTO). ``mismatched``: log-probs of a completion for another prompt, the
    batch's estimate of the KL term's baseline (Ethayarajh et al. 2024, sec. 4.1). Tensors [B]."""

    logps: torch.Tensor
    length: torch.Tensor
    label: torch.Tensor           # 1.0 desirable, 0.0 undesirable
    mismatched: torch.Tensor


@dataclass
class LossOutput:
    loss: torch.Tensor                    # scalar to minimise
    per_example: torch.Tensor             # [B], detached
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # scalars, detached


def pair_metrics(chosen_reward: torch.Tensor, rejected_reward: torch.Tensor) -> dict[str, torch.Tensor]:
    """The implicit-reward summaries every pairwise objective logs."""
    c, r = chosen_reward.detach(), rejected_reward.detach()
    return {"reward_accuracy": (c > r).float().mean(), "reward_margin": (c - r).mean(),
            "chosen_reward": c.mean(), "rejected_reward": r.mean()}


def logratio(policy: PairLogps, reference: PairLogps) -> tuple[torch.Tensor, torch.Tensor]:
    """r_w, r_l = log pi(y|x) - log pi_ref(y|x) for chosen and rejected."""
    return policy.chosen - reference.chosen, policy.rejected - reference.rejected


def soft_sigmoid_loss(logits: torch.Tensor, p: torch.Tensor | None) -> torch.Tensor:
    """-p log sigma(z) - (1-p) log sigma(-z); hard labels (p=None) reduce to -log sigma(z)."""
    if p is None:
        return -F.logsigmoid(logits)
    return -p * F.logsigmoid(logits) - (1 - p) * F.logsigmoid(-logits)


@dataclass
class NoParams:
    pass


class Algorithm:
    """Everything the registry holds. ``run(job)`` trains ``job.policy`` and returns a ``TrainResult``."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    data_kind: ClassVar[str] = ""       # "pairs" | "unpaired" | "sft" | "prompts"
    needs_reference: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    Config: ClassVar[type] = NoParams

    def __init__(self, config=None):
        self.config = config if config is not None else self.Config()

    def run(self, job):
        raise NotImplementedError


class Objective(Algorithm):
    """An offline loss, run by the offline loop (``prefzoo.engine.offline``)."""

    family = "offline"
    data_kind = "pairs"
    needs_reference = True

    def loss(self, policy, reference) -> LossOutput:
        raise NotImplementedError

    def run(self, job):
        from prefzoo.engine.offline import train_offline

        return train_offline(job, self)
