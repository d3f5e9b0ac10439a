"""Who rates: the feedback interface every reward source and labeler implements.

``score(prompts, responses) -> Tensor[N]`` (pointwise reward) and/or
``prefer(prompts, a, b) -> Tensor[N]`` (P(a better than b)). A gold rubric, a reward model, an LLM
judge or a rule function are interchangeable as an RL reward or as a pair labeler.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch


class FeedbackError(RuntimeError):
    pass


class Feedback:
    """Base class. Subclasses implement ``score`` and/or ``prefer``; each gets the other for free where
    it is well defined (``prefer`` from scores through Bradley-Terry)."""

    name: str = "feedback"

    def score(self, prompts: list[Any], responses: list[str]) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} gives pairwise preferences only, not pointwise scores")

    def prefer(self, prompts: list[Any], a: list[str], b: list[str]) -> torch.Tensor:
        return torch.sigmoid(self.score(prompts, a) - self.score(prompts, b))

    def checked_score(self, prompts: list[Any], responses: list[str]) -> torch.Tensor:
        """``score`` that names the prompt when the reward source raises or returns NaN/inf."""
        try:
            scores = torch.as_tensor(self.score(prompts, responses), dtype=torch.float32)
        except Exception as e:
            raise FeedbackError(f"reward {self.name} raised {type(e).__name__}: {e} "
                                f"(batch starting with prompt {prompts[0]!r})") from e
        bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
        if bad:
            i = bad[0]
            raise FeedbackError(f"reward {self.name} returned {scores[i].item()} for prompt {prompts[i]!r} "
                                f"and response {responses[i]!r}; rewards must be finite numbers")
        return scores

    def checked_prefer(self, prompts: list[Any], a: list[str], b: list[str]) -> torch.Tensor:
        """``prefer`` that names the prompt when the labeler raises or returns NaN/inf; clamped to [0, 1]."""
        try:
            p = torch.as_tensor(self.prefer(prompts, a, b), dtype=torch.float32)
        except Exception as e:
            raise FeedbackError(f"feedback {self.name} raised {type(e).__name__}: {e} "
                                f"(batch starting with prompt {prompts[0]!r})") from e
        bad = (~torch.isfinite(p)).nonzero().flatten().tolist()
        if bad:
            raise FeedbackError(f"feedback {self.name} returned {p[bad[0]].item()} for prompt {prompts[bad[0]]!r}")
        return p.clamp(0.0, 1.0)


class RuleFeedback(Feedback):
    """A Python function ``fn(prompt, response) -> float`` as feedback."""

    def __init__(self, fn: Callable[[Any, str], float], name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "rule")

    def score(self, prompts, responses):
        return torch.tensor([float(self.fn(p, r)) for p, r in zip(prompts, responses)])


def bt_probability(delta: float) -> float:
    return 1.0 / (1.0 + math.exp(-delta))
