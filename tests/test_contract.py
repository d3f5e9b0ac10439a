"""Contracts every registered offline objective must meet (new entries are tested for free), the
registry's errors, and the plug-in path from a recipe file to a trained run."""
from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import pytest
import torch

from prefzoo import registry
from prefzoo.api import LossOutput, Objective
from prefzoo.recipe import load_train_recipe
from prefzoo.runner import run_recipe

BUNDLED_PAIRS = Path(__file__).resolve().parents[1] / "recipes" / "data" / "tiny_pairs.jsonl"


def objective_or_skip(name: str) -> Objective:
    cls = registry.get(name)
    if not issubclass(cls, Objective):
        pytest.skip(f"{name!r} ({cls.__qualname__}, family {cls.family!r}) is not an Objective: it has no "
                    f"loss(policy, reference) to check here")
    return cls(cls.Config())  # the default Config must build (and pass its own checks)


@pytest.fixture
def algo_batch(tiny_policy, records_of, make_logps, make_reference):
    """``algo_batch(objective, other=False)`` -> (policy input with grad, reference input from a perturbed
    copy, and with ``other`` a second reference input from a differently perturbed copy, else None)."""

    def build(obj: Objective, other: bool = False):
        records = records_of(obj.data_kind)
        pol = make_logps(tiny_policy, records, obj.data_kind)
        with torch.no_grad():
            ref = make_logps(tiny_policy, records, obj.data_kind, make_reference(tiny_policy.model, seed=1))
            alt = (make_logps(tiny_policy, records, obj.data_kind, make_reference(tiny_policy.model, 0.3, seed=2))
                   if other else None)
        return pol, ref, alt

    return build


@pytest.mark.parametrize("name", registry.names())
def test_objective_contract(name, tiny_policy, algo_batch):
    obj = objective_or_skip(name)
    assert obj.data_kind in ("pairs", "unpaired", "sft"), obj.data_kind
    assert obj.summary and obj.paper and obj.name == name
    pol, ref, _ = algo_batch(obj)
    out = obj.loss(pol, ref if obj.needs_reference else None)
    assert isinstance(out, LossOutput)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    batch = pol.chosen if hasattr(pol, "chosen") else pol.logps
    assert out.per_example.shape == batch.shape
    assert not out.per_example.requires_grad
    for key, value in out.metrics.items():
        assert value.dim() == 0 and not value.requires_grad and torch.isfinite(value), key
    out.loss.backward()
    grads = [p.grad for p in tiny_policy.model.parameters() if p.grad is not None]
    assert grads and max(g.abs().max().item() for g in grads) > 0, "the loss does not reach the model's weights"


@pytest.mark.parametrize("name", registry.names())
def test_reference_free_objectives_ignore_the_reference(name, algo_batch):
    obj = objective_or_skip(name)
    if obj.needs_reference:
        pytest.skip(f"{name} needs a reference")
    pol, ref, other = algo_batch(obj, other=True)
    without = obj.loss(pol, None).loss
    assert torch.equal(obj.loss(pol, ref).loss, without)
    assert torch.equal(obj.loss(pol, other).loss, without)


@pytest.mark.parametrize("name", registry.names())
def test_reference_matters_when_needed(name, algo_batch):
    """The converse: an objective that declares needs_reference actually reads it."""
    obj = objective_or_skip(name)
    if not obj.needs_reference:
        pytest.skip(f"{name} is reference-free")
    pol, ref, other = algo_batch(obj, other=True)
    assert not torch.equal(obj.loss(pol, ref).loss, obj.loss(pol, other).loss)


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
