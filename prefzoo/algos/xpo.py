"""XPO: Xie et al. 2024, "Exploratory Preference Optimization: Harnessing Implicit Q*-Approximation for
Sample-Efficient RLHF", arXiv 2405.21046 (Algorithm 1); the form of TRL's former XPOTrainer.

Intuition: online DPO plus optimism. Each prompt gets a policy sample y and a reference sample y~;
the judge orders them and a DPO step is taken on the pair; the bonus alpha * log pi(y~) is
minimised too, pushing mass off what the reference already says, so the policy explores.
Loss per prompt:
    L = -p log sigma(beta h) - (1 - p) log sigma(-beta h)  +  alpha * sum_t log pi(y~_t)
    h = [log pi(y) - log pi_ref(y)] - [log pi(y~) - log pi_ref(y~)],  p = P(y > y~) (hard: 0/1, as TRL)
Shapes: token tensors [B, R] (the policy's samples, one per prompt); the reference samples are
drawn in the feedback phase and their log-probs under the current policy computed in ``loss`` (one
extra forward), which is why each update must see the whole rollout batch (minibatches = 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import (AdvantageInput, Advantages, FeedbackInput, LossOutput, OnlineAlgorithm, OnlineBatch,
                         OnlineConfig, Scores, register, shaped_rewards, soft_sigmoid_loss)
from prefzoo.stages.mixture import completion_logps, sample_mixture


def xpo_loss(r_policy: torch.Tensor, r_ref_sample: torch.Tensor, logp_ref_sample: torch.Tensor,
             p: torch.Tensor, beta: float, alpha: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-prompt loss, its DPO part, its bonus part), all [B]. ``r_policy``: log-ratio of the policy
    sample; ``r_ref_sample``: of the reference sample; ``logp_ref_sample``: sum_t log pi(y~_t)."""
    dpo = soft_sigmoid_loss(beta * (r_policy - r_ref_sample), p.to(r_policy.dtype))
    bonus = alpha * logp_ref_sample
    return dpo + bonus, dpo, bonus


@register("xpo")
class XPO(OnlineAlgorithm):
    summary = "online DPO on (policy sample, reference sample) pairs + alpha * log pi(reference sample)"
    paper = "Xie et al. 2024, arXiv 2405.21046"

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 1       # the policy's sample; the reference's is drawn in the feedback phase
        beta: float = 0.1                 # DPO's beta (TRL's default)
        alpha: float = 1e-5               # exploration bonus weight (TRL's XPOConfig default)
        hard_labels: bool = True          # the judge's pick (TRL); False: its probability as a soft target

        def __post_init__(self):
            super().__post_init__()
            if self.samples_per_prompt != 1:
                raise ValueError("xpo samples one policy response per prompt (its pair is the reference's sample)")
            if self.minibatches != 1:
                raise ValueError("xpo needs minibatches: 1 (the loss reads every prompt's reference sample)")
            if self.alpha < 0:
                raise ValueError(f"alpha must be >= 0, got {self.alpha}")

    def run(self, job):
        self._job, self._calls = job, 0
        return super().run(job)

    def feedback(self, inp: FeedbackInput) -> Scores:
        """A reference sample y~ per prompt, its reference log-probs, and P(y > y~) from the feedback."""
        ro, policy = inp.rollout, self._job.policy
        self._calls += 1
        with policy.reference_model() as ref:
            self._ref_ro = sample_mixture(policy, policy.model, ref, ro.prompts, ro.prompt_ids, alpha=1.0,
                                          max_new_tokens=self.config.max_new_tokens,
                                          temperature=self.config.temperature, seed=self._job.seed * 7919 + self._calls)
            with torch.no_grad():
                self._ref_ref_logps = completion_logps(policy, ref, self._ref_ro)
        dev = ro.response_mask.device
        p = inp.reward.checked_prefer(ro.prompts, ro.texts, self._ref_ro.texts).to(dev)
        return Scores(inp.penalised(torch.zeros(len(ro), device=dev), ro.eos), labels=p)

    def rewards(self, scores, kl_tok, lengths, beta):
        return shaped_rewards(scores, kl_tok, lengths, None)  # the KL lives inside the DPO loss

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return Advantages(torch.zeros_like(inp.mask))

    def loss(self, b: OnlineBatch) -> LossOutput:
        if b.logps.shape[0] != len(self._ref_ro):  # guarded by minibatches = 1; a process with no rows of
            raise RuntimeError("xpo: the minibatch is not the whole rollout batch")  # its own never occurs then
        cfg = self.config
        r_y = ((b.logps - b.ref_logps) * b.mask).sum(-1)
        logp_ref_sample = completion_logps(self._job.policy, self._job.policy.model, self._ref_ro)
        r_ref_sample = logp_ref_sample - self._ref_ref_logps
        p = (b.labels >= 0.5).float() if cfg.hard_labels else b.labels
        per, dpo, bonus = xpo_loss(r_y, r_ref_sample, logp_ref_sample, p, cfg.beta, cfg.alpha)
        return LossOutput(per.mean(), per.detach(), {"dpo_loss": dpo.detach().mean(), "xpo_bonus": bonus.detach().mean(),
                                                     "win_prob": b.labels.float().mean()})
