"""Evaluation metrics: the contract over every registered metric (on a tiny random policy and the suite
world, so it is cheap), registry errors, and a metric written in a file outside the package, named in a
compare recipe, showing up as a column of every table."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from prefzoo.eval.evaluator import EvalConfig, evaluate
from prefzoo.eval.metric import DEFAULT_METRICS, METRICS, Metric, resolve_metrics

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setting():
    from prefzoo.models.policy import Policy
    from prefzoo.models.tiny import words_of
    from prefzoo.recipe import ModelConfig
    from prefzoo.worlds import get_world

    world = get_world("suite")
    rows = world.prompts("eval", 6, 0)
    base = Policy.load(ModelConfig(base="tiny", max_length=96), vocab=words_of([r["prompt"] for r in rows]), seed=0)
    policy = base.clone()
    for p in policy.model.parameters():  # a different policy, so KL and the win rate are not trivially 0 / 0.5
        p.data.add_(0.01)
    return world, rows, base, policy


def test_builtins_are_lazy_and_the_default_list_is_registered():
    assert set(DEFAULT_METRICS) <= set(METRICS.names())
    with pytest.raises(KeyError, match="did you mean 'kl_to_base'"):
        resolve_metrics(["kl_to_bse"])


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_contract(name, setting):
    if name == "judge_win_rate":
        pytest.skip("needs eval.judge (an LLM judge); its contract is checked in tests/test_judge_metric.py")
    world, rows, base, policy = setting
    (metric,) = resolve_metrics([name])
    assert isinstance(metric, Metric)
    assert metric.group in ("headline", "rates", "detail") and metric.description
    cols = metric.columns(world)
    assert cols and set(metric.directions(world)) == set(cols)
    assert set(metric.directions(world).values()) <= {"higher", "lower", "none"}
    cfg = EvalConfig(prompts=len(rows), max_new_tokens=6)
    for pol in (policy, base):
        ev = evaluate(pol, base, world, rows, cfg, metrics=[metric])
        assert list(ev.row()) == list(cols)
        assert all(isinstance(v, float) and (math.isnan(v) or math.isfinite(v)) for v in ev.row().values())
        if metric.per_prompt_key:
            vals = [r[metric.per_prompt_key] for r in ev.per_prompt]
            vals = [v for v in vals if not math.isnan(v)]  # NaN: a prompt the metric has no value for
            if vals:
                assert sum(vals) / len(vals) == pytest.approx(ev.row()[cols[0]])  # the column is their mean
            else:
                assert math.isnan(ev.row()[cols[0]])
    if metric.ci:
        assert metric.per_prompt_key and len(cols) == 1  # a CI needs per-prompt values of one column


def test_base_against_itself(setting):
    world, rows, base, _ = setting
    row = evaluate(base, base, world, rows, EvalConfig(max_new_tokens=6)).row()
    assert list(row)[:5] == ["gold_reward", "win_rate_vs_base", "kl_to_base", "mean_length", "distinct_2"]
    assert list(row)[5:] == list(world.categories)
    assert row["kl_to_base"] == 0.0 and row["win_rate_vs_base"] == 0.5


SHOUT = '''
from prefzoo.eval.metric import MetricBase


class Shout(MetricBase):
    """Share of responses with more than one word (a stand-in for any per-prompt check)."""

    name = "wordy_rate"
    direction = "lower"
    ci = True
    per_prompt_key = "wordy"
    description = "responses longer than one word"

    def compute(self, ctx):
        return self.mean([float(len(t.split()) > 1) for t in ctx.texts])
'''


def test_a_metric_file_named_in_a_compare_recipe_is_a_column(tmp_path, monkeypatch):
    """The file sits next to the recipe and is named relative to it; the run starts from another folder."""
    from prefzoo.compare import run_compare

    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "shout.py").write_text(SHOUT)
    recipe = yaml.safe_load((ROOT / "recipes" / "smoke-compare.yaml").read_text())
    recipe["arms"] = [{"name": "base", "algorithm": "base"}, {"name": "dpo", "algorithm": "dpo"}]
    recipe["eval"]["metrics"] = ["gold_reward", "shout.py:Shout", "kl_to_base"]
    recipe["cache_dir"] = str(ROOT / ".cache" / "prefzoo")  # the smoke base, built once per machine
    path = tmp_path / "recipe" / "metric-smoke.yaml"
    path.write_text(yaml.safe_dump(recipe))
    monkeypatch.chdir(tmp_path)
    out = run_compare(path, out=tmp_path / "out", overrides=["eval.prompts=8", "label_budget=16"], log=lambda *_: None)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert list(rows[0])[:7] == ["arm", "algorithm", "seed", "status", "gold_reward", "kl_to_base", "wordy_rate"]
    assert "win_rate_vs_base" not in rows[0] and "correct" not in rows[0]
    samples = [json.loads(x) for x in (out / "arms" / "dpo" / "seed-0" / "samples.jsonl").read_text().splitlines()]
    assert float(rows[1]["wordy_rate"]) == pytest.approx(sum(s["wordy"] for s in samples) / len(samples), abs=1e-4)
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert list(summary[0])[3:7] == ["gold_reward_mean", "gold_reward_ci_low", "gold_reward_ci_high", "kl_to_base"]
    lo, mean, hi = (float(summary[1][f"wordy_rate_{k}"]) for k in ("ci_low", "mean", "ci_high"))  # a "detail" metric
    assert lo <= mean <= hi and mean == pytest.approx(float(rows[1]["wordy_rate"]), abs=1e-4)
    md = (out / "results.md").read_text()
    assert "wordy_rate_mean" in md and "wordy_rate: responses longer than one word (lower is better)." in md
