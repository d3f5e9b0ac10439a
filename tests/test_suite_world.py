"""The suite world (prefzoo.worlds.suite_world) and the recipe built on it (recipes/smollm2-harmless.yaml).
Fast: no model is loaded."""
from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from prefzoo import registry
from prefzoo.config import from_dict
from prefzoo.worlds import get_world
from prefzoo.worlds.suite import all_prompts
from prefzoo.worlds.suite_world import DEFAULT_NOISE_TEMPERATURE, SuiteWorld

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "smollm2-harmless.yaml"

REFUSE = "I'm sorry, but I can't help with that."
COMPLY = "Sure! Here's how: 1. Get the tools. 2. Follow these steps carefully."


@pytest.fixture(scope="module")
def world() -> SuiteWorld:
    return get_world("suite")


def _first(category: str, check_key: str | None = None) -> dict:
    return next(p for p in all_prompts() if p["category"] == category and (check_key is None or check_key in p["check"]))


# ------------------------------------------------------------------------------------------ prompts
def test_world_by_name(world):
    assert isinstance(world, SuiteWorld) and world.name == "suite"
    assert world.feedback_policy is None


def test_prompts_splits_and_categories(world):
    train = world.prompts("train", 40, 0)
    ev = world.prompts("eval", 40, 0)
    assert len(train) == 40 and len(ev) == 40
    for r in train + ev:
        assert {"id", "prompt", "category", "check"} <= set(r)
    assert not {r["id"] for r in train} & {r["id"] for r in world.prompts("eval", None, 0)}  # disjoint
    for rows in (train, ev):  # a prefix keeps the category mix
        assert {r["category"] for r in rows} == {"harmful", "benign", "format", "helpful"}
    assert [r["id"] for r in world.prompts("train", 10, 3)] == [r["id"] for r in world.prompts("train", 10, 3)]
    assert [r["id"] for r in world.prompts("train", 10, 0)] != [r["id"] for r in world.prompts("train", 10, 1)]


# ------------------------------------------------------------------------------------------ gold
def test_gold_prefers_refusal_on_harmful(world):
    row = _first("harmful")
    refuse, comply = world.gold.score([row, row], [REFUSE, COMPLY]).tolist()
    assert refuse > comply
    assert world.gold_preference(row, REFUSE, COMPLY) > 0.95
    assert world.gold_preference(row, COMPLY, REFUSE) < 0.05


def test_gold_finds_rows_by_text(world):
    row = _first("harmful")
    by_row = world.gold.score([row], [REFUSE]).tolist()
    by_text = world.gold.score([row["prompt"]], [REFUSE]).tolist()
    by_chat = world.gold.score([[{"role": "user", "content": row["prompt"]}]], [REFUSE]).tolist()
    padded = world.gold.score(["  " + row["prompt"] + "\n"], [REFUSE]).tolist()
    assert by_row == by_text == by_chat == padded == [1.0]
    benign = _first("benign")
    assert world.gold.score([benign["prompt"]], [REFUSE]).tolist() == [-1.0]  # over-refusal is penalised
    with pytest.raises(KeyError):
        world.gold.score(["a prompt the suite does not have"], ["hi"])


def test_rate_pair_matches_gold_preference(world):
    """Bradley-Terry: the share of simulated labels for ``a`` approaches gold_preference."""
    harmful, helpful = _first("harmful"), _first("helpful", "expect")
    cases = [(harmful, REFUSE, COMPLY),               # gap 2
             (harmful, "", COMPLY),                   # gap 1: empty (0) vs compliance (-1)
             (helpful, "It is " + helpful["check"]["expect"][0] + ".", "I think it is somewhere in Europe."),  # gap 0.5
             (harmful, COMPLY, COMPLY + " Good luck.")]  # tie: a coin flip
    rng = random.Random(0)
    n = 4000
    for row, a, b in cases:
        p = world.gold_preference(row, a, b)
        share = sum(world.rate_pair(row, a, b, rng) for _ in range(n)) / n
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-9, (a, b, p, share)
        assert math.isclose(world.gold_preference(row, b, a), 1 - p, abs_tol=1e-12)
    assert math.isclose(world.gold_preference(harmful, REFUSE, COMPLY), 1 / (1 + math.exp(-2 / DEFAULT_NOISE_TEMPERATURE)))
    assert world.gold_preference(harmful, COMPLY, COMPLY + " Good luck.") == 0.5
    assert world.rate_pair(harmful["prompt"], REFUSE, COMPLY, random.Random(1)) in (0.0, 1.0)  # by text too
    with pytest.raises(ValueError):
        SuiteWorld(noise_temperature=0)


# ------------------------------------------------------------------------------------------ rates
def test_category_rates_on_hand_made_responses(world):
    harmful = [p for p in all_prompts() if p["category"] == "harmful"][:2]
    benign = [p for p in all_prompts() if p["category"] == "benign"][:2]
    fmt = _first("format", "json_keys")
    helpful = _first("helpful", "expect")
    keys = fmt["check"]["json_keys"]
    rows = harmful + benign + [fmt, helpful]
    responses = [REFUSE, COMPLY,                                           # harmful: 1 of 2 declined
                 REFUSE, "Here is a short answer that helps with it.",     # benign: 1 of 2 refused
                 "{" + ", ".join(f'"{k}": "x"' for k in keys) + "}",       # valid JSON with the keys
                 f"The answer is {helpful['check']['expect'][0]}."]        # correct, not refused
    rates = world.category_rates(rows, responses)
    assert set(rates) == set(world.categories)
    assert {"harmful_declined", "benign_refused", "format_valid"} <= set(world.categories)
    assert rates["harmful_declined"] == 0.5 and rates["benign_refused"] == 0.5
    assert rates["format_valid"] == 1.0
    assert rates["helpful_refused"] == 0.0 and rates["helpful_correct"] == 1.0
    assert rates["empty_rate"] == 0.0
    only = world.category_rates(harmful, ["", REFUSE])  # categories absent from the rows: NaN
    assert only["harmful_declined"] == 0.5 and only["empty_rate"] == 0.5
    assert math.isnan(only["benign_refused"]) and math.isnan(only["format_valid"])


# ------------------------------------------------------------------------------------------ AI feedback
def test_ai_feedback_falls_back_to_english_defaults(world):
    from prefzoo.algos.cai import resolve_constitution
    from prefzoo.constitutions import load_constitution
    from prefzoo.feedback.judge import (GENERIC_OPTIONS, GENERIC_SCORE_OPTIONS, GENERIC_SCORE_TEMPLATE,
                                        GENERIC_TEMPLATE, JudgeConfig)

    assert world.judge_template is None and world.constitution is None
    s = JudgeConfig().settings(world)
    assert s.template == GENERIC_TEMPLATE and tuple(s.options) == tuple(GENERIC_OPTIONS)
    assert s.score_template == GENERIC_SCORE_TEMPLATE and tuple(s.score_options) == tuple(GENERIC_SCORE_OPTIONS)
    assert resolve_constitution(None, world).name == load_constitution(None).name


def test_labeler_alignment_uses_suite_gold(world):
    from prefzoo.stages.sampling import labeler_alignment

    h = world.prompts("train", 8, 0)
    harmful = [r for r in h if r["category"] == "harmful"]
    records = [{"prompt": r["prompt"], "chosen": REFUSE, "rejected": COMPLY, "p_chosen": 0.9} for r in harmful]
    records.append({"prompt": harmful[0]["prompt"], "chosen": COMPLY, "rejected": REFUSE, "p_chosen": 0.8})
    out = labeler_alignment(world, records)
    assert out["source"] == "gold" and out["n"] == len(records)
    assert math.isclose(out["agreement"], (len(records) - 1) / len(records))


# ------------------------------------------------------------------------------------------ the recipe
@pytest.mark.parametrize("overrides", [[], ["budget=small"]])
def test_recipe_loads_and_params_pass(overrides):
    from prefzoo.compare import expand_arms, load_compare_recipe

    recipe = load_compare_recipe(RECIPE, overrides)
    assert recipe.world == "suite" and recipe.model is not None
    assert recipe.model.base == "smollm2-135m-instruct" and recipe.model.lora is not None
    arms = expand_arms(recipe)
    assert [a.name for a in arms] == ["base", "dpo", "ppo", "rlaif", "cai"]
    for arm in arms:
        if arm.algorithm != "base":
            cls = registry.get(arm.algorithm)
            from_dict(cls.Config, arm.params, f"arms.{arm.name}.params")
        assert 5e-6 <= arm.train.lr <= 2e-4
    by_name = {a.name: a for a in arms}
    assert by_name["ppo"].params["reward"] == "reward-model"
    assert by_name["rlaif"].params["judge"]["model"] == "policy"
    assert by_name["rlaif"].params["learner"]["algorithm"] == "dpo"  # the learner, an algorithm spec
    assert by_name["cai"].params["learner"]["algorithm"] == "dpo" and by_name["cai"].params.get("constitution") is None
    if overrides:
        assert recipe.seeds == [0] and recipe.label_budget <= 64 and recipe.eval.prompts <= 64
        assert by_name["ppo"].params["steps"] <= 8 and by_name["rlaif"].params["n_prompts"] <= 32
    else:
        assert len(recipe.seeds) == 3


def test_recipe_small_budget_then_explicit_set_wins():
    from prefzoo.compare import load_compare_recipe

    r = load_compare_recipe(RECIPE, ["budget=small", "label_budget=4", "arms.ppo.params.steps=1"])
    assert r.label_budget == 4 and r.seeds == [0]
    assert next(a for a in r.arms if a.name == "ppo").params["steps"] == 1
