"""Constitutional AI: Bai et al. 2022, "Constitutional AI: Harmlessness from AI Feedback",
arXiv 2212.08073.

Intuition: a short list of principles replaces human harmlessness labels, twice over.
SL stage (sec. 3): for each red-team prompt sample a response, then ``rounds`` times critique it
under a randomly sampled principle and revise it (stages.critique); fine-tune (``sft``) on the
final revisions mixed with helpful samples (base responses to non-harmful prompts) so the model
does not grow evasive.
RL stage (sec. 4): sample two responses per prompt from the SL model; the feedback model answers a
multiple-choice comparison under a sampled comparison principle; the normalised option log-probs
are soft labels (CoT labels clamped to [0.4, 0.6]); then ``learner`` (stages.learn): an online
algorithm (ppo, rloo, grpo, ...) against a preference model trained on those labels (the paper's
RL-CAI), or an objective over pairs (dpo, ipo, ...) on the labelled pairs; ``learner: null`` stops
after SL-CAI. Human pairs in the job's data (helpfulness labels, sec. 4.1) are mixed into the
preference data when present.
Saved beside the output: critiques.jsonl, revisions.jsonl (the SL data), ai_pairs.jsonl.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from prefzoo import registry
from prefzoo.api import Algorithm
from prefzoo.constitutions import Constitution, load_constitution, resolve_constitution
from prefzoo.data.loaders import records_from_list
from prefzoo.data.records import PAIRS, SFT
from prefzoo.feedback.judge import JudgeConfig, build_judge, frozen_copy
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.recipe import TrainConfig
from prefzoo.registry import register
from prefzoo.stages.critique import critique_and_revise, critique_records, split_red_team
from prefzoo.stages.learn import LearnerSpec, is_main, learn, stage_job, stage_train
from prefzoo.stages.sampling import label_pairs, labeler_alignment, prompt_rows, sample_pairs, save_jsonl

__all__ = ["CAIConfig", "ConstitutionalAI", "resolve_constitution"]  # resolve_constitution: its old home


def _rl_cai() -> LearnerSpec:
    return LearnerSpec("ppo", reward="reward-model")  # the paper's RL stage: a preference model, then PPO


@dataclass
class CAIConfig:
    constitution: str | None = None   # YAML file; None: the world's constitution, else prefzoo's default.yaml
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # the feedback model (default: the base itself, frozen)
    learner: LearnerSpec | None = field(default_factory=_rl_cai)  # RL stage (stages.learn); null: stop after SL-CAI
    dpo_labels: Literal["hard", "soft"] = "hard"  # pairwise learners: the judge's pick, or its probability
    n_prompts: int | None = None      # prompts used (red-team + helpful, and for RL pairs); None: all
    red_team_categories: list[str] = field(default_factory=lambda: ["harmful"])  # unknown categories: all red-team
    rounds: int = 1                   # critique/revision rounds (paper: 4; tiny models: 1)
    temperature: float = 1.0          # sampling responses, critiques and revisions (paper: T=1)
    max_new_tokens: int = 32          # responses and revisions
    critique_max_new_tokens: int | None = None  # None: max_new_tokens
    helpful_ratio: float = 1.0        # helpful samples per revision in the SL mix (capped by what exists)
    sl_train: dict = field(default_factory=dict)       # train overrides for the SL fine-tune
    human_pairs: bool = True          # mix the job's pair data (human helpfulness labels) into the preference data

    def __post_init__(self):
        if self.rounds < 1 or self.helpful_ratio < 0:
            raise ValueError("rounds must be >= 1 and helpful_ratio >= 0")
        if self.constitution is not None:
            load_constitution(self.constitution)
        if self.learner is not None and self.learner.reward == "judge":
            raise ValueError("cai's feedback model compares pairs under principles; an online learner needs "
                             "reward: reward-model")
        stage_train(TrainConfig(), self.sl_train, "params.sl_train")


@register("cai")
class ConstitutionalAI(Algorithm):
    family = "composite"
    data_kind = "prompts"
    needs_reference = False
    summary = "critique+revise under sampled principles, SFT on revisions, then AI-labelled RL (RM+PPO, DPO, ...)"
    paper = "Bai et al. 2022, arXiv 2212.08073"
    Config = CAIConfig

    def vocabulary(self) -> list[str]:
        return load_constitution(self.config.constitution).words() + self.config.judge.words()

    def run(self, job: Job) -> TrainResult:
        cfg = self.config
        rng = random.Random(job.seed)  # principles, helpful samples, comparison principles: in that order
        constitution = resolve_constitution(cfg.constitution, job.world)
        rows = prompt_rows(job, cfg.n_prompts, job.seed)
        use_base_as_judge = cfg.learner is not None and cfg.judge.backend == "local" and cfg.judge.model == "policy"
        frozen = frozen_copy(job.policy) if use_base_as_judge else None  # the feedback model: the base, not SL-CAI
        info: dict = {"constitution": constitution.name}
        sl = self.supervised(job, rows, constitution, rng, info)
        if cfg.learner is None:
            return TrainResult(job.policy, sl.history, info)
        pref = self.preferences(job, rows, constitution, rng, frozen, info)
        del frozen
        result, learn_info = learn(job, cfg.learner, pref, dpo_labels=cfg.dpo_labels)
        info.update(learn_info)
        info["learner"] = result.info
        return TrainResult(job.policy, result.history, info, artifacts=result.artifacts)

    def supervised(self, job: Job, rows: list[dict], constitution: Constitution, rng: random.Random,
                   info: dict) -> TrainResult:
        """SL-CAI (sec. 3): critiques and revisions of red-team responses, mixed with helpful samples,
        then ``sft`` on them (stage "sl")."""
        cfg = self.config
        red, others, known = split_red_team(rows, cfg.red_team_categories)
        if not red:
            raise JobError(f"no red-team prompts (categories {cfg.red_team_categories}) among {len(rows)} prompts")
        crit, cstats = critique_and_revise(job.policy, red, constitution, rounds=cfg.rounds, rng=rng,
                                           temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                                           critique_max_new_tokens=cfg.critique_max_new_tokens, seed=job.seed)
        n_help = min(len(others), round(cfg.helpful_ratio * len(red)))
        helpful_rows = rng.sample(others, n_help) if n_help else []
        helpful = job.policy.generate([r["prompt"] for r in helpful_rows], max_new_tokens=cfg.max_new_tokens,
                                      temperature=cfg.temperature) if helpful_rows else []
        sl_rows = [{"prompt": c["prompt"], "completion": c["revision"], "source": "revision"} for c in crit]
        sl_rows += [{"prompt": r["prompt"], "completion": t, "source": "helpful"} for r, t in zip(helpful_rows, helpful)]
        sl_rows = [r for r in sl_rows if r["completion"].strip()]
        info["sl"] = {**cstats, "helpful_samples": len(helpful), "categories_known": known, "sl_records": len(sl_rows)}
        if is_main(job):
            save_jsonl(critique_records(crit), job.out_dir / "critiques.jsonl")
            save_jsonl(sl_rows, job.out_dir / "revisions.jsonl")
        if not sl_rows:
            raise JobError("every revision and helpful sample was empty; raise max_new_tokens")
        ds, _ = records_from_list(sl_rows, SFT)
        sl = registry.get("sft")().run(stage_job(job, "sl", data={SFT: ds},
                                                 train=stage_train(job.train, cfg.sl_train, "params.sl_train")))
        info["sl"]["final"] = sl.final
        return sl

    def preferences(self, job: Job, rows: list[dict], constitution: Constitution, rng: random.Random, frozen,
                    info: dict) -> list[dict]:
        """RL-CAI's data (sec. 4.1): pairs from the SL model labelled by the feedback model under sampled
        comparison principles, plus the job's human pairs."""
        cfg = self.config
        pairs = sample_pairs(job.policy, rows, temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                             seed=job.seed + 1)
        picks = [rng.randrange(len(constitution.comparisons)) if constitution.comparisons else None for _ in pairs]
        templates = [constitution.comparisons[k] if k is not None else None for k in picks]
        names = [f"comparison-{k}" if k is not None else None for k in picks]
        judge = build_judge(cfg.judge, job, options=constitution.options, frozen_policy=frozen)
        records, stats = label_pairs(judge, pairs, templates=templates, principles=names)
        del judge
        if not records:
            raise JobError(f"no usable AI-labelled pairs ({stats})")
        align = labeler_alignment(job.world, records, job.seed)
        info.update(ai_labels=stats, position_bias=stats.get("position_bias"),
                    labeler_alignment=align["agreement"] if align else None, labeler_alignment_detail=align)
        if is_main(job):
            save_jsonl(records, job.out_dir / "ai_pairs.jsonl")
        pref = list(records)
        if cfg.human_pairs and PAIRS in job.data:
            pref += [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"],
                      "p_chosen": 1.0 if r.get("p_chosen") is None else r["p_chosen"]} for r in job.data[PAIRS].to_list()]
            info["human_pairs"] = len(job.data[PAIRS])
        return pref
