"""Iterative SPPO: Wu et al. 2024, "Self-Play Preference Optimization for Language Model Alignment",
arXiv 2405.00675 (Algorithm 1).

Intuition: a two-player constant-sum game under a general preference model; multiplicative weights
say pi_{t+1}(y|x) ~ pi_t(y|x) exp(eta P(y > pi_t | x)), and the square loss below regresses the
policy's log-ratio onto that target, so responses that beat the current policy gain, losers lose.
Each round t: K samples per prompt from pi_t (stages.selection.sample_k); win rates
P(y_k > pi_t | x) = (1/K) sum_j P(y_k > y_j | x) from the feedback's ``prefer`` (stages.selection.win_rates);
then minimise, over every sample (eq. 4.6 / Algorithm 1, reference pi_t):
    L = ( log pi(y|x) - log pi_t(y|x) - eta (P(y > pi_t | x) - 1/2) )^2
Shapes: per-example inputs [B]. (TRL's ``sppo_hard`` is the pair form with P = 1 and 0; prefzoo has it
as its own loss.) Data layout: each sample is the ``chosen`` of a pair record with
p_chosen = its win rate; the ``rejected`` slot holds a sibling sample the loss ignores (the offline
loop has no record kind for single completions with a soft target; it costs one extra forward).
Saved beside each round: round-t/sppo_samples.jsonl.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from prefzoo.api import PAIRS, Algorithm, LossOutput, Objective, PairLogps, logratio
from prefzoo.data.loaders import records_from_list
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.registry import register
from prefzoo.stages.learn import is_main, stage_job, stage_train
from prefzoo.stages.rounds import fresh_reference, round_feedback, round_name, run_rounds
from prefzoo.stages.sampling import prompt_rows, save_jsonl
from prefzoo.stages.selection import sample_k, win_rates


def sppo_square_loss(log_ratio: torch.Tensor, p_win: torch.Tensor, eta: float) -> torch.Tensor:
    """(log pi/pi_t - eta (P - 1/2))^2 per example, [B]."""
    return (log_ratio - eta * (p_win - 0.5)) ** 2


@dataclass
class SPPOLossConfig:
    eta: float = 1000.0


class SPPOSquare(Objective):
    """The SPPO square loss over each pair record's ``chosen`` (see the module docstring)."""

    name = "sppo-square"
    family = "iterative"
    summary = "SPPO's square loss on a completion's log-ratio and its win rate"
    paper = "Wu et al. 2024, arXiv 2405.00675"
    Config = SPPOLossConfig

    def loss(self, policy: PairLogps, reference: PairLogps) -> LossOutput:
        r_w, _ = logratio(policy, reference)
        p = policy.p_chosen if policy.p_chosen is not None else torch.ones_like(r_w)
        per = sppo_square_loss(r_w, p, self.config.eta)
        return LossOutput(per.mean(), per.detach(), {"log_ratio": r_w.detach().mean(), "win_rate": p.mean()})


@dataclass
class SPPOConfig:
    rounds: int = 3                   # iterations (the paper: 3)
    samples_per_prompt: int = 5       # K (the paper: 5)
    eta: float = 1000.0               # the paper's eta (beta = 1/eta = 1e-3 in the official code); tiny models: ~1-10
    reward: str = "judge"             # the preference model (prefzoo.feedback.spec; the paper: PairRM)
    reward_model: dict = field(default_factory=dict)
    n_prompts: int | None = None      # prompts per round (a fresh seeded subset each round); None: all
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 32
    train: dict = field(default_factory=dict)  # overrides of the recipe's train section for each round

    def __post_init__(self):
        if self.rounds < 1 or self.samples_per_prompt < 2:
            raise ValueError("need rounds >= 1 and samples_per_prompt >= 2")
        if self.eta <= 0:
            raise ValueError(f"eta must be > 0, got {self.eta}")


def sppo_records(rows: list[dict], groups: list[list[str]], rates: list[list[float]]) -> list[dict]:
    """One record per non-empty sample: chosen = the sample, p_chosen = its win rate, rejected = the next
    distinct sibling (ignored by the loss). Prompts whose samples are all the same are skipped."""
    out = []
    for row, grp, rate in zip(rows, groups, rates):
        for k, (text, p) in enumerate(zip(grp, rate)):
            sibling = next((grp[(k + j) % len(grp)] for j in range(1, len(grp))
                            if grp[(k + j) % len(grp)].strip() != text.strip()), None)
            if text.strip() and sibling is not None:
                out.append({"prompt": row["prompt"], "chosen": text, "rejected": sibling, "p_chosen": float(p)})
    return out


@register("sppo")
class SPPO(Algorithm):
    family = "iterative"
    data_kind = "prompts"
    needs_reference = False
    summary = "rounds of K samples, win rates from a preference model, SPPO's square loss vs pi_t"
    paper = "Wu et al. 2024, arXiv 2405.00675"
    Config = SPPOConfig

    def run(self, job: Job) -> TrainResult:
        cfg = self.config
        feedback = round_feedback(job, cfg.reward, cfg.reward_model)

        def one_round(job: Job, r: int):
            rows = prompt_rows(job, cfg.n_prompts, job.seed + r)
            prompts = [x["prompt"] for x in rows]
            groups = sample_k(job.policy, prompts, cfg.samples_per_prompt, temperature=cfg.temperature,
                              top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, seed=job.seed * 1009 + r)
            rates = win_rates(feedback, prompts, groups)
            records = sppo_records(rows, groups, rates)
            if is_main(job):
                save_jsonl([{"prompt": p, "samples": g, "win_rates": w} for p, g, w in zip(prompts, groups, rates)],
                           job.out_dir / round_name(r) / "sppo_samples.jsonl")
            if not records:
                raise JobError(f"round {r}: every prompt's samples were identical or empty; nothing to learn")
            ds, report = records_from_list(records, PAIRS)
            fresh_reference(job)  # the square loss's reference is pi_t
            sub = stage_job(job, round_name(r), data={PAIRS: ds}, train=stage_train(job.train, cfg.train, "params.train"))
            result = SPPOSquare(SPPOLossConfig(cfg.eta)).run(sub)
            return result, {"records": len(records), "data": report.as_dict(),
                            "mean_win_rate_spread": sum(max(w) - min(w) for w in rates) / len(rates)}

        return run_rounds(job, cfg.rounds, one_round)
