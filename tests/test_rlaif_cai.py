"""rlaif, cai and cai-dpo end to end through the recipe runner (what `prefzoo train` runs), on a tiny
local Llama and the bundled prompts; any registered pairwise or online learner behind them; their one
monotone metrics.jsonl; plus labeler alignment against a world's gold rubric."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefzoo import registry
from prefzoo.config import ConfigError, from_dict
from prefzoo.engine.tracking import Tracker, read_metrics
from prefzoo.recipe import TrainRecipe, load_train_recipe, read_yaml
from prefzoo.runner import build_algorithm, run_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(name: str, out: Path, tmp: Path, overrides=(), edit=None):
    path = RECIPES / name
    sets = [f"train.cache_dir={tmp / 'cache'}", "train.progress=false", *overrides]
    if edit is None:
        recipe = load_train_recipe(path, sets)
    else:
        data = read_yaml(path)
        edit(data)
        recipe = from_dict(TrainRecipe, {**data, "train": {**data["train"], "cache_dir": str(tmp / "cache"),
                                                           "progress": False}})
    return run_recipe(recipe, out, recipe_dir=RECIPES)


def test_registered_as_composite_prompt_algorithms():
    for name in ("rlaif", "cai", "cai-dpo"):
        d = registry.describe(name)
        assert d["family"] == "composite" and d["data_kind"] == "prompts"


def test_rlaif_recipe_end_to_end(tmp_path):
    out = tmp_path / "rlaif"
    result = run("tiny-rlaif.yaml", out, tmp_path)
    assert (out / "model" / "config.json").exists()
    pairs = rows(out / "ai_pairs.jsonl")
    assert len(pairs) == result.info["ai_labels"]["labelled"] >= 10
    for p in pairs:
        assert p["chosen"] != p["rejected"] and 0.5 <= p["p_chosen"] <= 1.0
        assert p["p_a_second"] is not None                   # both orders were scored
    info = json.loads((out / "result.json").read_text())["info"]
    assert 0.0 <= info["position_bias"] <= 1.0 and "labeler_alignment" in info
    assert info["learner"]["steps"] == 4 and result.history[-1]["step"] == 4
    cache = Path(info["label_cache"]["path"])
    assert cache.exists() and cache.parent == tmp_path / "cache" / "labels"


def test_cai_recipe_end_to_end(tmp_path):
    out = tmp_path / "cai"
    result = run("tiny-cai.yaml", out, tmp_path)
    assert (out / "model" / "config.json").exists()
    crit = rows(out / "critiques.jsonl")
    assert len(crit) == 12 and {"principle", "critique_request", "critique", "revision_request", "revision"} <= set(crit[0])
    from prefzoo.constitutions import load_constitution

    names = {p.name for p in load_constitution().principles}
    assert {c["principle"] for c in crit} <= names
    assert len(rows(out / "revisions.jsonl")) == result.info["sl"]["sl_records"] > 0
    pairs = rows(out / "ai_pairs.jsonl")
    assert pairs and all(p["principle"].startswith("comparison-") for p in pairs)
    sl_final = result.info["sl"]["final"]
    assert sl_final["stage"] == "sl" and sl_final["step"] == sl_final["stage_step"] == 3
    last = result.history[-1]  # the learner's steps continue after the SL stage's
    assert last["stage"] == "learner" and last["stage_step"] == 3 and last["step"] == 6


def test_cai_dpo_end_to_end(tmp_path):
    def edit(data):
        data["algorithm"] = "cai-dpo"
        data["params"] = {"n_prompts": 8, "max_new_tokens": 8,
                          "learner": {"params": {"beta": 0.1}, "train": {"max_steps": 2}}}

    out = tmp_path / "cai-dpo"
    result = run("tiny-cai.yaml", out, tmp_path, edit=edit)
    assert (out / "model" / "config.json").exists()
    pairs = rows(out / "ai_pairs.jsonl")
    crit = {c["prompt"]: c for c in rows(out / "critiques.jsonl")}
    assert len(pairs) == result.info["critique"]["pairs"] > 0
    for p in pairs:  # chosen = the revision, rejected = the original
        assert p["chosen"] == crit[p["prompt"]]["revision"] and p["rejected"] == crit[p["prompt"]]["response"]
    assert (out / "revisions.jsonl").exists()


def test_rlaif_with_a_world_reports_alignment_and_position_bias(tmp_path):
    """A world with its own judge template/options and a gold rubric (here: longer is better, so the
    random tiny model's samples are rarely tied): the info carries both numbers for the compare table."""
    from prefzoo.data.loaders import load_records
    from prefzoo.feedback.base import RuleFeedback
    from prefzoo.job import Job
    from prefzoo.models.policy import Policy
    from prefzoo.models.tiny import words_of
    from prefzoo.recipe import ModelConfig, TrainConfig

    class World:
        judge_template = "which is better ? {prompt} x : {a} y : {b}"
        judge_options = ("x", "y")
        gold = RuleFeedback(lambda prompt, response: float(len(response)))

    prompts, _ = load_records(RECIPES / "data" / "tiny_pairs.jsonl", "prompts")
    prompts = prompts.select(range(8))
    vocab = words_of(list(prompts["prompt"]) + [World.judge_template])
    policy = Policy.load(ModelConfig(base="tiny", max_length=64), vocab=vocab, seed=0)
    algo = build_algorithm("rlaif", {"max_new_tokens": 6, "learner": {"train": {"max_steps": 1}}})
    job = Job(policy=policy, train=TrainConfig(lr=1e-3, batch_size=4, progress=False, cache_dir=str(tmp_path / "c")),
              out_dir=tmp_path / "out", data={"prompts": prompts}, world=World())
    info = algo.run(job).info
    detail = info["labeler_alignment_detail"]
    assert detail["source"] == "gold" and detail["n"] + detail["ties_excluded"] == info["ai_labels"]["labelled"]
    assert detail["n"] > 0 and info["labeler_alignment"] == detail["agreement"]
    assert 0.0 <= info["labeler_alignment"] <= 1.0 and 0.0 <= info["position_bias"] <= 1.0
    cache = Path(info["label_cache"]["path"]).read_text()
    assert "which is better ?" in cache and '"x", "y"' in cache  # the world's template and options were used


def test_learner_params_are_checked_by_the_learner_config():
    with pytest.raises(ConfigError, match="did you mean 'beta'"):
        build_algorithm("rlaif", {"learner": {"params": {"betta": 0.1}}})
    with pytest.raises(ConfigError, match="unknown key"):
        build_algorithm("cai", {"learner": {"algorithm": "dpo"}, "sl_train": {"max_stepz": 3}})
    with pytest.raises(ConfigError, match="did you mean 'grpo'"):
        build_algorithm("rlaif", {"learner": {"algorithm": "grpoo"}})


@pytest.mark.parametrize("learner, message", [
    ({"algorithm": "sft"}, "can learn neither"),               # an objective, but not over pairs
    ({"algorithm": "kto"}, "can learn neither"),
    ({"algorithm": "grpo"}, "needs reward: reward-model"),     # online: say what rewards it
    ({"algorithm": "dpo", "reward": "judge"}, "online learners only"),
    ({"algorithm": "grpo", "reward": "judge", "params": {"reward": "world"}}, "learner.reward"),
    ({"algorithm": "grpo", "reward": "judge", "reward_model": {"lr": 0.1}}, "reward: reward-model only"),
    ({"algorithm": "grpo", "reward": "judge", "train": {"max_stepz": 1}}, "max_steps"),
])
def test_learner_spec_is_checked_by_capability(learner, message):
    with pytest.raises(ConfigError, match=message):
        build_algorithm("rlaif", {"learner": learner})


def test_cai_learners_need_a_reward_model_not_a_judge():
    with pytest.raises(ConfigError, match="reward: reward-model"):
        build_algorithm("cai", {"learner": {"algorithm": "rloo", "reward": "judge"}})
    with pytest.raises(ConfigError, match="no judge"):
        build_algorithm("cai-dpo", {"learner": {"algorithm": "rloo", "reward": "judge"}})
    assert build_algorithm("cai", {"learner": None}).config.learner is None          # stop after SL-CAI
    default = build_algorithm("cai", {}).config.learner                              # the paper's RL stage
    assert (default.algorithm, default.reward) == ("ppo", "reward-model")


ONLINE = {"steps": 2, "prompts_per_step": 4, "samples_per_prompt": 2, "max_new_tokens": 6}


@pytest.mark.parametrize("learner, stages", [
    ({"algorithm": "ipo", "params": {"tau": 0.1}, "train": {"max_steps": 2}}, ["learner"]),
    ({"algorithm": "grpo", "reward": "judge", "params": ONLINE}, ["learner"]),                      # direct RLAIF
    ({"algorithm": "rloo", "reward": "reward-model", "params": ONLINE,                             # distilled
      "reward_model": {"lr": 0.001, "normalise_on": 4, "max_new_tokens": 6}}, ["reward_model", "learner"]),
])
def test_any_registered_learner_behind_rlaif(tmp_path, learner, stages):
    """The learner is found by capability: ipo (an objective over pairs) trains on the AI pairs; grpo is
    rewarded by the judge itself; rloo by a reward model distilled from the AI pairs."""
    out = tmp_path / "rlaif"
    result = run("tiny-rlaif.yaml", out, tmp_path, [f"params.learner={learner}", "params.n_prompts=8"])
    rows_ = read_metrics(out)
    assert [r["stage"] for r in rows_] == [s for s in stages for r in rows_ if r["stage"] == s]
    assert sorted({r["stage"] for r in rows_}) == sorted(stages)
    steps = [r["step"] for r in rows_]
    assert steps == sorted(set(steps)) and steps[0] == 1
    assert result.info["learner"]["steps"] == 2
    if "reward_model" in stages:
        assert (out / "reward_model" / "reward_model.json").exists() and result.info["reward_model"]["steps"] > 0


def test_cai_sub_stages_log_into_one_monotone_metrics_file(tmp_path):
    """SL fine-tune, reward model and learner: one metrics.jsonl in the run folder, ``step`` strictly
    increasing across stages, each row naming its stage and its own step; no per-stage files."""
    learner = {"algorithm": "grpo", "reward": "reward-model", "params": ONLINE,
               "reward_model": {"lr": 0.001, "batch_size": 4, "normalise_on": 4, "max_new_tokens": 6}}
    out = tmp_path / "cai"
    run("tiny-cai.yaml", out, tmp_path, [f"params.learner={learner}", "params.n_prompts=8"])
    rows_ = read_metrics(out)
    steps = [r["step"] for r in rows_]
    assert all(b > a for a, b in zip(steps, steps[1:])), steps
    stages = [r["stage"] for r in rows_]
    assert stages == sorted(stages, key=["sl", "reward_model", "learner"].index)  # in order, not interleaved
    assert set(stages) == {"sl", "reward_model", "learner"}
    for name in ("sl", "reward_model", "learner"):
        mine = [r for r in rows_ if r["stage"] == name]
        assert [r["stage_step"] for r in mine] == list(range(1, len(mine) + 1))
        assert not (out / name / "metrics.jsonl").exists()
    first_learner = next(r for r in rows_ if r["stage"] == "learner")
    assert first_learner["step"] == len([r for r in rows_ if r["stage"] != "learner"]) + 1


def test_tracker_stage_views_offset_steps(tmp_path):
    """A view starts after the parent's last step, whatever it logged; a disabled tracker (another
    process) keeps the same offsets; closing a view leaves the file open for the next stage."""
    for enabled in (True, False):
        t = Tracker(tmp_path / str(enabled), enabled=enabled)
        a = t.stage("sl")
        assert a.log(1, {"x": 1})["step"] == 1 and a.log(3, {"x": 2})["step"] == 3
        a.close()
        b = t.stage("learner")
        row = b.log(1, {"x": 3})
        assert (row["step"], row["stage"], row["stage_step"]) == (4, "learner", 1)
        assert b.stage("inner").log(2, {})["step"] == 6 and t.last_step == 6
        t.close()
    assert [(r["step"], r["stage"]) for r in read_metrics(tmp_path / "True")] == [
        (1, "sl"), (3, "sl"), (4, "learner"), (6, "learner/inner")]
    assert not (tmp_path / "False").exists()
