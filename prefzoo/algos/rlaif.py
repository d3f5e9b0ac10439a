"""RLAIF: Lee et al. 2023, "RLAIF vs. RLHF: Scaling Reinforcement Learning from Human Feedback with
AI Feedback", arXiv 2309.00267.

Intuition: replace the human labeller with an LLM judge; everything downstream stays the same.
Stages: sample two responses per prompt from the SFT policy -> the judge labels them (soft label
P(a better) = softmax over the option tokens' log-probs, both orders averaged, sec. 2.1) -> save
the AI-labelled pairs -> learn, by ``route``:
  dpo           the registered ``dpo`` objective on the AI pairs;
  rm+ppo/rm+rloo  distilled RLAIF (sec. 2.2): a reward model on the soft labels, then RL against it;
  direct+ppo/direct+rloo  direct RLAIF (sec. 2.3): the judge's expected score 1..K rescaled to
                [-1, 1] is the reward (no reward model).
Reports the labeller's agreement with gold labels and its position-bias rate where a world knows
gold (sec. 4.1).

The helpers here (``prompt_rows``, ``learn``) are shared with ``cai`` and ``cai-dpo``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from prefzoo import registry
from prefzoo.api import Algorithm
from prefzoo.config import from_dict, to_dict
from prefzoo.data.loaders import records_from_list
from prefzoo.data.records import PAIRS, PROMPTS
from prefzoo.feedback.judge import JudgeConfig, build_judge, frozen_copy
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.recipe import TrainConfig
from prefzoo.registry import register
from prefzoo.stages.sampling import label_pairs, labeler_alignment, sample_pairs, save_jsonl

ROUTE = Literal["dpo", "rm+ppo", "rm+rloo", "direct+ppo", "direct+rloo"]
LEARNER_OF = {"dpo": "dpo", "rm+ppo": "ppo", "rm+rloo": "rloo", "direct+ppo": "ppo", "direct+rloo": "rloo"}


# ---------------------------------------------------------------------- shared helpers


def build_learner(route: str, params: dict) -> Algorithm:
    """The registered learner of ``route`` with ``params`` checked by its Config. Online learners
    are rewarded by ``job.feedback`` (reward spec "judge") unless ``params`` say otherwise."""
    name = LEARNER_OF[route]
    cls = registry.get(name)
    names = {f.name for f in fields(cls.Config)} if hasattr(cls.Config, "__dataclass_fields__") else set()
    defaults = {"reward": "judge"} if "reward" in names else {}
    return cls(from_dict(cls.Config, {**defaults, **params}, f"params.learner ({name})"))


def stage_train(train: TrainConfig, overrides: dict, where: str) -> TrainConfig:
    """The recipe's train section with a stage's overrides (keys checked)."""
    return from_dict(TrainConfig, {**to_dict(train), **overrides}, where) if overrides else train


def prompt_rows(job: Job, n: int | None, seed: int) -> list[dict]:
    """Prompt rows (prompt, category?, id?): the job's data, or else the world's train prompts.
    ``n``: a seeded random subset of that many (None: all)."""
    if job.data:
        rows = job.records(PROMPTS).to_list()
    elif job.world is not None and hasattr(job.world, "prompts"):
        rows = job.world.prompts("train", n or 256, seed)
    else:
        raise JobError("no prompts: give data (data.path with data.kind: prompts, or pairs) or a world")
    if n is not None and n < len(rows):
        keep = sorted(random.Random(seed).sample(range(len(rows)), n))
        rows = [rows[i] for i in keep]
    return rows


def is_main(job: Job) -> bool:
    from prefzoo.engine.loop import accelerator_for

    return accelerator_for(job.train).is_main_process


def learn(job: Job, route: str, pairs: list[dict], *, learner: dict, learner_train: dict, reward_model: dict,
          feedback=None, stage: str = "learner", dpo_labels: str = "hard") -> tuple[TrainResult, dict]:
    """Run ``route``'s learner on ``job.policy`` (trained in place). ``pairs``: the AI-labelled pair
    records (dpo, rm+*); ``feedback``: the pointwise reward (direct+*). Returns (result, info).

    ``dpo_labels``: "hard" trains DPO on the judge's pick (p_chosen = 1), "soft" on its probability.
    A weak judge's averaged probabilities sit near 0.5, where the soft DPO gradient (sigma(beta h) - p)
    all but vanishes; reward models keep the soft labels (Lee et al. 2023, sec. 2.1)."""
    info: dict = {}
    if route == "dpo" and dpo_labels == "hard":
        pairs = [{**r, "p_chosen": 1.0, "p_judge": r.get("p_chosen")} for r in pairs]
    train = stage_train(job.train, learner_train, "params.learner_train")
    algo = build_learner(route, learner)
    job.policy.release_reference()  # the reference is the policy as it is now (SFT, or SL-CAI)
    target = replace(job.sub(stage), train=train, tracker=job.tracker)
    if route == "dpo":
        ds, report = records_from_list(pairs, PAIRS)
        info["learner_data"] = report.as_dict()
        target = replace(target, data={PAIRS: ds})
    elif route.startswith("rm+"):
        from prefzoo.stages.reward import RewardModelConfig, train_reward_model

        ds, report = records_from_list(pairs, PAIRS)
        rm_job = replace(job.sub("reward_model"), tracker=None)
        rm, rm_info = train_reward_model(rm_job, ds, from_dict(RewardModelConfig, reward_model, "params.reward_model"))
        rm_info.pop("history", None)
        info["reward_model"] = rm_info
        if is_main(job):
            rm.save(job.out_dir / "reward_model")
        target = replace(target, feedback=rm)
    else:  # direct: the judge's expected score is the reward
        target = replace(target, feedback=feedback)
    return algo.run(target), info


# ---------------------------------------------------------------------- the algorithm


@dataclass
class RLAIFConfig:
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # who labels (local model, HTTP endpoint, RM, rule, gold)
    route: ROUTE = "dpo"              # how to learn from the AI labels (see the module docstring)
    dpo_labels: Literal["hard", "soft"] = "hard"  # dpo route: the judge's pick, or its probability (see learn())
    n_prompts: int | None = None      # prompts to sample pairs for; None: all the data's prompts
    pairs_per_prompt: int = 1         # AI labels are cheap: label k independent pairs per prompt
    temperature: float = 1.0          # sampling the two responses (RLAIF samples at T=1)
    top_p: float = 1.0
    max_new_tokens: int = 32          # response length of the samples
    learner: dict = field(default_factory=dict)        # the learner's own params (dpo: beta; ppo/rloo: steps, ...)
    learner_train: dict = field(default_factory=dict)  # overrides of the recipe's train section for the learner
    reward_model: dict = field(default_factory=dict)   # RewardModelConfig params (rm+ routes)

    def __post_init__(self):
        if self.pairs_per_prompt < 1:
            raise ValueError(f"pairs_per_prompt must be >= 1, got {self.pairs_per_prompt}")
        if self.n_prompts is not None and self.n_prompts < 1:
            raise ValueError("n_prompts must be >= 1 (or null for all)")
        build_learner(self.route, self.learner)  # unknown or bad learner params fail at recipe load
        stage_train(TrainConfig(), self.learner_train, "params.learner_train")
        if self.route.startswith("rm+"):
            from prefzoo.stages.reward import RewardModelConfig

            from_dict(RewardModelConfig, self.reward_model, "params.reward_model")


@register("rlaif")
class RLAIF(Algorithm):
    family = "composite"
    data_kind = "prompts"
    needs_reference = False
    summary = "sample pairs, label them with an AI judge (both orders), then DPO / RM+RL / direct RL"
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
        direct = cfg.route.startswith("direct+")
        if not direct:
            del judge  # free the judge's weights before training
        result, learn_info = learn(job, cfg.route, records, dpo_labels=cfg.dpo_labels, learner=cfg.learner,
                                   learner_train=cfg.learner_train,
                                   reward_model=cfg.reward_model, feedback=judge if direct else None)
        info.update(learn_info)
        info["learner"] = result.info
        return TrainResult(job.policy, result.history, info, artifacts=result.artifacts)
