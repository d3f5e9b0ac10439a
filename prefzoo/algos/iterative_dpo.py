"""Iterative DPO: rounds of sample, label, DPO (Xu et al. 2023, "Some things are more CRINGE than
others", arXiv 2312.16682; Xiong et al. 2024, arXiv 2312.11456; Dong et al. 2024, "RLHF Workflow",
arXiv 2405.07863).

Intuition: offline DPO goes stale as the policy moves away from the data; re-sample pairs from the
current policy every round and let a judge or reward model label them, so every round is on-policy.
Each round t: two samples per prompt from pi_t (stages.sampling.sample_pairs) -> labels from the
``reward`` feedback spec (stages.sampling.label_pairs: chosen = the preferred one) -> ``learner``
(default dpo, beta 0.1; reference pi_t) -> pi_{t+1}.
Loss (DPO, eq. 7 of Rafailov et al. 2023): -log sigma(beta h) on each round's pairs.
Saved beside each round: round-t/ai_pairs.jsonl.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prefzoo.api import Algorithm
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.registry import register
from prefzoo.stages.learn import LearnerSpec, is_main, learn
from prefzoo.stages.rounds import round_feedback, round_name, run_rounds
from prefzoo.stages.sampling import label_pairs, labeler_alignment, prompt_rows, sample_pairs, save_jsonl


@dataclass
class IterativeDPOConfig:
    rounds: int = 3                   # sample-label-train iterations (RLHF Workflow: 3)
    reward: str = "judge"             # who labels (prefzoo.feedback.spec): judge | world | rule:F.py:FN |
                                      # reward-model[:PATH] | local[:MODEL] | http:URL
    reward_model: dict = field(default_factory=dict)  # RewardModelConfig params for reward-model without a path
    learner: LearnerSpec = field(default_factory=lambda: LearnerSpec("dpo", {"beta": 0.1}))
    n_prompts: int | None = None      # prompts per round (a fresh seeded subset each round); None: all
    temperature: float = 1.0          # sampling the two responses
    top_p: float = 1.0
    max_new_tokens: int = 32

    def __post_init__(self):
        if self.rounds < 1:
            raise ValueError("rounds must be >= 1")
        if self.learner.online:
            raise ValueError("iterative-dpo's learner must be a pairwise objective (dpo, ipo, ...)")


@register("iterative-dpo")
class IterativeDPO(Algorithm):
    family = "iterative"
    data_kind = "prompts"
    needs_reference = False
    summary = "rounds of: sample pairs from the current policy, label them with a judge/RM, DPO"
    paper = "Xiong et al. 2024, arXiv 2312.11456; Dong et al. 2024, arXiv 2405.07863"
    Config = IterativeDPOConfig

    def run(self, job: Job) -> TrainResult:
        cfg = self.config
        feedback = round_feedback(job, cfg.reward, cfg.reward_model)

        def one_round(job: Job, r: int):
            rows = prompt_rows(job, cfg.n_prompts, job.seed + r)
            pairs = sample_pairs(job.policy, rows, temperature=cfg.temperature, top_p=cfg.top_p,
                                 max_new_tokens=cfg.max_new_tokens, seed=job.seed * 1009 + r)
            records, stats = label_pairs(feedback, pairs)
            if not records:
                raise JobError(f"round {r}: no usable labelled pairs ({stats}); raise max_new_tokens or temperature")
            if is_main(job):
                save_jsonl(records, job.out_dir / round_name(r) / "ai_pairs.jsonl")
            align = labeler_alignment(job.world, records, job.seed)
            result, info = learn(job, cfg.learner, records, stage=round_name(r))
            return result, {**info, "labels": stats, "labeler_alignment": align["agreement"] if align else None}

        return run_rounds(job, cfg.rounds, one_round)
