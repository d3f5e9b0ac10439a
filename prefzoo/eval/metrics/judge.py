"""Judge win rates: an LLM judge (``eval.judge``) compares each arm's sample on a held-out prompt

(a) with the base's sample on the same prompt, and
(b) with the dataset's chosen reply for that prompt (the AlpacaEval-style reference; a world with test
    pairs, ``world.test_pairs_of``; a prompt with several distinct chosen replies averages over them, a
    prompt without one is NaN).

Each comparison is the judge's pairwise label P(arm better), both orders averaged (the judge's ``swap``,
on by default; it cancels position bias). Columns: ``judge_win_vs_base`` and ``judge_win_vs_ref``
(probability-weighted: the mean P over prompts, per-prompt values kept in samples.jsonl so the report
gives each a CI and a paired verdict against the base), ``judge_win_vs_base_discrete`` and
``judge_win_vs_ref_discrete`` (the share of prompts with P > 0.5, an exact tie 1/2), ``judge_mean_length``
(the arm's mean response length in words; judges favour length, so it sits beside them) and
``judge_failed`` (labels the judge could not give after its retries; they count as missing, never fatal).

The base against itself is 0.5 by definition, and so is any sample identical to the one it is compared
with: no judge call. The judge is any feedback spec that builds an LLM judge (``local:MODEL`` with an
alias, a path, ``policy`` (the base, frozen in use) or ``world``; ``http:URL``; or the mapping form), built
once per process and reused for every arm; its labels are cached on disk (``cache_dir``, default
``$PREFZOO_CACHE/labels``), so a rerun never pays for a label twice. A relative model path is read from the
working folder.
"""
from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from prefzoo.config import ConfigError, to_dict
from prefzoo.eval.metric import EvalContext, MetricBase, MetricValues
from prefzoo.feedback.cache import stable_hash
from prefzoo.feedback.llm_judge import as_text

VS_BASE, VS_REF = "judge_win_vs_base", "judge_win_vs_ref"
COLUMNS = (VS_BASE, f"{VS_BASE}_discrete", VS_REF, f"{VS_REF}_discrete", "judge_mean_length", "judge_failed")
TIE = 1e-9  # |P - 0.5| below this is a tie (the two orders of an order-blind judge average to 0.5 up to rounding)


class _JudgeJob:
    """What the feedback builder reads from a job, for the evaluation's judge (no training job exists)."""

    def __init__(self, world, base, cache_dir: str):
        self.world, self.policy, self.recipe_dir = world, base, None
        self.train = SimpleNamespace(cache_dir=cache_dir)


def references(world, rows: list[dict]) -> list[list[str]]:
    """Per row, the distinct chosen replies of its test pairs (none where the world has no test pairs)."""
    pairs_of = getattr(world, "test_pairs_of", None)
    groups = pairs_of(rows) if pairs_of is not None else [[] for _ in rows]
    return [list(dict.fromkeys(as_text(p["chosen"]) for p in ps)) for ps in groups]


def discrete(p: float) -> float:
    if math.isnan(p):
        return math.nan
    return 0.5 if abs(p - 0.5) < TIE else float(p > 0.5)


def nanmean(xs: list[float]) -> float:
    known = [x for x in xs if not math.isnan(x)]
    return sum(known) / len(known) if known else math.nan


class JudgeWinRate(MetricBase):
    name = "judge_win_rate"
    direction = "higher"
    group = "rates"
    description = ("an LLM judge's P(arm better), both orders averaged, against the base's sample and against the "
                   "dataset's chosen reply; _discrete: share with P > 0.5 (ties 1/2)")
    _judges: dict = {}  # (spec, world[, base]) -> (judge, world, base): one judge per process, for every arm

    def columns(self, world: Any) -> tuple[str, ...]:
        return COLUMNS

    def directions(self, world: Any) -> dict:
        return {c: "none" if c in ("judge_mean_length", "judge_failed") else "higher" for c in COLUMNS}

    def per_prompt_keys(self, world: Any) -> dict[str, str]:
        """column -> its samples.jsonl field: the probability-weighted win rates (CIs and paired verdicts)."""
        return {VS_BASE: VS_BASE, VS_REF: VS_REF}

    @classmethod
    def judge_for(cls, ctx: EvalContext):
        """The LLM judge ``ctx.cfg.judge`` names, built on first use and reused for every arm."""
        from prefzoo.feedback.spec import build_feedback, parse_spec
        from prefzoo.recipe import default_cache_dir

        raw = getattr(ctx.cfg, "judge", None)
        if raw is None:
            raise ConfigError("metric judge_win_rate needs eval.judge (the judge: local:MODEL, http:URL or a "
                              "mapping with backend: ...); it is unset")
        spec = parse_spec(raw, "eval.judge")
        uses_base = spec.backend == "local" and spec.model == "policy"  # the base itself judges
        key = (stable_hash(to_dict(spec)), id(ctx.world), id(ctx.base) if uses_base else None)
        if key not in cls._judges:
            job = _JudgeJob(ctx.world, ctx.base, default_cache_dir())
            judge = build_feedback(spec, job, role="eval.judge", frozen_policy=ctx.base)
            if not hasattr(judge, "judge_pairs"):
                raise ConfigError(f"eval.judge {raw!r} builds a {type(judge).__name__}, not an LLM judge; give "
                                  f"local:MODEL, http:URL or a mapping with backend: local | http")
            cls._judges[key] = (judge, ctx.world, ctx.base)  # world and base kept alive: their ids stay theirs
        return cls._judges[key][0]

    def compute(self, ctx: EvalContext) -> MetricValues:
        n = len(ctx.rows)
        prompts = [r["prompt"] for r in ctx.rows]
        refs = references(ctx.world, ctx.rows)
        asks = [(VS_REF, i, r) for i in range(n) for r in refs[i]]
        if not ctx.is_base:
            asks = [(VS_BASE, i, b) for i, b in enumerate(ctx.base_texts)] + asks
        todo = [k for k, (_, i, other) in enumerate(asks) if ctx.texts[i] != other]
        probs = [0.5] * len(asks)  # identical samples: a tie, no call
        failed = 0
        judge = self.judge_for(ctx)  # first: an unset or wrong eval.judge is refused even when no call is due
        if todo:
            done = judge.judge_pairs([prompts[asks[k][1]] for k in todo], [ctx.texts[asks[k][1]] for k in todo],
                                     [asks[k][2] for k in todo])
            for k, j in zip(todo, done):
                probs[k] = math.nan if j.failed else float(j.p_a)
                failed += bool(j.failed)
        per: dict[str, list[list[float]]] = {VS_BASE: [[] for _ in range(n)], VS_REF: [[] for _ in range(n)]}
        for (col, i, _), p in zip(asks, probs):
            per[col][i].append(p)
        if ctx.is_base:
            per[VS_BASE] = [[0.5] for _ in range(n)]  # the base against itself, by definition
        values: dict[str, float] = {}
        per_prompt: dict[str, list] = {}
        for col in (VS_BASE, VS_REF):
            weighted = [nanmean(ps) for ps in per[col]]
            hard = [nanmean([discrete(p) for p in ps]) for ps in per[col]]
            values[col], values[f"{col}_discrete"] = nanmean(weighted), nanmean(hard)
            per_prompt[col] = weighted
        lengths = [len(t.split()) for t in ctx.texts]
        values["judge_mean_length"] = sum(lengths) / len(lengths) if lengths else math.nan
        values["judge_failed"] = float(failed)  # a float, as every column
        return MetricValues(values, per_prompt)


__all__ = ["JudgeWinRate", "references", "COLUMNS"]
