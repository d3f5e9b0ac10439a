"""rlaif, cai and cai-dpo end to end through the recipe runner (what `prefzoo train` runs), on a tiny
local Llama and the bundled prompts; plus labeler alignment against a world's gold rubric."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefzoo import registry
from prefzoo.config import ConfigError, from_dict
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
    assert result.info["sl"]["final"]["step"] == 3 and result.history[-1]["step"] == 3


def test_cai_dpo_end_to_end(tmp_path):
    def edit(data):
        data["algorithm"] = "cai-dpo"
        data["params"] = {"n_prompts": 8, "max_new_tokens": 8, "learner": {"beta": 0.1},
                          "learner_train": {"max_steps": 2}}

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
    algo = build_algorithm("rlaif", {"max_new_tokens": 6, "learner_train": {"max_steps": 1}})
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
        build_algorithm("rlaif", {"learner": {"betta": 0.1}})
    with pytest.raises(ConfigError, match="unknown key"):
        build_algorithm("cai", {"route": "dpo", "sl_train": {"max_stepz": 3}})
    with pytest.raises(ConfigError):
        build_algorithm("rlaif", {"route": "sft"})
