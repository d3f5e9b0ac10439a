"""RLAIF: Lee et al. 2023, "RLAIF vs. RLHF: Scaling Reinforcement Learning from Human Feedback with
AI Feedback", arXiv 2309.00267.

Intuition: replace the human labeller with an LLM judge; everything downstream stays the same.
Stages: sample two responses per prompt from the SFT policy -> the judge labels them (soft label
P(a better) = softmax over the option tokens' log-probs, both orders averaged, sec. 2.1) -> save
the AI-labelled pairs -> ``learner``, any registered algorithm (stages.learn):
  an Objective over pairs (dpo, ipo, ...)  trained on the AI pairs;
  an OnlineAlgorithm (ppo, rloo, grpo, ...) with reward: reward-model, distilled RLAIF (sec. 2.2): a
                reward model on the soft labels, then RL against it; or reward: judge, direct RLAIF
                (sec. 2.3): the judge's expected score 1..K rescaled to [-1, 1] is the reward.
Reports the labeller's agreement with gold labels and its position-bias rate where a world knows
gold (sec. 4.1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from prefzoo.api import Algorithm
from prefzoo.feedback.judge import JudgeConfig, build_judge, frozen_copy
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.registry import register
from prefzoo.stages.learn import LearnerSpec, is_main, learn
from prefzoo.stages.sampling import label_pairs, labeler_alignment, prompt_rows, sample_pairs, save_jsonl


@dataclass
class RLAIFConfig:
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # who labels (local model, HTTP endpoint, RM, rule, gold)
    learner: LearnerSpec = field(default_factory=LearnerSpec)  # how to learn from the AI labels (module docstring)
    dpo_labels: Literal["hard", "soft"] = "hard"  # pairwise learners: the judge's pick, or its probability (learn())
    n_prompts: int | None = None      # prompts to sample pairs for; None: all the data's prompts
    pairs_per_prompt: int = 1         # AI labels are cheap: label k independent pairs per prompt
    temperature: float = 1.0          # sampling the two responses (RLAIF samples at T=1)
    top_p: float = 1.0
    max_new_tokens: int = 32          # response length of the samples

    def __post_init__(self):
        if self.pairs_per_prompt < 1:
            raise ValueError(f"pairs_per_prompt must be >= 1, got {self.pairs_per_prompt}")
        if self.n_prompts is not None and self.n_prompts < 1:
            raise ValueError("n_prompts must be >= 1 (or null for all)")


@register("rlaif")
class RLAIF(Algorithm):
    family = "composite"
    data_kind = "prompts"
    needs_reference = False
    summary = "sample pairs, label them with an AI judge (both orders), then any pairwise or online learner"
    paper = "Lee et al. 2023, arXiv 2309.00267"
    Config = RLAIFConfig

    def vocabulary(self) -> list[str]:
        """Words this algorithm writes into prompts (a word-level tokenizer built from data needs them)."""
        return self.config.judge.words()

    def run(self, job: Job) -> TrainResult:
        cfg = self.config
        rows = [r for r in prompt_rows(job, cfg.n_prompts, job.seed) for _ in range(cfg.pairs_per_prompt)]
        judge = build_judge(cfg.judge, job, frozen_policy=frozen_copy(job.policy)
                            if cfg.judge.backend == "local" and cfg.judge.model == "policy" else None)
        pairs = sample_pairs(job.policy, rows, temperature=cfg.temperature, top_p=cfg.top_p,
                             max_new_tokens=cfg.max_new_tokens, seed=job.seed)
        records, stats = label_pairs(judge, pairs)
        if not records:
            raise JobError(f"no usable AI-labelled pairs ({stats}); raise max_new_tokens or temperature")
        align = labeler_alignment(job.world, records, job.seed)
        info = {"ai_labels": stats, "position_bias": stats.get("position_bias"),
                "labeler_alignment": align["agreement"] if align else None, "labeler_alignment_detail": align}
        if getattr(judge, "cache", None) is not None:
            info["label_cache"] = judge.cache.stats()
        if is_main(job):
            info["ai_pairs_path"] = str(save_jsonl(records, job.out_dir / "ai_pairs.jsonl"))
        direct = cfg.learner.reward == "judge"
        if not direct:
            del judge  # free the judge's weights before training
        result, learn_info = learn(job, cfg.learner, records, judge=judge if direct else None,
                                   dpo_labels=cfg.dpo_labels)
        info.update(learn_info)
        info["learner"] = result.info
        return TrainResult(job.policy, result.history, info, artifacts=result.artifacts)
