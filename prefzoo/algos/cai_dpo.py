"""CAI-DPO: the simple open recipe built on Constitutional AI (Bai et al. 2022, arXiv 2212.08073)
and DPO (Rafailov et al. 2023, arXiv 2305.18290).

Intuition: a revision made under a principle is better than the response it revises, so
(chosen = revision, rejected = original) is a preference pair with no judge at all.
Stages: critique and revise each red-team prompt's response (stages.critique, ``rounds`` rounds)
-> pairs (revision, original), unchanged or empty ones dropped -> ``learner`` (stages.learn): by
default the registered ``dpo`` objective; any objective over pairs, or an online algorithm against a
reward model trained on these pairs (``reward: reward-model``).
Saved beside the output: critiques.jsonl, revisions.jsonl, ai_pairs.jsonl.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from prefzoo.api import Algorithm
from prefzoo.constitutions import load_constitution, resolve_constitution
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.registry import register
from prefzoo.stages.critique import critique_and_revise, critique_records, split_red_team
from prefzoo.stages.learn import LearnerSpec, is_main, learn
from prefzoo.stages.sampling import labeler_alignment, prompt_rows, save_jsonl


@dataclass
class CAIDPOConfig:
    constitution: str | None = None   # YAML file; None: the world's constitution, else prefzoo's default.yaml
    n_prompts: int | None = None      # prompts used; None: all
    red_team_categories: list[str] = field(default_factory=lambda: ["harmful"])  # unknown categories: all
    rounds: int = 1                   # one critique and one revision is the open recipe
    temperature: float = 1.0
    max_new_tokens: int = 32
    critique_max_new_tokens: int | None = None
    learner: LearnerSpec = field(default_factory=LearnerSpec)  # default dpo; see stages.learn

    def __post_init__(self):
        if self.rounds < 1:
            raise ValueError("rounds must be >= 1")
        if self.constitution is not None:
            load_constitution(self.constitution)
        if self.learner.reward == "judge":
            raise ValueError("cai-dpo has no judge; an online learner needs reward: reward-model")


@register("cai-dpo")
class CAIDPO(Algorithm):
    family = "composite"
    data_kind = "prompts"
    needs_reference = False
    summary = "critique+revise under sampled principles; DPO with chosen = revision, rejected = original"
    paper = "Bai et al. 2022 (arXiv 2212.08073) + Rafailov et al. 2023 (arXiv 2305.18290)"
    Config = CAIDPOConfig

    def vocabulary(self) -> list[str]:
        return load_constitution(self.config.constitution).words()

    def run(self, job: Job) -> TrainResult:
        cfg = self.config
        constitution = resolve_constitution(cfg.constitution, job.world)
        red, _, known = split_red_team(prompt_rows(job, cfg.n_prompts, job.seed), cfg.red_team_categories)
        if not red:
            raise JobError(f"no red-team prompts (categories {cfg.red_team_categories})")
        crit, cstats = critique_and_revise(job.policy, red, constitution, rounds=cfg.rounds,
                                           rng=random.Random(job.seed), temperature=cfg.temperature,
                                           max_new_tokens=cfg.max_new_tokens,
                                           critique_max_new_tokens=cfg.critique_max_new_tokens, seed=job.seed)
        pairs = [{"prompt": c["prompt"], "chosen": c["revision"], "rejected": c["response"], "p_chosen": 1.0,
                  **{k: c[k] for k in ("category", "id") if k in c}}
                 for c in crit if c["revision"].strip() and c["response"].strip()
                 and c["revision"].strip() != c["response"].strip()]
        align = labeler_alignment(job.world, pairs, job.seed)  # is the revision really better?
        info = {"critique": {**cstats, "categories_known": known, "pairs": len(pairs)},
                "labeler_alignment": align["agreement"] if align else None, "labeler_alignment_detail": align}
        if is_main(job):
            save_jsonl(critique_records(crit), job.out_dir / "critiques.jsonl")
            save_jsonl([{"prompt": c["prompt"], "completion": c["revision"]} for c in crit],
                       job.out_dir / "revisions.jsonl")
            save_jsonl(pairs, job.out_dir / "ai_pairs.jsonl")
        if not pairs:
            raise JobError(f"no revision differs from its original ({cstats}); nothing to learn from")
        result, learn_info = learn(job, cfg.learner, pairs)
        info.update(learn_info)
        info["learner"] = result.info
        return TrainResult(job.policy, result.history, info, artifacts=result.artifacts)
