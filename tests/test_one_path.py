"""One training path (issue #11): ``runner.train_one`` builds and runs any algorithm for ``prefzoo
train`` and for every compare arm, and the job carries its recipe folder, so a relative
``reward: rule:FILE.py:FUNC`` resolves there in a compare arm too. Fast: a smoke-sized toy base
(built once per machine, cached), one online step."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from prefzoo import compare
from prefzoo.config import ConfigError
from prefzoo.engine.tracking import read_metrics
from prefzoo.job import Job
from prefzoo.recipe import TrainConfig
from prefzoo.runner import AlgorithmSpec, train_one

ROOT = Path(__file__).resolve().parents[1]
# the smoke base of tests/test_compare.py (same config, so the cached build is reused)
BASE = {"pretrain_records": 300, "pretrain_epochs": 1, "sft_records": 100, "hidden_size": 32,
        "num_hidden_layers": 1, "intermediate_size": 64, "feedback_records": 100, "feedback_epochs": 1}
RULE = "def quarter(prompt, response):\n    return 0.25\n"


def rule_recipe(folder: Path) -> Path:
    """A compare recipe in ``folder`` whose one trained arm is rewarded by ``rules_here.py`` next to it,
    named by a relative path."""
    (folder / "rules_here.py").write_text(RULE)
    recipe = {"name": "relative-rule", "world": "toy", "base": BASE, "train_prompts": 8, "label_budget": 8,
              "seeds": [0], "train": {"lr": 0.001, "batch_size": 8, "epochs": 1, "progress": False},
              "eval": {"prompts": 4, "max_new_tokens": 4}, "sample_max_new_tokens": 6, "workers": 1,
              "cache_dir": str(ROOT / ".cache" / "prefzoo"),
              "arms": [{"name": "rloo-rule", "algorithm": "rloo",
                        "params": {"reward": "rule:rules_here.py:quarter", "steps": 1, "prompts_per_step": 4,
                                   "samples_per_prompt": 2, "max_new_tokens": 4}}]}
    path = folder / "relative-rule.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def check_rule_arm(out: Path) -> None:
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["status"] for r in rows] == ["ok"], [r["error"] for r in rows]
    logged = read_metrics(out / "arms" / "rloo-rule" / "seed-0")
    assert logged and logged[0]["reward_mean"] == pytest.approx(0.25, abs=1e-6)  # the file's rule rewarded it


def test_relative_rule_reward_works_in_a_compare_arm(tmp_path, monkeypatch):
    """The compare arm's Job carries the recipe folder (as run_recipe's does): the rule file named by a
    relative path is found next to the recipe while the working directory is elsewhere."""
    path = rule_recipe(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    check_rule_arm(compare.run_compare(path, out=tmp_path / "out", log=lambda *_: None))


class Closable:
    closed = False
    out_dir = None

    def close(self):
        self.closed = True


def test_train_one_checks_params_and_closes_the_tracker(tiny_policy, tmp_path):
    tracker = Closable()
    job = Job(policy=tiny_policy, train=TrainConfig(progress=False), out_dir=tmp_path, tracker=tracker)
    with pytest.raises(ConfigError, match="did you mean 'beta'"):
        train_one(AlgorithmSpec("dpo", {"betta": 0.1}, "arms.dpo.params"), job)
    assert tracker.closed


def test_train_one_runs_a_scalar_objective_by_module_name(tiny_pairs, tiny_policy, tmp_path):
    """Any Objective with model_kind "scalar" runs in the offline loop: ``module:Class`` names the stage's
    Bradley-Terry objective; the policy is left untouched and the trained scalar-head model comes back."""
    from prefzoo.data import records_from_list

    pairs, _ = records_from_list(tiny_pairs, "pairs")
    before = tiny_policy.weights_hash()
    job = Job(policy=tiny_policy, train=TrainConfig(lr=1e-3, batch_size=2, progress=False), out_dir=tmp_path,
              data={"pairs": pairs})
    result = train_one(AlgorithmSpec("prefzoo.stages.reward:BradleyTerry"), job)
    assert tiny_policy.weights_hash() == before
    assert result.info["steps"] == 2 and "accuracy" in result.final and "margin" in result.final
    rm = result.artifacts["reward_model"]
    assert rm.score(["color of the sea ?"], ["blue"]).shape == (1,)
    assert [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]
