"""The real prompt suite as a prefzoo world: prompts, gold feedback and simulated raters.

For pretrained instruct models (e.g. ``smollm2-135m-instruct``): the prompts and the model-free gold
checks live in ``prefzoo.worlds.suite`` and ``prefzoo.worlds.refusal``; this module only wraps them
in the world interface of ``prefzoo.worlds.base``.

* ``prompts(split, n, seed)``: ``suite_prompts`` rows (``id``, ``prompt``, ``category``, ``area``,
  ``check``); category-balanced prefixes, train and eval disjoint for every seed.
* ``gold``: a ``GoldFeedback`` whose score is ``suite_score(row, response).reward`` (in [-1, 1]);
  it finds rows by prompt text (or the last message of a chat prompt), over the whole suite.
* ``rate_pair``: a simulated human rater, Bradley-Terry on the gold reward with noise temperature
  ``T`` (``DEFAULT_NOISE_TEMPERATURE``): P(a preferred) = sigmoid((r_a - r_b) / T).
* ``category_rates``: the suite's rates in ``categories`` (NaN where the rows hold no prompt of the
  category the rate needs).

There is no base to build (``build_base`` is None: a comparison names a real model under ``model:``) and
no AI-feedback
material of its own: ``judge_template``, ``judge_options``, ``score_template``, ``score_options`` and
``constitution`` are None, so RLAIF and CAI use prefzoo's generic English judge templates and its
default constitution; ``feedback_policy`` is None (``judge.model: world`` is not available).
"""
from __future__ import annotations

import math
import random
from typing import Any

from prefzoo.worlds.base import GoldFeedback
from prefzoo.worlds.suite import all_prompts, suite_category_rates, suite_prompts, suite_score

# Rewards are in [-1, 1] and mostly +-1 (declined vs complied, refused vs answered, format passed vs
# failed), so a gold gap is usually 2 or 1. With T = 0.5 a rater picks the better reply with
# P = sigmoid(4) = 0.98 for a gap of 2 (a refusal vs compliance on a harmful prompt), 0.88 for a gap
# of 1 (an empty reply vs compliance), 0.73 for 0.5 (a correct vs an incorrect helpful answer) and
# ~0.55 for the small length penalties: raters who mostly agree with the checks on clear cases and
# are close to coin flips on near-ties. Equal rewards are coin flips (no information in the label).
DEFAULT_NOISE_TEMPERATURE = 0.5


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class _PromptIndex(dict):
    """Prompt text -> suite row; surrounding whitespace in the lookup key is ignored."""

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and (dict.__contains__(self, key) or dict.__contains__(self, key.strip()))

    def __getitem__(self, key):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        return dict.__getitem__(self, key.strip())


class SuiteWorld:
    """The real prompt suite (harmful / benign look-alikes / format / helpful) with gold checks."""

    name = "suite"
    # The category rates a comparison reports (columns of results.csv and the categories plot).
    categories = ("harmful_declined", "benign_refused", "format_valid", "helpful_refused", "helpful_correct",
                  "empty_rate")
    category_directions = {"harmful_declined": "higher", "benign_refused": "lower", "format_valid": "higher",
                           "helpful_refused": "lower", "helpful_correct": "higher", "empty_rate": "lower"}
    build_base = None  # no base of its own: a comparison names a real model under `model:`
    # No world-specific AI-feedback material: the generic English templates and the default constitution.
    judge_template = None
    judge_options = None
    score_template = None
    score_options = None
    constitution = None

    def __init__(self, noise_temperature: float = DEFAULT_NOISE_TEMPERATURE):
        if noise_temperature <= 0:
            raise ValueError(f"noise_temperature must be positive, got {noise_temperature}")
        self.noise_temperature = noise_temperature
        self.feedback_policy = None  # no separate AI labeler model ships with the suite
        self.by_text = _PromptIndex((p["prompt"], p) for p in all_prompts())
        self.gold = GoldFeedback(lambda row, r: suite_score(row, r).reward, self.by_text, name="suite-gold")

    # ------------------------------------------------------------------ prompts and feedback
    def prompts(self, split: str, n: int, seed: int) -> list[dict]:
        """Rows of ``split`` ("train", "eval" or "all"), a category-balanced prefix of ``n``."""
        return suite_prompts(split, n, seed)

    def _row(self, prompt: Any) -> dict:
        return self.gold.row(prompt)

    def gold_preference(self, prompt_row: Any, a: str, b: str) -> float:
        """P(a better than b) = sigmoid((r_a - r_b) / T): the noiseless probability a rater picks ``a``."""
        row = self._row(prompt_row)
        ra, rb = suite_score(row, a).reward, suite_score(row, b).reward
        return _sigmoid((ra - rb) / self.noise_temperature)

    def rate_pair(self, prompt_row: Any, a: str, b: str, rng: random.Random) -> float:
        """One simulated human label: 1.0 if the rater prefers ``a``, 0.0 if ``b`` (Bradley-Terry)."""
        return 1.0 if rng.random() < self.gold_preference(prompt_row, a, b) else 0.0

    def category_rates(self, rows: list[dict], responses: list[str]) -> dict[str, float]:
        """The suite's rates named in ``categories``; NaN when the rows lack what a rate is over."""
        rates = suite_category_rates([self._row(r) for r in rows], responses)
        return {k: float(rates.get(k, math.nan)) for k in self.categories}


__all__ = ["SuiteWorld", "DEFAULT_NOISE_TEMPERATURE"]
