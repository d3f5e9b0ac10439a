"""Every recipe under recipes/ (recursively) loads: train recipes as a TrainRecipe whose algorithm is
registered (plug-ins loaded) and whose params pass the algorithm's Config; compare recipes (with
``arms:``) through the compare loader. Accelerate configs (recipes/accelerate/) and data files
(any ``data/`` folder) are not recipes and are not collected."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prefzoo import registry
from prefzoo.recipe import TrainRecipe, load_train_recipe
from prefzoo.runner import build_algorithm, resolve_path

ROOT = Path(__file__).resolve().parents[1] / "recipes"
NOT_RECIPES = ("accelerate", "data")  # top-level folders of accelerate configs and data files


def recipe_files() -> list[Path]:
    files = sorted(p for p in ROOT.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [p for p in files if p.relative_to(ROOT).parts[0] not in NOT_RECIPES
            and "data" not in p.relative_to(ROOT).parts[:-1]]


RECIPES = recipe_files()
IDS = [str(p.relative_to(ROOT)) for p in RECIPES]


def test_recipes_are_collected():
    assert (ROOT / "tiny-dpo.yaml") in RECIPES  # the collector walks the folder (and its sub-folders)


def check_data_path(path: str | None, recipe_dir: Path) -> None:
    """A data path that names a local file (has a file suffix) must exist, relative to the recipe."""
    if path and Path(path).suffix in (".jsonl", ".json", ".parquet", ".pq", ".gz", ".ndjson"):
        assert Path(resolve_path(path, recipe_dir)).exists(), f"data file {path!r} not found next to the recipe"


@pytest.mark.parametrize("path", RECIPES, ids=IDS)
def test_recipe_loads(path: Path):
    raw = yaml.safe_load(path.read_text())
    assert isinstance(raw, dict), f"{path}: not a mapping"
    if raw.get("finding") == "overoptimization":  # a study recipe (prefzoo findings), not a comparison
        from prefzoo.findings.overopt import load_overopt_recipe

        recipe = load_overopt_recipe(path)
        build_algorithm(recipe.rl.algorithm, {**recipe.rl.params, "reward": "reward-model:x"})
        for preset in recipe.budgets:
            load_overopt_recipe(path, [f"budget={preset}"])
        return
    if "arms" in raw:
        compare = pytest.importorskip("prefzoo.compare", reason="compare recipes need prefzoo.compare")
        recipe = compare.load_compare_recipe(path)
        registry.load_plugins(recipe.plugins, base_dir=path.parent)
        arms = compare.expand_arms(recipe)  # registered algorithms, valid train overrides, unique names
        assert arms, f"{path}: no arms"
        for arm in arms:
            if arm.algorithm != compare.BASE_ARM:
                build_algorithm(arm.algorithm, arm.params)
        return
    recipe = load_train_recipe(path)
    assert isinstance(recipe, TrainRecipe)
    registry.load_plugins(recipe.plugins, base_dir=path.parent)
    assert recipe.algorithm in registry.names()
    algo = build_algorithm(recipe.algorithm, recipe.params)  # params checked against the algorithm's Config
    assert algo.name == recipe.algorithm
    check_data_path(recipe.data.path, path.parent)
