"""Stage: learn from AI-labelled pairs with any registered learner, chosen by what it can do.

The composite algorithms (rlaif, cai, cai-dpo) end here. Their ``learner`` is an algorithm spec,
``{algorithm, params, train, reward, reward_model}``, resolved through the registry and used by
capability, never by name:
- an ``api.Objective`` over pairs (dpo, ipo, simpo, ...) is trained on the AI-labelled pairs;
- an ``api.OnlineAlgorithm`` (ppo, rloo, grpo, online-dpo, ...) is rewarded by ``reward``:
  ``reward-model``, a reward model trained on the AI pairs (distilled RLAIF, Lee et al. 2023,
  sec. 2.2), or ``judge``, the AI labeller itself scoring each response (direct RLAIF, sec. 2.3).
Every sub-stage logs into the composite's one ``metrics.jsonl`` (``Tracker.stage``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

from prefzoo import registry
from prefzoo.api import PAIRS, Algorithm, Objective, OnlineAlgorithm
from prefzoo.config import from_dict, to_dict
from prefzoo.data.loaders import records_from_list
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.recipe import TrainConfig

PAIRWISE, ONLINE = "pairwise", "online"


def learner_kind(cls: type) -> str:
    """``pairwise`` (an offline objective of the policy over pairs) or ``online``; else ValueError."""
    if isinstance(cls, type) and issubclass(cls, OnlineAlgorithm):
        return ONLINE
    if (isinstance(cls, type) and issubclass(cls, Objective) and cls.data_kind == PAIRS
            and getattr(cls, "model_kind", "policy") == "policy"):
        return PAIRWISE
    raise ValueError(f"learner {getattr(cls, 'name', '') or cls!r} (data_kind {getattr(cls, 'data_kind', '?')!r}) "
                     f"can learn neither from AI-labelled pairs nor online: name an Objective over pairs "
                     f"(dpo, ipo, ...) or an OnlineAlgorithm (ppo, rloo, grpo, ...)")


def stage_train(train: TrainConfig, overrides: dict, where: str) -> TrainConfig:
    """The recipe's train section with a stage's overrides (keys checked)."""
    return from_dict(TrainConfig, {**to_dict(train), **overrides}, where) if overrides else train


@dataclass
class LearnerSpec:
    algorithm: str = "dpo"            # a registered name or module:Class: an Objective over pairs or an OnlineAlgorithm
    params: dict = field(default_factory=dict)  # the learner's own params, checked by its Config
    train: dict = field(default_factory=dict)   # overrides of the recipe's train section for this stage
    reward: Literal["reward-model", "judge"] | None = None  # online learners only: what rewards them (above)
    reward_model: dict = field(default_factory=dict)  # RewardModelConfig params, with reward: reward-model

    def __post_init__(self):
        try:
            kind = learner_kind(registry.get(self.algorithm))
        except (registry.RegistryError, registry.PluginError) as e:  # a recipe error: say it as one
            raise ValueError(str(e)) from e
        if kind == ONLINE and self.reward is None:
            raise ValueError(f"online learner {self.algorithm!r} needs reward: reward-model (distilled) or judge (direct)")
        if kind == PAIRWISE and self.reward is not None:
            raise ValueError(f"learner {self.algorithm!r} learns from the AI pairs themselves; reward applies to "
                             f"online learners only")
        if "reward" in self.params:
            raise ValueError("set the learner's reward with learner.reward (reward-model | judge), not in its params")
        if self.reward_model and self.reward != "reward-model":
            raise ValueError("reward_model params are used with reward: reward-model only")
        self.build()  # unknown or bad learner params fail at recipe load
        stage_train(TrainConfig(), self.train, "train")
        if self.reward == "reward-model":
            from prefzoo.stages.reward import RewardModelConfig

            from_dict(RewardModelConfig, self.reward_model, "reward_model")

    @property
    def online(self) -> bool:
        return learner_kind(registry.get(self.algorithm)) == ONLINE

    def build(self) -> Algorithm:
        """The learner with its params checked by its Config. An online learner's reward spec is "judge":
        the loop's ``job.feedback``, which ``learn`` sets to the reward model or the AI judge."""
        cls = registry.get(self.algorithm)
        names = {f.name for f in fields(cls.Config)} if hasattr(cls.Config, "__dataclass_fields__") else set()
        fixed = {"reward": "judge"} if self.online and "reward" in names else {}
        return cls(from_dict(cls.Config, {**self.params, **fixed}, f"params ({self.algorithm})"))


def is_main(job: Job) -> bool:
    from prefzoo.engine.loop import accelerator_for

    return accelerator_for(job.train).is_main_process


def stage_job(job: Job, name: str, **changes) -> Job:
    """``job.sub(name)`` logging through the composite's tracker as stage ``name`` (None: its own file)."""
    sub = job.sub(name)
    tracker = job.tracker.stage(name, sub.out_dir) if job.tracker is not None else None
    return replace(sub, tracker=tracker, **changes)


def distil_reward(job: Job, pairs: list[dict], params: dict):
    """A reward model trained on the AI pairs from ``job.policy`` (saved as out_dir/reward_model)."""
    from prefzoo.stages.reward import RewardModelConfig, train_reward_model

    ds, _ = records_from_list(pairs, PAIRS)
    rm, summary = train_reward_model(stage_job(job, "reward_model"), ds,
                                     from_dict(RewardModelConfig, params, "params.learner.reward_model"))
    summary.pop("history", None)
    if is_main(job):
        rm.save(job.out_dir / "reward_model")
    return rm, summary


def learn(job: Job, spec: LearnerSpec, pairs: list[dict], *, judge=None, dpo_labels: str = "hard",
          stage: str = "learner") -> tuple[TrainResult, dict]:
    """Train ``job.policy`` in place with ``spec``'s learner. ``pairs``: the AI-labelled pair records;
    ``judge``: the AI labeller's pointwise reward (online learners with reward: judge). Returns
    (result, info).

    ``dpo_labels`` (pairwise learners): "hard" trains on the judge's pick (p_chosen = 1), "soft" on its
    probability. A weak judge's averaged probabilities sit near 0.5, where the soft DPO gradient
    (sigma(beta h) - p) all but vanishes; reward models keep the soft labels (Lee et al. 2023, sec. 2.1)."""
    info: dict = {}
    online = spec.online
    if not online and dpo_labels == "hard":
        pairs = [{**r, "p_chosen": 1.0, "p_judge": r.get("p_chosen")} for r in pairs]
    train = stage_train(job.train, spec.train, "params.learner.train")
    algo = spec.build()
    job.policy.release_reference()  # the reference is the policy as it is now (SFT, or SL-CAI)
    changes: dict = {}
    if not online:
        ds, report = records_from_list(pairs, PAIRS)
        info["learner_data"] = report.as_dict()
        changes["data"] = {PAIRS: ds}
    elif spec.reward == "reward-model":
        changes["feedback"], info["reward_model"] = distil_reward(job, pairs, spec.reward_model)
    elif judge is None:
        raise JobError(f"learner {spec.algorithm!r} with reward: judge needs an AI judge; this algorithm has none")
    else:
        changes["feedback"] = judge
    target = stage_job(job, stage, train=train, **changes)  # after the reward model: its steps come first
    return algo.run(target), info


__all__ = ["LearnerSpec", "learner_kind", "learn", "distil_reward", "stage_train", "stage_job", "is_main",
           "PAIRWISE", "ONLINE"]
