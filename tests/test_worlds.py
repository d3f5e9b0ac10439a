"""The world contract, checked on every registered world (a new world is tested for free), and the
world registry's errors. Cheap checks only: the toy world's base is not built here."""
from __future__ import annotations

import inspect
import math
import random

import pytest

from prefzoo.feedback.base import Feedback
from prefzoo.worlds import WORLDS, get_world
from prefzoo.worlds.base import OPTIONAL, REQUIRED, World

NAMES = WORLDS.names()


def test_the_builtins_are_registered_lazily():
    assert {"toy", "suite"} <= set(NAMES)


@pytest.fixture(scope="module", params=NAMES)
def world(request):
    return get_world(request.param)


def test_every_member_is_there(world):
    assert isinstance(world, World)  # every member of the protocol exists (optional ones may be None)
    for attr in REQUIRED + OPTIONAL:
        assert hasattr(world, attr), attr
    assert isinstance(world.name, str) and world.name in NAMES
    assert isinstance(world.categories, tuple) and world.categories and all(isinstance(c, str) for c in world.categories)
    assert world.build_base is None or "cache_dir" in inspect.signature(world.build_base).parameters


def test_prompts_gold_and_raters(world):
    train, ev = world.prompts("train", 12, 0), world.prompts("eval", 12, 0)
    assert len(train) == 12 and len(ev) == 12
    for row in train + ev:
        assert {"id", "prompt", "category"} <= set(row) and isinstance(row["prompt"], str)
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in ev}  # held-out prompts stay held out
    assert [r["id"] for r in world.prompts("train", 12, 0)] == [r["id"] for r in train]  # deterministic
    responses = ["i can not help with that .", "sure , here is how ."] * 6
    assert isinstance(world.gold, Feedback)
    by_row = world.gold.score(ev, responses)
    by_text = world.gold.score([r["prompt"] for r in ev], responses)  # rows or prompt texts
    assert by_row.shape == (12,) and by_row.tolist() == by_text.tolist()
    assert all(math.isfinite(x) for x in by_row.tolist())
    row, a, b = ev[0], responses[0], responses[1]
    assert world.gold_preference(row, a, a) == pytest.approx(0.5)  # a tie is a coin flip
    p = world.gold_preference(row, a, b)
    assert 0.0 <= p <= 1.0 and p + world.gold_preference(row, b, a) == pytest.approx(1.0)
    labels = [world.rate_pair(row, a, b, random.Random(i)) for i in range(20)]
    assert all(x in (0.0, 1.0) for x in labels)


def test_category_rates_cover_exactly_the_categories(world):
    rows = world.prompts("eval", 12, 0)
    rates = world.category_rates(rows, ["ok ."] * len(rows))
    assert list(rates) == list(world.categories)
    assert all(math.isnan(v) or 0.0 <= v <= 1.0 for v in rates.values())


def test_optional_ai_feedback_material_has_the_right_shape(world):
    if world.judge_template is not None:
        assert all(k in world.judge_template for k in ("{prompt}", "{a}", "{b}"))
        assert len(world.judge_options) == 2 and len(set(world.judge_options)) == 2
    if world.score_template is not None:
        assert "{prompt}" in world.score_template and "{response}" in world.score_template
        assert len(world.score_options) >= 2
    if world.constitution is not None:
        from prefzoo.constitutions import load_constitution

        assert load_constitution(world.constitution).principles
    if world.category_directions is not None:
        assert set(world.category_directions) == set(world.categories)
        assert set(world.category_directions.values()) <= {"higher", "lower"}


def test_unknown_world_names_suggest_the_closest():
    with pytest.raises(KeyError, match="did you mean 'suite'"):
        get_world("suit")


def test_a_world_from_a_file(tmp_path):
    (tmp_path / "myworld.py").write_text(
        "from prefzoo.worlds.suite_world import SuiteWorld\n\n"
        "class Mine(SuiteWorld):\n    name = 'mine'\n")
    world = get_world("myworld.py:Mine", base_dir=tmp_path)
    assert world.name == "mine" and world.prompts("eval", 3, 0)
