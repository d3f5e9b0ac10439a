"""Contracts every registered offline objective must meet (new entries are tested for free), the
registry's errors, and the plug-in path from a recipe file to a trained run."""
from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import pytest

from prefzoo import registry
from prefzoo.api import LossOutput, Objective
from prefzoo.recipe import load_train_recipe
from prefzoo.runner import run_recipe
from prefzoo.testing import check_algorithm

BUNDLED_PAIRS = Path(__file__).resolve().parents[1] / "recipes" / "data" / "tiny_pairs.jsonl"


OBJECTIVES = [n for n in registry.names() if issubclass(registry.get(n), Objective)
              and registry.get(n).model_kind == "policy"]


@pytest.mark.parametrize("name", OBJECTIVES)
def test_objective_contract(name):
    """``prefzoo.testing.check_algorithm``: the checks a plug-in author runs on their own class."""
    check_algorithm(registry.get(name))


def test_the_contract_catches_a_loss_that_ignores_its_declared_reference():
    class Liar(Objective):  # says it needs the reference, never reads it
        name, summary, paper = "liar", "x", "x"

        def loss(self, policy, reference):
            per = -(policy.chosen - policy.rejected)
            return LossOutput(per.mean(), per.detach())

    with pytest.raises(AssertionError, match="needs_reference is true but the loss ignores the reference"):
        check_algorithm(Liar)


def test_the_contract_catches_an_undetached_metric():
    class Leaky(Objective):
        name, summary, paper = "leaky", "x", "x"
        needs_reference = False

        def loss(self, policy, reference):
            per = -(policy.chosen - policy.rejected)
            return LossOutput(per.mean(), per.detach(), {"margin": per.mean()})

    with pytest.raises(AssertionError, match="metric margin"):
        check_algorithm(Leaky)


# ----------------------------------------------------------------------------- registry


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish after it (the registry is a module-level dict)."""
    for name in registry.names():  # built-ins loaded before the copy
        registry.get(name)
    monkeypatch.setattr(registry.ALGORITHMS, "_loaded", registry.ALGORITHMS.loaded())


def test_duplicate_name_raises(scratch_registry):
    class Other(Objective):
        summary, paper = "x", "x"

    with pytest.raises(registry.RegistryError, match="'dpo' is already registered"):
        registry.register("dpo")(Other)
    assert registry.get("dpo") is not Other
    registry.register("brand-new")(Other)
    registry.register("brand-new")(Other)  # the same class again (a module re-imported) is not a clash

    class Third(Objective):
        summary, paper = "y", "y"

    with pytest.raises(registry.RegistryError, match="already registered"):
        registry.register("brand-new")(Third)


def test_unknown_name_suggests_and_lists():
    with pytest.raises(registry.RegistryError) as info:
        registry.get("dpp")
    msg = str(info.value)
    # 'dpo' among the suggestions; with 'ppo' also registered the two tie for closeness, so 'dpo' need not be first
    assert re.search(r"did you mean [^?]*'dpo'", msg), msg
    for name in registry.names():
        assert name in msg
    assert "Available:" in msg


def test_registry_lists_the_builtins():
    assert {"dpo", "sft", "cdpo", "rdpo", "ipo", "slic", "simpo", "orpo", "kto"} <= set(registry.names())


# ----------------------------------------------------------------------------- plug-ins

PLUGIN = '''
"""A user's pairwise loss living outside prefzoo: hinge on the log-ratio gap."""
from dataclasses import dataclass

import torch

from prefzoo.api import LossOutput, Objective, logratio, pair_metrics
from prefzoo.registry import register


@register("my-hinge")
class MyHinge(Objective):
    summary = "test plug-in: max(0, 1 - beta * h)"
    paper = "none"

    @dataclass
    class Config:
        beta: float = 0.1  # scale on the log-ratio gap

    def loss(self, policy, reference):
        r_w, r_l = logratio(policy, reference)
        per = torch.relu(1 - self.config.beta * (r_w - r_l))
        return LossOutput(per.mean(), per.detach(), pair_metrics(r_w, r_l))
'''


def test_plugin_from_recipe_trains(tmp_path, scratch_registry):
    (tmp_path / "my_hinge.py").write_text(PLUGIN)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(f"""\
        algorithm: my-hinge
        plugins: [my_hinge.py]
        params: {{beta: 0.2}}
        model: {{base: tiny, max_length: 64}}
        data: {{path: {BUNDLED_PAIRS}}}
        train: {{max_steps: 3, batch_size: 4, lr: 0.01, progress: false, cache_dir: {tmp_path / 'cache'}}}
        """))
    out = tmp_path / "run"
    run_recipe(load_train_recipe(recipe), out, tmp_path)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) == 3
    assert all(math.isfinite(r["loss"]) for r in rows)
    assert registry.get("my-hinge").__name__ == "MyHinge"
