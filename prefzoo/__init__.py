"""prefzoo: a preference-optimization algorithm zoo.

The Python API (imported on first use, so ``import prefzoo.api`` stays light):

    result = prefzoo.train("recipes/tiny-dpo.yaml", out="runs/tiny-dpo", overrides=["params.beta=0.2"])
    rows = prefzoo.compare("recipes/smoke-compare.yaml", out="runs/smoke")   # one dict per arm and seed

Both take a recipe file or the recipe as a dict, and follow the rules of ``prefzoo train`` and
``prefzoo compare`` (a non-empty ``out`` is refused unless ``resume`` or ``overwrite``; a compare reuses
only the arms whose fingerprint matches).
"""
from __future__ import annotations

__version__ = "0.1.0"


def train(recipe, out, overrides: list[str] | None = None, *, resume: bool = False, overwrite: bool = False,
          recipe_dir=None):
    """Train one recipe (a YAML path or a dict) into the folder ``out``; returns the ``TrainResult``
    (``.policy``, ``.history``: the logged rows, ``.info``). ``recipe_dir``: where relative paths in a dict
    recipe resolve (default: the file's folder, or the working directory for a dict)."""
    from pathlib import Path

    from prefzoo.recipe import load_train_recipe
    from prefzoo.runner import run_recipe

    overrides = list(overrides or []) + (["train.resume=true"] if resume else [])
    if recipe_dir is None:
        recipe_dir = Path.cwd() if isinstance(recipe, dict) else Path(recipe).resolve().parent
    return run_recipe(load_train_recipe(recipe, overrides), out, recipe_dir=Path(recipe_dir), overwrite=overwrite)


def __getattr__(name: str):
    """``prefzoo.compare``: the module ``prefzoo.compare``, imported on first use, which is also callable:
    ``prefzoo.compare(recipe, out=None, overrides=None, *, overwrite=False, log=print)`` runs a compare recipe
    (a YAML path or a dict) into ``out`` (default ``runs/NAME``) and returns the table: the rows of
    ``results.csv``, one dict per arm and seed (``arm``, ``seed``, ``status``, the metrics)."""
    if name == "compare":
        import importlib

        return importlib.import_module("prefzoo.compare")
    raise AttributeError(f"module 'prefzoo' has no attribute {name!r}")


__all__ = ["train", "compare", "__version__"]
