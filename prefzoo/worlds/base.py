"""What a testbed (a "world") offers the rest of prefzoo: the ``World`` protocol. Code asks for
capabilities, never names.

A world knows the gold preference, so comparisons can be scored exactly. The members below are every
one that prefzoo reads (compare, eval, stages, algos, feedback); ``tests/test_worlds.py`` checks them on
every registered world. A new world is one file with a class that has them, plus a name in
``prefzoo.worlds.WORLDS`` (or the entry-point group ``prefzoo.worlds``, or ``module:Class`` in a recipe).
"""
from __future__ import annotations

import random
from typing import Any, Callable, Protocol, runtime_checkable

import torch

from prefzoo.feedback.base import Feedback
from prefzoo.recipe import at_least

# Members every world has (``WORLDS`` checks those a class carries when one registers; ``gold`` is per instance).
REQUIRED = ("name", "categories", "prompts", "gold", "gold_preference", "rate_pair", "category_rates")
# Members a world may leave None (or out): code falls back to generic material or refuses clearly.
OPTIONAL = ("build_base", "judge_template", "judge_options", "score_template", "score_options", "constitution",
            "feedback_policy", "category_directions")


@runtime_checkable
class World(Protocol):
    """The world interface. Required members first, then the optional ones (None where absent)."""

    name: str
    categories: tuple[str, ...]          # the category-rate columns a comparison reports (order kept)

    def prompts(self, split: str, n: int | None, seed: int) -> list[dict]:
        """Rows of ``split`` ("train" | "eval"), each with at least ``id``, ``prompt``, ``category``;
        train and eval disjoint; the same arguments give the same rows."""

    gold: Feedback                       # ``score(rows or prompt texts, responses)`` is the gold reward

    def gold_preference(self, prompt_row: dict, a: str, b: str) -> float:
        """P(a better than b) under the gold rubric, noiseless (0.5 for a tie); the evaluator's win rate."""

    def rate_pair(self, prompt_row: dict, a: str, b: str, rng: random.Random) -> float:
        """One simulated human label: 1.0 if ``a`` is preferred (the label budget's raters)."""

    def category_rates(self, rows: list[dict], responses: list[str]) -> dict[str, float]:
        """``{category: rate}`` for exactly ``categories`` (NaN where the rows hold none of a category)."""

    # -- optional: None (or absent) where the world has none
    # ``build_base(base: dict, cache_dir, log=print, progress=True) -> (Policy, info)``: the world's own SFT base, from the
    # compare recipe's ``base:`` mapping (the world reads its own config from it). Absent: ``model:`` is needed.
    build_base: Callable[..., tuple[Any, dict]] | None
    judge_template: str | None           # AI feedback in the world's language: {prompt} {a} {b}
    judge_options: tuple[str, str] | None  # the two answer tokens
    score_template: str | None           # {prompt} {response}
    score_options: tuple[str, ...] | None  # tokens for grades 1..K
    constitution: dict | None            # principles + comparisons (``prefzoo.constitutions``)
    feedback_policy: Any                 # a separate AI-labeler model (``judge.model: world``), built with the base
    category_directions: dict[str, str] | None  # category -> "higher" | "lower" (better); for reports


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


def check_tiny_base(cfg, *counts: str) -> None:
    """What every tiny-base config (the toy and sentiment worlds') needs, checked when the recipe is read: a 0
    size, count or epoch failed deep inside the build (a traceback, or "missing columns" for an empty stage).
    ``counts``: the config's own fields that must be >= 1 too."""
    at_least(cfg, 1, "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_length",
             "pretrain_records", "pretrain_epochs", "sft_records", "sft_epochs", "batch_size", *counts)
    if cfg.hidden_size % cfg.num_attention_heads:
        raise ValueError(f"hidden_size ({cfg.hidden_size}) must be a multiple of num_attention_heads "
                         f"({cfg.num_attention_heads})")
    if not (cfg.lr > 0 and cfg.sft_lr > 0):
        raise ValueError(f"lr and sft_lr must be > 0, got {cfg.lr} and {cfg.sft_lr}")
