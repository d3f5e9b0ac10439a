"""What a testbed (a "world") offers the rest of prefzoo. Code asks for capabilities, never names.

A world knows the gold preference, so comparisons can be scored exactly:
- ``prompts(split, n, seed) -> list[dict]`` (each with at least ``id``, ``prompt``, ``category``);
- ``gold`` : a ``Feedback`` whose ``score`` is the gold reward of a response;
- ``rate_pair(prompt_row, a, b, rng) -> float`` a simulated human label (1.0 if a preferred);
- ``category_rates(prompt_rows, responses) -> dict[str, float]``;
- optional AI-feedback material in the world's own language: ``judge_template`` ({prompt} {a} {b}),
  ``judge_options`` (the two answer tokens), ``score_template`` ({prompt} {response}),
  ``score_options`` (tokens for 1..9), ``constitution`` (dict: principles + comparisons).
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from prefzoo.feedback.base import Feedback


class GoldFeedback(Feedback):
    """A world's gold rubric as feedback. Prompts here are the world's prompt rows (dicts) or plain
    prompt texts looked up in ``by_text``."""

    def __init__(self, score_fn: Callable[[dict, str], float], by_text: dict[str, dict], name: str = "gold"):
        self.score_fn = score_fn
        self.by_text = by_text
        self.name = name

    def row(self, prompt: Any) -> dict:
        if isinstance(prompt, dict) and "category" in prompt:
            return prompt
        key = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        if key not in self.by_text:
            raise KeyError(f"the gold rubric does not know the prompt {key!r}")
        return self.by_text[key]

    def score(self, prompts, responses):
        return torch.tensor([float(self.score_fn(self.row(p), r)) for p, r in zip(prompts, responses)])
