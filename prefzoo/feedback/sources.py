"""The feedback backends that are not LLM judges: the world's gold rubric, a rule function, the job's
own feedback source and a reward model (loaded, or trained here from the job's pairs). Registered by
name in ``prefzoo.feedback.spec.BACKENDS``; see that module for the spec syntax."""
from __future__ import annotations

import json
from pathlib import Path

from prefzoo import dist
from prefzoo.feedback.base import Feedback, RuleFeedback
from prefzoo.feedback.spec import BuildContext, FeedbackSpec, FeedbackSpecError
from prefzoo.registry import PluginError, load_module


class _NoArgument:
    kind = ""

    def shorthand(self, arg: str) -> dict:
        raise FeedbackSpecError(f"feedback {self.kind!r} takes no argument, got {self.kind}:{arg}")


class GoldSource(_NoArgument):
    """``world`` / ``gold``: the testbed's gold rubric."""

    kind = "world"

    def build(self, spec: FeedbackSpec, ctx: BuildContext) -> Feedback:
        gold = getattr(ctx.world, "gold", None)
        if gold is None:
            raise FeedbackSpecError(f"{ctx.role} 'world' needs a testbed with a gold scorer (recipe key `world`)")
        return gold if isinstance(gold, Feedback) else RuleFeedback(gold, name="world gold")


class JobFeedback(_NoArgument):
    """``judge``: the feedback source configured for the job (``job.feedback``)."""

    kind = "judge"

    def build(self, spec: FeedbackSpec, ctx: BuildContext) -> Feedback:
        fb = getattr(ctx.job, "feedback", None)
        if not isinstance(fb, Feedback):
            raise FeedbackSpecError(f"{ctx.role} 'judge' needs a feedback source configured for the job (job.feedback)")
        return fb


class RuleSource:
    """``rule:FILE.py:FUNC`` / ``rule:MODULE:FUNC``: a function ``fn(prompt, response) -> float``."""

    def check(self, spec: FeedbackSpec) -> None:
        if not spec.model or ":" not in spec.model:
            raise FeedbackSpecError(f"a rule needs FILE.py:FUNC or MODULE:FUNC, got {spec.model!r}")

    def build(self, spec: FeedbackSpec, ctx: BuildContext) -> Feedback:
        where, _, func = spec.model.rpartition(":")
        try:
            module = load_module(where, ctx.recipe_dir)
        except PluginError as e:
            raise FeedbackSpecError(f"{ctx.role} rule {spec.model!r}: {e}") from e
        fn = getattr(module, func, None)
        if not callable(fn):
            have = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
            raise FeedbackSpecError(f"{ctx.role} rule {func!r} not found in {where!r}; functions there: "
                                    f"{', '.join(have)}")
        return RuleFeedback(fn, name=f"rule {func}")


class RewardModelSource:
    """``reward-model[:PATH]``: a saved reward model, or one trained here from the job's pairs."""

    def build(self, spec: FeedbackSpec, ctx: BuildContext) -> Feedback:
        from prefzoo.feedback.reward_model import RewardModel

        job = ctx.job
        device = getattr(getattr(job, "policy", None), "device", None)
        if spec.model:
            path = ctx.path(spec.model)
            if (path / "reward_model.json").exists():  # one prefzoo trained (RewardModel.save)
                return RewardModel.load(path, device=device)
            from prefzoo.feedback.classifier import SequenceClassifierFeedback

            # any AutoModelForSequenceClassification (a folder or a hub id), with its own tokenizer
            return SequenceClassifierFeedback(str(path) if path.exists() else spec.model, device=device,
                                              batch_size=spec.batch_size, max_length=spec.max_length)
        saved = Path(job.out_dir) / "reward_model"
        dist.barrier()  # every process sees the same answer to "saved earlier?"
        if (saved / "reward_model.json").exists():
            return RewardModel.load(saved, device=device)
        from prefzoo.config import from_dict
        from prefzoo.data.records import PAIRS
        from prefzoo.stages.reward import RewardModelConfig, train_reward_model

        cfg = from_dict(RewardModelConfig, ctx.reward_model or {}, "params.reward_model")
        rm, info = train_reward_model(job.sub("reward_model_training"), job.records(PAIRS), cfg)
        info.pop("history", None)
        if dist.is_main():  # trained collectively; written once
            job.out_dir.mkdir(parents=True, exist_ok=True)
            (Path(job.out_dir) / "reward_model_training.json").write_text(json.dumps(info, indent=2, default=str))
            rm.save(saved)
        dist.barrier()
        rm.training_info = info
        return rm


__all__ = ["GoldSource", "JobFeedback", "RuleSource", "RewardModelSource"]
