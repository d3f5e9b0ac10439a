"""Nash-MD: Munos et al. 2023, "Nash Learning from Human Feedback", arXiv 2312.00886 (sec. 6-7); the
practical form of TRL's former NashMDTrainer.

Intuition: instead of maximising a reward, play against a regularised copy of yourself: sample y from
the policy and y' from the geometric mixture pi_mix ~ pi^(1-alpha) pi_ref^alpha (token-level,
``stages.mixture``), let the judge say P(y > y'), and push up log pi(y) in proportion to how much y
beat the mixture, with a KL penalty to the reference. Converges to the Nash equilibrium of the
regularised preference game, with no Bradley-Terry assumption.
Loss per prompt (TRL's ``_compute_losses``; the REINFORCE form of the Nash-MD update):
    L = beta * sum_t sg(log pi(y_t) - log pi_ref(y_t)) * log pi(y_t)  -  (P(y > y') - 1/2) * sum_t log pi(y_t)
(1/2 a control variate; the first term's gradient is that of KL(pi || pi_ref) by REINFORCE).
Shapes: token tensors [B, R], one policy sample per prompt (samples_per_prompt = 1); labels [B].
Feedback: ``prefer`` of the reward spec (a scoring reward gives sigma(r(y) - r(y')), as TRL did).
``beta`` is the engine's current value (``OnlineBatch.beta``): the config's, or with ``target_kl`` the
adaptive controller's. Where the reward also scores pointwise (``monitor_reward``), the policy samples'
scores are logged as ``reward_mean`` / ``reward_std`` (a monitor: the loss sees only the preferences;
with several processes, the mean of each process's value).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prefzoo.api import (AdvantageInput, Advantages, FeedbackInput, LossOutput, OnlineAlgorithm, OnlineBatch,
                         OnlineConfig, Scores, register, shaped_rewards)
from prefzoo.stages.mixture import sample_mixture


def nash_md_loss(logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor, p_win: torch.Tensor,
                 beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-prompt loss [B], per-prompt k1 KL [B]) of the module docstring; token tensors [B, R]."""
    lp = logps * mask
    log_ratio = ((logps - ref_logps) * mask).detach()
    score = (p_win.to(lp.dtype) - 0.5) * lp.sum(-1)
    return beta * (log_ratio * lp).sum(-1) - score, log_ratio.sum(-1)


def reward_monitor(reward, prompts: list, texts: list[str], device) -> dict:
    """{reward_mean, reward_std} of the reward's pointwise scores of ``texts``, or {} where the reward
    gives preferences only."""
    try:
        scores = reward.checked_score(prompts, texts).to(device)
    except NotImplementedError:
        return {}
    return {"reward_mean": scores.mean(), "reward_std": scores.std(correction=0)}


@register("nash-md")
class NashMD(OnlineAlgorithm):
    summary = "policy vs a geometric mixture of policy and reference, judged pairwise; REINFORCE + KL"
    paper = "Munos et al. 2023, arXiv 2312.00886"

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 1       # the policy's sample; the mixture's is drawn in the feedback phase
        beta: float = 0.1                 # KL strength (TRL's default); the start value with target_kl
        mixture_coef: float = 0.5         # alpha: weight of the reference in the mixture (TRL's default)
        monitor_reward: bool = True       # log the reward's pointwise scores of the samples, where it has them

        def __post_init__(self):
            super().__post_init__()
            if self.samples_per_prompt != 1:
                raise ValueError("nash-md samples one policy response per prompt (the opponent is the mixture)")
            if not 0.0 <= self.mixture_coef <= 1.0:
                raise ValueError(f"mixture_coef must be in [0, 1], got {self.mixture_coef}")

    def run(self, job):
        self._job, self._calls = job, 0  # the feedback phase samples the mixture from the job's models
        return super().run(job)

    def feedback(self, inp: FeedbackInput) -> Scores:
        """P(y > y') for the policy's sample y and a mixture sample y' of each prompt."""
        ro, policy = inp.rollout, self._job.policy
        self._calls += 1
        with policy.reference_model() as ref:
            mix = sample_mixture(policy, policy.model, ref, ro.prompts, ro.prompt_ids,
                                 alpha=self.config.mixture_coef, max_new_tokens=self.config.max_new_tokens,
                                 temperature=self.config.temperature, seed=self._job.seed * 7919 + self._calls)
        dev = ro.response_mask.device
        p = inp.reward.checked_prefer(ro.prompts, ro.texts, mix.texts).to(dev)
        self._monitor = reward_monitor(inp.reward, ro.prompts, ro.texts, dev) if self.config.monitor_reward else {}
        zeros = torch.zeros(len(ro), device=dev)
        return Scores(inp.penalised(zeros, ro.eos), labels=p)

    def rewards(self, scores, kl_tok, lengths, beta):
        return shaped_rewards(scores, kl_tok, lengths, None)  # the KL lives inside the loss

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return Advantages(torch.zeros_like(inp.mask))  # the loss is Nash-MD's own

    def loss(self, b: OnlineBatch) -> LossOutput:
        per, kl = nash_md_loss(b.logps, b.ref_logps, b.mask, b.labels, b.beta)
        # a mean per prompt over the minibatch of every process (DDP averages over processes)
        return LossOutput(per.sum() / b.row_norm, per.detach(),
                          {"win_prob": b.labels.float().mean(), "kl_loss": kl.mean(), **self._monitor})
