"""PPO for RLHF: Ouyang et al. 2022 (arXiv 2203.02155), Stiennon et al. 2020 (arXiv 2009.01325),
following the checklist of Huang et al. 2024 (arXiv 2403.17031); see docs/ppo.md for where each item lives.

Intuition: maximise the reward-model score minus a per-token KL penalty to the reference, with a
learned value baseline and small, clipped policy steps.
Per-token reward r_t = -beta (log pi(y_t) - log pi_ref(y_t)), plus the score at the last token;
A = GAE(r, V; gamma=1, lambda=0.95), whitened over the batch; loss = clipped surrogate
(eps=0.2) + vf_coef * clipped value loss. Shapes: token tensors [B, R] over the response block.
"""
from __future__ import annotations

from dataclasses import dataclass

from prefzoo.api import AdvantageInput, Advantages, OnlineAlgorithm, OnlineConfig, gae, register, whiten


@register("ppo")
class PPO(OnlineAlgorithm):
    summary = "RLHF with a critic: per-token KL reward, GAE, clipped policy and value losses"
    paper = "Ouyang et al. 2022, arXiv 2203.02155; Huang et al. 2024, arXiv 2403.17031"
    uses_critic = True                    # the engine builds a value model; loss() adds the value loss

    @dataclass
    class Config(OnlineConfig):
        epochs: int = 4                   # PPO epochs over each rollout batch (Ouyang et al.: 4)
        minibatches: int = 4              # minibatches per epoch
        no_eos_penalty: float | None = -1.0  # score of a response cut before EOS (Huang et al. 2024)
        gamma: float = 1.0                # discount; 1: the score at the end reaches every token
        lam: float = 0.95                 # GAE lambda
        vf_coef: float = 0.1              # weight of the value loss in the joint loss
        value_clip_eps: float = 0.2       # clip range of value updates around the rollout values
        whiten_advantages: bool = True    # zero-mean unit-variance advantages over the batch

    def advantages(self, inp: AdvantageInput) -> Advantages:
        out = gae(inp.token_rewards, inp.values, inp.mask, self.config.gamma, self.config.lam)
        if self.config.whiten_advantages:
            out.advantages = whiten(out.advantages, inp.mask, reduce_sum=inp.reduce_sum)
        return out
