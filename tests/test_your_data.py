"""recipes/your-data.yaml (issue 12): the documented starting point runs on the bundled example, and on other
data in another format with another gold; an arm trained on its own gold is refused."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from prefzoo.compare import run_compare
from prefzoo.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "your-data.yaml"
QUIET = lambda *_: None  # noqa: E731


def rows_of(out: Path) -> list[dict]:
    return list(csv.DictReader(open(out / "results.csv")))


def test_your_data_runs_on_the_bundled_example_in_under_a_minute(tmp_path):
    t = time.time()
    out = run_compare(RECIPE, out=tmp_path / "out", log=QUIET)
    assert time.time() - t < 60
    rows = rows_of(out)
    arms = {"base", "dpo", "ipo", "simpo", "ppo"}
    assert sorted((r["arm"], r["seed"]) for r in rows) == sorted((a, s) for a in arms for s in ("0", "1"))
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    for r in rows:
        assert r["gold_reward"] and r["heldout_accuracy"]
        assert 0.0 <= float(r["heldout_accuracy"]) <= 1.0
    assert {r["heldout_accuracy"] for r in rows if r["arm"] == "base"} == {"0.5000"}  # log(pi/pi_base) = 0: ties


def test_other_data_in_another_format_with_another_gold(tmp_path):
    """--set data.path=OTHER.jsonl (TRL standard, plain text) --set eval.gold=reward-model:DIR, from another folder."""
    pairs = [{"prompt": f"what is {i} plus {i} ?", "chosen": f"{2 * i} .", "rejected": "i can not help with that ."}
             for i in range(40)]
    (tmp_path / "other.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    rm = ROOT / "recipes" / "data" / "tiny-rm"
    sets = [f"data.path={tmp_path / 'other.jsonl'}", "data.format=standard", f"eval.gold=reward-model:{rm}",
            "seeds=[0]", "arms.ppo.params.steps=2"]
    out = run_compare(RECIPE, out=tmp_path / "out", overrides=sets, log=QUIET)
    rows = rows_of(out)
    assert {r["arm"] for r in rows} == {"base", "dpo", "ipo", "simpo", "ppo"} and {r["seed"] for r in rows} == {"0"}
    assert all(r["status"] == "ok" and r["gold_reward"] and r["heldout_accuracy"] for r in rows)
    samples = [json.loads(x) for x in (out / "arms" / "dpo" / "seed-0" / "samples.jsonl").read_text().splitlines()]
    assert all("plus" in s["prompt"] for s in samples)  # evaluated on the other data's test prompts


@pytest.mark.parametrize("sets,message", [
    (["arms.ppo.params.reward=world"], "rewarded by 'world', the gold it is scored by"),
    (["eval.gold=rule:gold_rule.py:score", "arms.ppo.params.reward=rule:gold_rule.py:score"],
     "rewarded by 'rule:gold_rule.py:score', the gold"),
])
def test_an_arm_trained_on_its_own_gold_is_refused(tmp_path, sets, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.read_text().replace("data/hh_example.jsonl", str(ROOT / "recipes/data/hh_example.jsonl"))
                      .replace("reward-model:data/tiny-rm", "world"))
    (tmp_path / "gold_rule.py").write_text("def score(prompt, response):\n    return float(len(response))\n")
    with pytest.raises(ConfigError, match=message):
        run_compare(recipe, out=tmp_path / "out", overrides=sets, log=QUIET)
    out = run_compare(recipe, out=tmp_path / "ok", overrides=sets + ["eval.allow_gold_as_reward=true", "seeds=[0]",
                                                                     "arms.ppo.params.steps=1"], log=QUIET)
    assert all(r["status"] == "ok" for r in rows_of(out))


def test_a_prompt_only_dataset_compares_online_arms(tmp_path):
    """data.kind: prompts (a prompts file) and a reward: RL-only arms, scored on the held-out prompts by eval.gold."""
    from prefzoo.testing import tiny_policy

    prompts = [{"prompt": f"say something about color {i} ?"} for i in range(40)]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    (tmp_path / "rules.py").write_text("def blue(prompt, response):\n    return float('blue' in response.split())\n\n\n"
                                       "def short(prompt, response):\n    return 1.0 / (1 + len(response.split()))\n")
    policy = tiny_policy(prompts + [{"prompt": "x", "completion": "blue red green ."}])
    policy.save(tmp_path / "base")
    recipe = {"name": "prompts-only", "world": "dataset", "model": {"base": str(tmp_path / "base"), "max_length": 48},
              "data": {"path": "prompts.jsonl", "kind": "prompts", "test_fraction": 0.25},
              "seeds": [0], "train_prompts": 16, "train": {"lr": 0.003, "progress": False},
              "eval": {"max_new_tokens": 6, "gold": "rule:rules.py:short",
                       "metrics": ["gold_reward", "win_rate_vs_base", "kl_to_base", "mean_length"]},
              "arms": [{"name": "base", "algorithm": "base"},
                       {"name": "rloo", "algorithm": "rloo",
                        "params": {"reward": "rule:rules.py:blue", "steps": 2, "prompts_per_step": 4,
                                   "max_new_tokens": 6}},
                       {"name": "dpo", "algorithm": "dpo"}]}
    (tmp_path / "recipe.yaml").write_text(json.dumps(recipe))
    out = run_compare(tmp_path / "recipe.yaml", out=tmp_path / "out", log=QUIET)
    rows = {r["arm"]: r for r in rows_of(out)}
    assert rows["base"]["status"] == "ok" and rows["rloo"]["status"] == "ok" and rows["rloo"]["gold_reward"]
    assert rows["dpo"]["status"] == "failed" and "pairs" in rows["dpo"]["error"]  # no pairs to learn from: said
