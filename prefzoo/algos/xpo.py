"""XPO: Xie et al. 2024, "Exploratory Preference Optimization: Harnessing Implicit Q*-Approximation for
Sample-Efficient RLHF", arXiv 2405.21046 (Algorithm 1); the form of TRL's former XPOTrainer.

Intuition: online DPO plus optimism. Each prompt gets a policy sample y and a reference sample y~;
the judge orders them and a DPO step is taken on the pair; the bonus alpha * log pi(y~) is
minimised too, pushing mass off what the reference already says, so the policy explores.
Loss per prompt:
    L = -p log sigma(beta h) - (1 - p) log sigma(-beta h)  +  alpha * sum_t log pi(y~_t)
    h = [log pi(y) - log pi_ref(y)] - [log pi(y~) - log pi_ref(y~)],  p = P(y > y~) (hard: 0/1, as TRL)
Shapes: token tensors [B, R] (the policy's samples, one per prompt); the reference samples y~ are
drawn in the feedback phase (with their reference log-probs), and their log-probs under the current
policy come from the engine's ``extra_rows`` hook: the minibatch's reference samples run in the same
forward of the prepared (DDP / FSDP / DeepSpeed-wrapped) model as the minibatch, so the gradient is
synchronised like any other and any ``minibatches`` and number of processes work. Every log-prob is
of logits / temperature, like the engine's (``response_logps``). The loss is averaged per prompt over
the minibatch of every process (``OnlineBatch.row_norm``). ``beta`` is the engine's current value
(``OnlineBatch.beta``: the config's, or the adaptive controller's with ``target_kl``); ``reward_mean`` /
``reward_std`` are logged as in nash-md (``monitor_reward``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import (AdvantageInput, Advantages, FeedbackInput, LossOutput, OnlineAlgorithm, OnlineBatch,
                         OnlineConfig, Scores, register, shaped_rewards, soft_sigmoid_loss)
from prefzoo.algos.nash_md import reward_monitor
from prefzoo.models.sequences import token_logps
from prefzoo.stages.mixture import sample_mixture


def xpo_loss(r_policy: torch.Tensor, r_ref_sample: torch.Tensor, logp_ref_sample: torch.Tensor,
             p: torch.Tensor, beta: float, alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-prompt loss, its DPO part, its bonus part), all [B]. ``r_policy``: log-ratio of the policy
    sample; ``r_ref_sample``: of the reference sample; ``logp_ref_sample``: sum_t log pi(y~_t)."""
    dpo = soft_sigmoid_loss(beta * (r_policy - r_ref_sample), p.to(r_policy.dtype))
    bonus = alpha * logp_ref_sample
    return dpo + bonus, dpo, bonus


@torch.no_grad()
def response_logps_of(model, ro, temperature: float) -> torch.Tensor:
    """Per-token log-probs [B, R] of a rollout's responses under ``model`` (logits / temperature), as the
    engine computes them (left-padded prompts, the rollout's position ids); no grad (the reference)."""
    P = ro.prompt_width
    logits = model(input_ids=ro.input_ids, attention_mask=ro.attention_mask, position_ids=ro.position_ids,
                   use_cache=False).logits[:, P - 1:]
    mask = torch.cat([torch.zeros_like(ro.response_mask[:, :1]), ro.response_mask], 1)
    return token_logps(logits, ro.input_ids[:, P - 1:], mask, temperature)[:, 1:]


@register("xpo")
class XPO(OnlineAlgorithm):
    summary = "online DPO on (policy sample, reference sample) pairs + alpha * log pi(reference sample)"
    paper = "Xie et al. 2024, arXiv 2405.21046"

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 1       # the policy's sample; the reference's is drawn in the feedback phase
        beta: float = 0.1                 # DPO's beta (TRL's default); the start value with target_kl
        alpha: float = 1e-5               # exploration bonus weight (TRL's XPOConfig default)
        hard_labels: bool = True          # the judge's pick (TRL); False: its probability as a soft target
        monitor_reward: bool = True       # log the reward's pointwise scores of the samples, where it has them

        def __post_init__(self):
            super().__post_init__()
            if self.samples_per_prompt != 1:
                raise ValueError("xpo samples one policy response per prompt (its pair is the reference's sample)")
            if self.alpha < 0:
                raise ValueError(f"alpha must be >= 0, got {self.alpha}")

    def run(self, job):
        self._job, self._calls = job, 0
        return super().run(job)

    def feedback(self, inp: FeedbackInput) -> Scores:
        """A reference sample y~ per prompt, its reference log-probs, and P(y > y~) from the feedback."""
        ro, policy, cfg = inp.rollout, self._job.policy, self.config
        self._calls += 1
        with policy.reference_model() as ref:
            self._ref_ro = sample_mixture(policy, policy.model, ref, ro.prompts, ro.prompt_ids, alpha=1.0,
                                          max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                          seed=self._job.seed * 7919 + self._calls)
            self._ref_ref_logps = response_logps_of(ref, self._ref_ro, cfg.temperature) * self._ref_ro.response_mask
        dev = ro.response_mask.device
        p = inp.reward.checked_prefer(ro.prompts, ro.texts, self._ref_ro.texts).to(dev)
        self._monitor = reward_monitor(inp.reward, ro.prompts, ro.texts, dev) if cfg.monitor_reward else {}
        return Scores(inp.penalised(torch.zeros(len(ro), device=dev), ro.eos), labels=p)

    def rewards(self, scores, kl_tok, lengths, beta):
        return shaped_rewards(scores, kl_tok, lengths, None)  # the KL lives inside the DPO loss

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return Advantages(torch.zeros_like(inp.mask))

    def extra_rows(self, rows: list[int]):
        """The reference samples of the minibatch's prompts (one per prompt: row i of the rollout)."""
        return self._ref_ro.select(rows)

    def loss(self, b: OnlineBatch) -> LossOutput:
        cfg, rows = self.config, b.rows
        r_y = ((b.logps - b.ref_logps) * b.mask).sum(-1)
        ref_mask = self._ref_ro.response_mask[rows]
        logp_ref_sample = (b.extra_logps * ref_mask).sum(-1)
        r_ref_sample = logp_ref_sample - self._ref_ref_logps[rows].sum(-1)
        p = (b.labels >= 0.5).float() if cfg.hard_labels else b.labels
        per, dpo, bonus = xpo_loss(r_y, r_ref_sample, logp_ref_sample, p, b.beta, cfg.alpha)
        return LossOutput(per.sum() / b.row_norm, per.detach(),
                          {"dpo_loss": dpo.detach().mean(), "xpo_bonus": bonus.detach().mean(),
                           "win_prob": b.labels.float().mean(), **self._monitor})
