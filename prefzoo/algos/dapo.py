"""DAPO: Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning System at Scale", arXiv 2503.14476.

Intuition: GRPO with four fixes for long reasoning RL. (1) Clip-higher: an asymmetric range,
epsilon_low 0.2 and epsilon_high 0.28, so unlikely tokens can rise (eq. 10). (2) Token-level loss: one
mean over every token of the batch (``loss_agg: token-mean``, eq. 12), so long responses weigh per token.
(3) Dynamic sampling (eq. 11): groups whose rewards are all equal have zero advantage and no gradient;
they are dropped and fresh prompt groups sampled until the batch is full (``keep_groups``; at most
``max_sampling_rounds`` collect rounds, then dropped groups fill the rest, counted in the log).
(4) Overlong reward shaping: truncated responses are left out of the loss (overlong filtering), and
the soft overlong punishment (eq. 13) adds 0 .. -1 over the last ``overlong_buffer`` tokens of the budget.
No KL term (beta 0). Shapes: scores [B] (G rows per prompt, group-major), token tensors [B, R].
The dynamic-sampling filter reads the score the advantages use (penalty included), since a group of
equal scores is exactly the one with zero advantage. The logged ``reward_mean`` is over the trained
batch (kept groups, penalty included); ``sampling_rounds``, ``groups_kept_fraction`` and
``groups_filled`` count the refill.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import FeedbackInput, Scores, register, soft_overlong_penalty, varying_groups
from prefzoo.algos.grpo import GRPO


@register("dapo")
class DAPO(GRPO):
    summary = "GRPO with clip-higher, token-level loss, dynamic sampling and overlong shaping; no KL"
    paper = "Yu et al. 2025, arXiv 2503.14476"

    @dataclass
    class Config(GRPO.Config):
        samples_per_prompt: int = 16      # G (the paper: 16)
        beta: float = 0.0                 # no KL term (sec. 2.3: the policy is meant to move far)
        epsilon_low: float | None = 0.2   # clip-higher (sec. 3.1): [1 - 0.2, 1 + 0.28]
        epsilon_high: float | None = 0.28
        loss_agg: str = "token-mean"      # token-level policy gradient loss (sec. 3.3)
        dynamic_sampling: bool = True     # drop groups of equal rewards and refill (sec. 3.2)
        max_sampling_rounds: int = 10     # cap on collect rounds per step (verl's DAPO max_num_gen_batches)
        overlong_filter: bool = True      # truncated responses leave the loss (sec. 3.4)
        overlong_buffer: int | None = None  # L_cache of the soft punishment; None: a fifth of max_new_tokens
                                          # (the paper: 4096 of 20480); 0: no soft punishment
        overlong_penalty: float = 1.0     # its weight (the paper: 1)

        def __post_init__(self):
            super().__post_init__()
            if self.max_sampling_rounds < 1:
                raise ValueError("max_sampling_rounds must be >= 1")
            if self.overlong_buffer is not None and not 0 <= self.overlong_buffer <= self.max_new_tokens:
                raise ValueError("overlong_buffer must be in 0..max_new_tokens")

    @property
    def max_sampling_rounds(self) -> int:
        return self.config.max_sampling_rounds if self.config.dynamic_sampling else 1

    def feedback(self, inp: FeedbackInput) -> Scores:
        """The reward plus the soft overlong punishment; truncated rows marked out of the loss."""
        cfg, ro = self.config, inp.rollout
        scores = inp.score(ro)
        buffer = cfg.max_new_tokens // 5 if cfg.overlong_buffer is None else cfg.overlong_buffer
        if buffer > 0:
            scores = scores + soft_overlong_penalty(ro.lengths, cfg.max_new_tokens, buffer,
                                                    cfg.overlong_penalty).to(scores)
        train_rows = ro.eos.to(scores.device) if cfg.overlong_filter else None
        return Scores(scores, train_rows=train_rows)

    def keep_groups(self, fb: Scores, group_size: int) -> torch.Tensor | None:
        return varying_groups(fb.scores, group_size) if self.config.dynamic_sampling else None
