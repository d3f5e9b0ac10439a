"""Best-of-n: sample n replies and keep the one the reward ranks first, at generation time (Nakano et
al. 2021, arXiv 2112.09332; Stiennon et al. 2020, arXiv 2009.01325, appendix G.3; the scaling-law
arm of Gao et al. 2022, arXiv 2210.10760).

Intuition: no training at all; spend inference compute instead, and pay for it in KL:
    KL(pi_bon || pi) <= log n - (n - 1)/n   (equality for a continuous reward; Beirami et al. 2024)
``run`` trains nothing: it returns the policy wrapped in ``BestOfNPolicy``, whose ``generate`` and
``generate_ids`` draw n samples per prompt and return the best under the ``reward`` feedback spec,
so every evaluator and metric samples best-of-n with no change. It reports in the result info the
analytic bound (``kl_bound``) and a Monte-Carlo estimate (``kl_mc``: ``stages.selection.bon_kl_estimate``
over ``kl_samples`` samples per prompt on ``kl_prompts`` training prompts, averaged), which is smaller
when rewards tie. The log-probs the wrapper reports are the wrapped policy's, so log pi - log pi_base
alone (the evaluator's ``kl_to_base``) misses KL(pi_bon || pi) and would read 0 for best-of-n of the
base; the wrapper therefore has the ``sampling_kl`` capability, which that metric adds per sample:
    KL(pi_bon || pi_base) = KL(pi_bon || pi) + E_{y ~ pi_bon}[log pi(y) - log pi_base(y)]
with KL(pi_bon || pi) the Monte-Carlo estimate ``kl_mc`` when it was computed, else the bound
(``kl_source`` in the result info says which).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prefzoo.api import Algorithm
from prefzoo.job import Job, TrainResult
from prefzoo.registry import register
from prefzoo.stages.rounds import round_feedback
from prefzoo.stages.sampling import prompt_rows
from prefzoo.stages.selection import best_index, bon_kl_bound, bon_kl_estimate, sample_k, score_groups


class BestOfNPolicy:
    """A ``Policy`` whose sampling is best-of-n under ``feedback``; everything else is the wrapped
    policy's (log-probs, tokenizer, saving). ``kl``: KL(pi_bon || pi) per prompt (default: the bound
    log n - (n-1)/n), reported per sample by ``sampling_kl``."""

    def __init__(self, policy, feedback, n: int, kl: float | None = None):
        self.policy, self.feedback, self.n = policy, feedback, n
        self.kl = bon_kl_bound(n) if kl is None else float(kl)

    def sampling_kl(self, prompt_ids: list[list[int]], completion_ids: list[list[int]]) -> list[float]:
        """KL(this policy's sampling || the distribution of the log-probs it reports), per sample: the
        capability the ``kl_to_base`` metric adds to log pi - log pi_base. Best-of-n's is per prompt and
        the same for every prompt here (one estimate over the training prompts, or the bound)."""
        return [self.kl] * len(completion_ids)

    def __getattr__(self, name):  # only reached for what this class does not define
        return getattr(self.__dict__["policy"], name)

    def generate_ids(self, prompts: list, *, max_new_tokens: int, temperature: float = 1.0, top_p: float = 1.0,
                     do_sample: bool = True, encoded: list[list[int]] | None = None):
        encoded = encoded if encoded is not None else [self.policy.encode_prompt(p) for p in prompts]
        n = self.n if do_sample else 1  # greedy decoding has one candidate
        comps, _ = self.policy.generate_ids([p for p in prompts for _ in range(n)], max_new_tokens=max_new_tokens,
                                            temperature=temperature, top_p=top_p, do_sample=do_sample,
                                            encoded=[e for e in encoded for _ in range(n)])
        groups = [[self.policy.decode(c) for c in comps[i * n:(i + 1) * n]] for i in range(len(prompts))]
        scores = score_groups(self.feedback, prompts, groups)
        return [comps[i * n + best_index(s)] for i, s in enumerate(scores)], encoded

    def generate(self, prompts: list, *, max_new_tokens: int = 64, temperature: float = 1.0, top_p: float = 1.0,
                 do_sample: bool = True, batch_size: int = 64) -> list[str]:
        out: list[str] = []
        for start in range(0, len(prompts), batch_size):
            ids, _ = self.generate_ids(prompts[start:start + batch_size], max_new_tokens=max_new_tokens,
                                       temperature=temperature, top_p=top_p, do_sample=do_sample)
            out.extend(self.policy.decode(c) for c in ids)
        return out


@dataclass
class BestOfNConfig:
    n: int = 4                        # candidates per prompt (Gao et al. sweep n up to 60,000; KL bound log n)
    reward: str = "judge"             # the ranker (prefzoo.feedback.spec): judge | world | rule:F.py:FN |
                                      # reward-model[:PATH] | ...; it must give pointwise scores
    reward_model: dict = field(default_factory=dict)  # RewardModelConfig params for reward-model without a path
    kl_prompts: int = 16              # prompts for the Monte-Carlo KL estimate; 0: skip it
    kl_samples: int = 64              # samples per prompt for that estimate (M)
    temperature: float = 1.0
    max_new_tokens: int = 32          # length of the estimate's samples

    def __post_init__(self):
        if self.n < 1 or self.kl_prompts < 0 or self.kl_samples < 1:
            raise ValueError("need n >= 1, kl_prompts >= 0 and kl_samples >= 1")


@register("best-of-n")
class BestOfN(Algorithm):
    family = "sampling"
    data_kind = "prompts"
    needs_reference = False
    summary = "no training: generate n samples and keep the reward's best (KL <= log n - (n-1)/n)"
    paper = "Stiennon et al. 2020, arXiv 2009.01325 (app. G.3); Gao et al. 2022, arXiv 2210.10760"
    Config = BestOfNConfig

    def run(self, job: Job) -> TrainResult:
        cfg = self.config
        feedback = round_feedback(job, cfg.reward, cfg.reward_model, role="reward")
        info = {"n": cfg.n, "kl_bound": bon_kl_bound(cfg.n), "kl_mc": None}
        if cfg.kl_prompts:
            prompts = [r["prompt"] for r in prompt_rows(job, cfg.kl_prompts, job.seed)]
            groups = sample_k(job.policy, prompts, cfg.kl_samples, temperature=cfg.temperature,
                              max_new_tokens=cfg.max_new_tokens, seed=job.seed)
            kls = [bon_kl_estimate(s, cfg.n) for s in score_groups(feedback, prompts, groups)]
            info.update(kl_mc=sum(kls) / len(kls), kl_mc_prompts=len(kls), kl_mc_samples=cfg.kl_samples)
        info["kl_source"] = "kl_bound" if info["kl_mc"] is None else "kl_mc"
        return TrainResult(BestOfNPolicy(job.policy, feedback, cfg.n, info[info["kl_source"]]), [], info)
