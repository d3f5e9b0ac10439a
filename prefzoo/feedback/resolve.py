"""Online reward specs, by their old import path: ``resolve_reward`` is ``prefzoo.feedback.spec.build_feedback``
for a reward (the syntax is that module's: ``rule:FILE.py:FUNC`` | ``world`` | ``judge`` | ``reward-model[:PATH]``
| ``local[:MODEL]`` | ``http:URL``)."""
from __future__ import annotations

from prefzoo.feedback.base import Feedback
from prefzoo.feedback.spec import SPECS, FeedbackSpecError, build_feedback

RewardSpecError = FeedbackSpecError


def resolve_reward(spec: str, job, reward_model: dict | None = None) -> Feedback:
    """The ``Feedback`` named by ``spec``. ``reward_model``: the ``RewardModelConfig`` params used when
    ``spec`` is "reward-model" (trained from the job's pairs)."""
    return build_feedback(spec, job, role="reward", reward_model=reward_model)


__all__ = ["resolve_reward", "RewardSpecError", "SPECS"]
