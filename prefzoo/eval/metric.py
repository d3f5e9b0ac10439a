"""Evaluation metrics: the ``Metric`` protocol and the ``METRICS`` registry.

A metric is one file: a class with a ``name``, a direction and ``compute(ctx) -> MetricValues``; the
recipe names it in ``eval.metrics`` (a registered name, ``file.py:Class`` relative to the recipe, or
``module:Class``). ``ctx`` (``EvalContext``) holds what every metric shares, computed once per arm:
the policy's seeded samples on the held-out prompts, their token ids, the base's samples (on first
use), and a ``memo`` for intermediate results two metrics need (e.g. log-probs).

Where the tables put a metric's columns (``group``): ``headline`` (after the run's identity in every
table; with ``ci``, the summary shows ``<col>_mean``, ``<col>_ci_low``, ``<col>_ci_high`` from a
crossed bootstrap over seeds and prompts of its per-prompt values), ``rates`` (after the headline
in the summary, after the timing columns in results.csv), ``detail`` (after the rates in results.md;
the default for a new metric).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from prefzoo.registry import Registry

Direction = Literal["higher", "lower", "none"]  # which way is better ("none": neither, e.g. length)


@dataclass
class MetricValues:
    """What ``compute`` returns: the arm's value per column, and per-prompt values per samples.jsonl
    field (one per held-out prompt, in the prompts' order)."""

    values: dict[str, float]
    per_prompt: dict[str, list] = field(default_factory=dict)


@dataclass
class EvalContext:
    """One arm's evaluation material, shared by every metric."""

    policy: Any                        # prefzoo.models.policy.Policy being evaluated
    base: Any                          # the base it is compared with (``policy is base`` for the base arm)
    world: Any                         # the testbed (gold, gold_preference, category_rates)
    rows: list[dict]                   # held-out prompt rows (id, prompt, category, ...)
    cfg: Any                           # EvalConfig
    texts: list[str]                   # the policy's seeded samples, one per row
    completion_ids: list[list[int]]
    prompt_ids: list[list[int]]
    base_texts_given: list[str] | None = None
    sample_base: Callable[[], list[str]] | None = None  # the base's seeded samples, drawn on first use
    memo: dict = field(default_factory=dict)           # results several metrics share (e.g. log-probs)

    @property
    def is_base(self) -> bool:
        return self.policy is self.base

    @property
    def base_texts(self) -> list[str]:
        """The base's samples on the same prompts and seed (sampled on first use unless given)."""
        if self.base_texts_given is None:
            self.base_texts_given = self.texts if self.is_base else self.sample_base()
        return self.base_texts_given


@runtime_checkable
class Metric(Protocol):
    name: str                          # the registry name; the column unless ``columns`` says otherwise
    direction: Direction
    group: Literal["headline", "rates", "detail"]
    ci: bool                           # summary with a bootstrap CI over the per-prompt values
    per_prompt_key: str | None         # the samples.jsonl field of its per-prompt values (None: none)
    description: str                   # one line for a glossary

    def columns(self, world: Any) -> tuple[str, ...]: ...

    def directions(self, world: Any) -> dict[str, Direction]: ...

    def compute(self, ctx: EvalContext) -> MetricValues: ...


class MetricBase:
    """Defaults for a one-column metric; a subclass sets ``name``, ``direction`` and ``compute``."""

    name = ""
    direction: Direction = "none"
    group = "detail"
    ci = False
    per_prompt_key: str | None = None
    description = ""
    verdict = True  # with a direction and per-prompt values: a paired verdict against the base in the summary

    def columns(self, world: Any) -> tuple[str, ...]:
        return (self.name,)

    def directions(self, world: Any) -> dict[str, Direction]:
        return {c: self.direction for c in self.columns(world)}

    def mean(self, per_prompt: list[float]) -> MetricValues:
        """The usual result: the mean over prompts, with the per-prompt values kept where they have a field."""
        values = {self.name: sum(per_prompt) / len(per_prompt)}
        return MetricValues(values, {self.per_prompt_key: per_prompt} if self.per_prompt_key else {})

    def compute(self, ctx: EvalContext) -> MetricValues:
        raise NotImplementedError


def _name_metric(name: str, cls: Any) -> None:
    if not getattr(cls, "name", ""):
        cls.name = name


METRICS = Registry("metric", required=("direction", "compute", "columns"), entry_points="prefzoo.metrics",
                   on_register=_name_metric, builtins={
                       "gold_reward": "prefzoo.eval.metrics.gold:GoldReward",
                       "win_rate_vs_base": "prefzoo.eval.metrics.win_rate:WinRateVsBase",
                       "kl_to_base": "prefzoo.eval.metrics.kl:KLToBase",
                       "mean_length": "prefzoo.eval.metrics.length:MeanLength",
                       "distinct_2": "prefzoo.eval.metrics.distinct:Distinct2",
                       "categories": "prefzoo.eval.metrics.categories:CategoryRates",
                       "heldout_accuracy": "prefzoo.eval.metrics.heldout:HeldoutAccuracy",
                       "judge_win_rate": "prefzoo.eval.metrics.judge:JudgeWinRate"},
                   hint="(A metric file: `eval.metrics: [..., my_metric.py:MyMetric]`, relative to the recipe.)")

# Today's table columns, in today's order.
DEFAULT_METRICS = ["gold_reward", "win_rate_vs_base", "kl_to_base", "mean_length", "distinct_2", "categories"]


def resolve_metrics(names: list[str], base_dir: str | Path | None = None) -> list[Metric]:
    """Metric objects for ``eval.metrics`` (unknown names raise with "did you mean")."""
    out = []
    for name in names:
        metric = METRICS.get(name, base_dir)()
        if not metric.name:
            metric.name = name.rpartition(":")[2]  # a file-loaded class without a name: its class name
        out.append(metric)
    return out


def anchor(names: list[str], base_dir: str | Path | None) -> list[str]:
    """``eval.metrics`` with ``file.py:Class`` entries made absolute (found relative to ``base_dir`` as
    ``registry.load_module`` finds them), so that every later lookup, in any process, gets the same file."""
    from prefzoo.registry import load_module

    out = []
    for name in names:
        where, sep, attr = name.rpartition(":")
        if sep and where.endswith(".py"):
            name = f"{Path(load_module(where, base_dir).__file__).resolve()}:{attr}"
        out.append(name)
    return out


__all__ = ["Metric", "MetricBase", "MetricValues", "EvalContext", "METRICS", "DEFAULT_METRICS", "resolve_metrics",
           "anchor", "Direction"]
