"""Reward specs -> ``Feedback``: which source an online algorithm is rewarded by.

    rule:PATH.py:FUNC      fn(prompt, response) -> float from a file (relative paths: the recipe directory)
    rule:MODULE:FUNC       the same from an importable module
    world                  the testbed's gold scorer (``job.world.gold``)
    judge                  the feedback source the job was given (``job.feedback``)
    reward-model           a reward model trained here from the job's pairs (saved under out_dir/reward_model
                           and reused on resume)
    reward-model:PATH      a reward model saved with ``RewardModel.save``
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import json
from pathlib import Path

from prefzoo import dist

from prefzoo.feedback.base import Feedback, RuleFeedback

SPECS = ("rule:FILE.py:FUNC", "rule:MODULE:FUNC", "world", "judge", "reward-model", "reward-model:PATH")


class RewardSpecError(ValueError):
    pass


def _here(path: str, job) -> Path:
    p = Path(path)
    base = getattr(job, "recipe_dir", None)
    if not p.is_absolute() and base is not None and (Path(base) / p).exists():
        return Path(base) / p
    return p


def load_rule(target: str, func: str, job=None):
    """The function ``func`` of a .py file or a module."""
    if target.endswith(".py"):
        path = _here(target, job)
        if not path.exists():
            raise RewardSpecError(f"reward rule file {target!r} not found (looked in {path.resolve()})")
        name = f"prefzoo_rule_{path.stem}_{abs(hash(str(path.resolve())))}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    fn = getattr(module, func, None)
    if not callable(fn):
        have = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
        raise RewardSpecError(f"reward rule {func!r} not found in {target!r}; functions there: {', '.join(have)}")
    return fn


def resolve_reward(spec: str, job, reward_model: dict | None = None) -> Feedback:
    """The ``Feedback`` named by ``spec`` (see the module docstring). ``reward_model``: the
    ``RewardModelConfig`` params used when ``spec`` is "reward-model" (trained from the job's pairs)."""
    kind, _, rest = spec.partition(":")
    if kind == "rule":
        target, sep, func = rest.rpartition(":")
        if not sep or not target or not func:
            raise RewardSpecError(f"reward {spec!r}: expected rule:FILE.py:FUNC or rule:MODULE:FUNC")
        return RuleFeedback(load_rule(target, func, job), name=f"rule {func}")
    if kind == "world" and not rest:
        gold = getattr(getattr(job, "world", None), "gold", None)
        if gold is None:
            raise RewardSpecError("reward 'world' needs a testbed with a gold scorer (recipe key `world`)")
        return gold if isinstance(gold, Feedback) else RuleFeedback(gold, name="world gold")
    if kind == "judge" and not rest:
        if not isinstance(getattr(job, "feedback", None), Feedback):
            raise RewardSpecError("reward 'judge' needs a feedback source configured for the job (job.feedback)")
        return job.feedback
    if kind == "reward-model":
        from prefzoo.feedback.reward_model import RewardModel

        if rest:
            return RewardModel.load(_here(rest, job), device=job.policy.device)
        saved = Path(job.out_dir) / "reward_model"
        dist.barrier()  # every process sees the same answer to "saved earlier?"
        if (saved / "reward_model.json").exists():
            return RewardModel.load(saved, device=job.policy.device)
        from prefzoo.data.records import PAIRS
        from prefzoo.config import from_dict
        from prefzoo.stages.reward import RewardModelConfig, train_reward_model

        cfg = from_dict(RewardModelConfig, reward_model or {}, "params.reward_model")
        rm, info = train_reward_model(job.sub("reward_model_training"), job.records(PAIRS), cfg)
        info.pop("history", None)
        if dist.is_main():  # trained collectively; written once
            job.out_dir.mkdir(parents=True, exist_ok=True)
            (Path(job.out_dir) / "reward_model_training.json").write_text(json.dumps(info, indent=2, default=str))
            rm.save(saved)
        dist.barrier()
        rm.training_info = info
        return rm
    raise RewardSpecError(f"unknown reward spec {spec!r}; expected one of: {', '.join(SPECS)}")


__all__ = ["resolve_reward", "load_rule", "RewardSpecError", "SPECS"]
