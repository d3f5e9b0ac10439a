"""SPIN: Chen et al. 2024, "Self-Play Fine-Tuning Converts Weak Language Models to Strong Language
Models", arXiv 2401.01335.

Intuition: the model plays against its previous self: a demonstration from the SFT data should be
preferred to what the current model says for the same prompt. Each round t: for every SFT record
(x, y), sample y' ~ pi_t(.|x); train on pairs (chosen = y, rejected = y') with the reference pi_t
(eq. 4.7: l(lambda log pi(y|x)/pi_t(y|x) - lambda log pi(y'|x)/pi_t(y'|x)) with the logistic loss l,
i.e. DPO with beta = lambda); pi_{t+1} is the result. Stops being informative when pi_t matches the
data (the paper: 3-4 rounds).
Stages: rows of the SFT data -> sample (stages.selection) -> pairs, identical/empty ones dropped ->
``learner`` (stages.learn; default dpo, beta 0.1, any pairwise objective) -> next round
(stages.rounds). Saved beside each round: round-t/spin_pairs.jsonl.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from prefzoo.api import SFT, Algorithm
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.registry import register
from prefzoo.stages.learn import LearnerSpec, is_main, learn
from prefzoo.stages.rounds import round_name, run_rounds
from prefzoo.stages.sampling import save_jsonl
from prefzoo.stages.selection import sample_k


@dataclass
class SPINConfig:
    rounds: int = 2                   # self-play iterations (the paper: 3, a 4th adds little)
    learner: LearnerSpec = field(default_factory=lambda: LearnerSpec("dpo", {"beta": 0.1}))  # lambda = beta
    n_prompts: int | None = None      # SFT records per round; None: all
    temperature: float = 1.0          # the opponent's samples (the paper samples at T = 1)
    max_new_tokens: int = 32

    def __post_init__(self):
        if self.rounds < 1:
            raise ValueError("rounds must be >= 1")
        if self.learner.online:
            raise ValueError("spin's learner must be a pairwise objective (dpo, ipo, ...)")


@register("spin")
class SPIN(Algorithm):
    family = "iterative"
    data_kind = SFT
    needs_reference = False
    summary = "rounds of DPO with chosen = the SFT completion, rejected = the current model's sample"
    paper = "Chen et al. 2024, arXiv 2401.01335"
    Config = SPINConfig

    def run(self, job: Job) -> TrainResult:
        cfg = self.config
        rows = job.records(SFT).to_list()
        if cfg.n_prompts is not None and cfg.n_prompts < len(rows):
            rows = [rows[i] for i in sorted(random.Random(job.seed).sample(range(len(rows)), cfg.n_prompts))]

        def one_round(job: Job, r: int):
            samples = sample_k(job.policy, [x["prompt"] for x in rows], 1, temperature=cfg.temperature,
                               max_new_tokens=cfg.max_new_tokens, seed=job.seed + r)
            pairs = [{"prompt": x["prompt"], "chosen": x["completion"], "rejected": s[0], "p_chosen": 1.0}
                     for x, s in zip(rows, samples)
                     if s[0].strip() and s[0].strip() != str(x["completion"]).strip()]
            if is_main(job):
                save_jsonl(pairs, job.out_dir / round_name(r) / "spin_pairs.jsonl")
            if not pairs:
                raise JobError(f"round {r}: every sample equals its demonstration (or is empty); nothing to learn")
            result, info = learn(job, cfg.learner, pairs, stage=round_name(r))  # reference: pi_t
            return result, {**info, "pairs": len(pairs), "dropped": len(rows) - len(pairs)}

        return run_rounds(job, cfg.rounds, one_round)
