"""One evaluator for every arm: the same held-out prompts, sampler and metrics for all.

Per arm it samples once (seeded, as deployed) and hands the samples to each metric named in
``eval.metrics`` (``prefzoo.eval.metric``; the default: gold reward, win rate against the base under the
gold preference, KL(policy || base) per sequence, mean length, distinct-2, the world's category rates).
Confidence intervals: a bootstrap over seeds and prompts (``bootstrap_ci``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from prefzoo.eval.metric import DEFAULT_METRICS, EvalContext, Metric, resolve_metrics
from prefzoo.eval.metrics.distinct import distinct_n
from prefzoo.eval.metrics.kl import sequence_logps
from prefzoo.models.policy import Policy, length_groups


@dataclass
class EvalConfig:
    prompts: int = 200             # held-out prompts (the world's eval split)
    max_new_tokens: int = 40
    temperature: float = 1.0       # sample as deployed; KL is estimated on these samples
    batch_size: int = 100
    seed: int = 1234               # the same sampling seed for every arm
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))  # names in prefzoo.eval.metric.METRICS,
                                   # or file.py:Class (relative to the recipe) / module:Class; their order is the tables'
    gold: str | None = None        # the gold reward the arms are scored by: reward-model:PATH|HUB_ID (any
                                   # AutoModelForSequenceClassification, its own tokenizer; or a prefzoo reward
                                   # model), rule:FILE.py:FUNC, world; None: the world's own gold
    allow_gold_as_reward: bool = False  # let an arm train on the reward it is scored by (overoptimisation is
                                   # then invisible: refused unless set)
    judge: str | dict | None = None  # the LLM judge of the judge_win_rate metric (pairwise, both orders, labels
                                   # cached): any feedback spec that builds one: local:MODEL (an alias, a path,
                                   # policy: the base itself, world) or http:URL, or a mapping with every setting
                                   # (backend, http, template, swap, cache_dir, ...); None: that metric is refused

    def __post_init__(self):
        if self.judge is None and "judge_win_rate" in self.metrics:
            raise ValueError("eval.metrics names judge_win_rate but eval.judge is unset: name the judge, e.g. "
                             "--set eval.judge=local:PATH_OR_ALIAS or --set eval.judge=http:http://HOST/v1")
        if self.judge is not None:
            from prefzoo.feedback.spec import parse_spec

            parse_spec(self.judge, "eval.judge")  # a typo fails here, before any arm trains


@dataclass
class Evaluation:
    values: dict[str, float]                              # column -> value, in the metrics' order
    per_prompt: list[dict] = field(default_factory=list)  # id, category, prompt, response, then each metric's field

    def row(self) -> dict:
        return dict(self.values)


@torch.no_grad()
def sample(policy: Policy, prompts: list, cfg: EvalConfig) -> tuple[list[str], list[list[int]], list[list[int]]]:
    """Seeded samples: (texts, completion ids, prompt ids)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    n = len(prompts)
    texts, comp_ids, prompt_ids = [""] * n, [[] for _ in range(n)], [[] for _ in range(n)]
    encoded = [policy.encode_prompt(p) for p in prompts]
    for idx in length_groups([len(e) for e in encoded], cfg.batch_size):  # less padding
        comps, enc = policy.generate_ids([prompts[i] for i in idx], max_new_tokens=cfg.max_new_tokens,
                                         temperature=cfg.temperature, encoded=[encoded[i] for i in idx])
        for i, c, e in zip(idx, comps, enc):
            texts[i], comp_ids[i], prompt_ids[i] = policy.decode(c), c, e
    torch.random.set_rng_state(state)
    return texts, comp_ids, prompt_ids


def evaluate(policy: Policy, base: Policy, world, rows: list[dict], cfg: EvalConfig,
             base_texts: list[str] | None = None, metrics: list[Metric] | None = None) -> Evaluation:
    """Score ``policy`` on ``rows`` (the world's eval prompts) against ``base`` with ``metrics``
    (default: those ``cfg.metrics`` names, file paths relative to the working folder)."""
    metrics = resolve_metrics(cfg.metrics) if metrics is None else metrics
    prompts = [r["prompt"] for r in rows]
    texts, comp_ids, prompt_ids = sample(policy, prompts, cfg)
    ctx = EvalContext(policy, base, world, rows, cfg, texts, comp_ids, prompt_ids, base_texts,
                      sample_base=lambda: sample(base, prompts, cfg)[0])
    values: dict[str, float] = {}
    per_prompt = [{"id": r.get("id"), "category": r.get("category"), "prompt": r["prompt"], "response": t}
                  for r, t in zip(rows, texts)]
    for metric in metrics:
        out = metric.compute(ctx)
        clash = set(out.values) & set(values)
        if clash:
            raise ValueError(f"metric {metric.name!r} fills column(s) {sorted(clash)} that another metric filled")
        values.update(out.values)
        for key, vals in out.per_prompt.items():
            if len(vals) != len(rows):
                raise ValueError(f"metric {metric.name!r}: {len(vals)} per-prompt values for {len(rows)} prompts")
            for rec, v in zip(per_prompt, vals):
                rec[key] = v
    return Evaluation(values, per_prompt)


def bootstrap_ci(per_seed: list[list[float]], reps: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile CI, resampling seeds and then prompts within each seed (two-level): each of
    ``reps`` draws picks len(per_seed) seeds with replacement and, for each pick, that seed's prompts with
    replacement; the statistic is the mean of the picks' means. Vectorised (numpy), seeded."""
    import numpy as np

    per_seed = [s for s in per_seed if s]
    if not per_seed:
        return float("nan"), float("nan"), float("nan")
    mean = sum(sum(s) / len(s) for s in per_seed) / len(per_seed)
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(s, dtype=float) for s in per_seed]
    k = len(arrays)
    picks = rng.integers(0, k, size=(reps, k))     # which seed fills each slot of each draw
    means = np.empty((reps, k))
    for i, values in enumerate(arrays):            # the prompt resamples of seed i, for every slot it fills
        where = picks == i
        n = int(where.sum())
        if n:
            means[where] = values[rng.integers(0, len(values), size=(n, len(values)))].mean(axis=1)
    stats = np.sort(means.mean(axis=1))
    lo = float(stats[int((1 - level) / 2 * reps)])
    hi = float(stats[min(reps - 1, int((1 + level) / 2 * reps))])
    return mean, lo, hi


def keyed(rows: list[dict]) -> dict[tuple, dict]:
    """Samples by pairing key, (prompt id, how many samples of that id came before it): an eval set may hold
    a prompt more than once (the toy world's 400 eval prompts have 342 distinct ids), and keyed by the id
    alone a dict kept only each prompt's last sample, so a paired comparison silently dropped the others.
    Every arm is evaluated on the same rows in the same order, so the k-th sample of a prompt pairs with the
    k-th. A sample without an id is keyed by its position."""
    seen: dict = {}
    result = {}
    for i, r in enumerate(rows):
        pid = i if r.get("id") is None else r["id"]
        k = seen.get(pid, 0)
        result[(pid, k)], seen[pid] = r, k + 1
    return result


def paired_verdict(arm: list[dict], base: list[dict], direction: str, reps: int = 2000,
                   level: float = 0.95) -> tuple[float, float, float, str]:
    """Arm minus base, paired by prompt within each seed: ``arm[k]`` and ``base[k]`` map a prompt's key
    (``keyed``: its id and occurrence) -> value for seed k. The two-level bootstrap of ``bootstrap_ci`` over
    the per-prompt differences gives (mean, low, high); the verdict is "better" when the interval is clear of 0 on the side ``direction`` favours
    ("higher" or "lower"), "worse" when clear on the other side, else "tie"."""
    diffs = [[a[k] - b[k] for k in a if k in b] for a, b in zip(arm, base)]
    mean, lo, hi = bootstrap_ci(diffs, reps=reps, level=level)
    if math.isnan(mean):
        return mean, lo, hi, "n/a"
    sign = 1.0 if direction == "higher" else -1.0
    lo_s, hi_s = sorted((sign * lo, sign * hi))
    return mean, lo, hi, "better" if lo_s > 0 else "worse" if hi_s < 0 else "tie"


__all__ = ["EvalConfig", "Evaluation", "evaluate", "sample", "bootstrap_ci", "keyed", "paired_verdict", "distinct_n",
           "sequence_logps"]
