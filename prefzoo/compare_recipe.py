"""The compare recipe: its dataclasses, ``load_compare_recipe`` (budgets and ``--set arms.NAME.KEY``) and
``expand_arms`` (sweeps -> arms). ``prefzoo.compare`` runs what this module describes."""
from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefzoo import registry
from prefzoo.config import REQUIRED, ConfigError, apply_overrides, from_dict, to_dict
from prefzoo.eval.evaluator import EvalConfig
from prefzoo.recipe import ModelConfig, TrainConfig, default_cache_dir, read_yaml
from prefzoo.worlds.dataset import DataSource

BASE_ARM = "base"  # the algorithm name of the untouched base


@dataclass
class ArmSpec:
    name: str = REQUIRED
    algorithm: str = REQUIRED        # a registered algorithm, or "base" (the SFT model untouched)
    params: dict = field(default_factory=dict)   # the algorithm's Config
    train: dict = field(default_factory=dict)    # overrides of the recipe's shared train settings
    sweep: dict = field(default_factory=dict)    # "params.beta": [0.05, 0.1] -> one arm per value


@dataclass
class CompareRecipe:
    name: str = REQUIRED
    world: str = "toy"                 # the testbed: prompts, gold preference, simulated raters
    base: dict = field(default_factory=dict)     # the world's base-building config, read by world.build_base
    model: ModelConfig | None = None   # a real base instead of the world's own (e.g. smollm2-135m-instruct)
    train_prompts: int = 256           # prompts online arms sample from
    train_mix: dict | None = None      # toy world: category -> weight of the train prompts (so of the human
                                       # pairs), e.g. {helpful: 0.3, format: 0.3, harmful: 0.15, benign: 0.1,
                                       # style: 0.15}; null: balanced. The eval prompts stay balanced
    label_budget: int | None = 256     # human-labelled pairs: sampled from the base and rated by the world's
                                       # simulated raters; with `data:`, a seeded subsample of its train pairs
                                       # (null: all of them)
    data: DataSource | None = None     # your preference pairs (path, format, test_fraction | test_path, seed):
                                       # the arms learn from their train split; world: dataset evaluates on the
                                       # test split, another world (e.g. suite) on its own held-out prompts
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sample_max_new_tokens: int = 40    # length of the base samples that become the human pairs
    arms: list[ArmSpec] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    tracker: str = "none"              # none | wandb | tensorboard: one run per arm and seed, grouped by recipe
    cache_dir: str = field(default_factory=default_cache_dir)  # $PREFZOO_CACHE, default ~/.cache/prefzoo
    workers: int = 1                   # arms trained side by side in forked processes (one process each)
    budget: str | None = None          # the name of a preset in `budgets` to apply (or --set budget=NAME)
    budgets: dict = field(default_factory=dict)  # name -> {dotted key: value} overrides, e.g. a small CPU run
    finding: str | None = None         # the analysis `prefzoo findings` runs on the results (prefzoo.findings);
                                       # `prefzoo compare` runs the arms only

    def __post_init__(self):
        for name in ("train_prompts", "sample_max_new_tokens", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.label_budget is not None and self.label_budget < 1:
            raise ValueError(f"label_budget must be >= 1 (or null: all of data's pairs), got {self.label_budget}")
        if not self.arms:
            raise ValueError("arms is empty: list what to compare, e.g. arms: [{name: base, algorithm: base}, "
                             "{name: dpo, algorithm: dpo}]")
        check_seeds(self.seeds)
        if self.train_mix is not None:
            check_train_mix(self.train_mix, self.world, self.data)


MIX_WORLDS = ("toy",)  # the worlds whose train prompts can be drawn by a category mix


def check_train_mix(mix, world: str, data) -> None:
    """``train_mix`` needs a world that draws its train prompts by category, and no ``data:`` (whose own pairs
    and prompts would be used instead); its categories and weights are the toy world's to check."""
    if world not in MIX_WORLDS:
        raise ValueError(f"train_mix: world {world!r} cannot draw its train prompts by a category mix; only "
                         f"{', '.join(MIX_WORLDS)} can (or leave train_mix unset)")
    if data is not None:
        raise ValueError("train_mix: the train prompts and pairs come from data:, not the world; unset one")
    from prefzoo.worlds.toy_data_prompts import check_mix

    try:
        check_mix(mix)
    except ValueError as e:
        raise ValueError(f"train_mix: {e}") from None


def check_seeds(seeds: list[int]) -> None:
    """At least one seed, none twice: a seed listed twice ran into one folder and counted as two replicates."""
    if not seeds:
        raise ValueError("seeds is empty: list at least one, e.g. [0, 1, 2]")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"seeds lists {repeated} more than once: each seed is one replicate; list distinct seeds")


@dataclass
class Arm:
    name: str
    algorithm: str
    params: dict
    train: TrainConfig
    family: str                        # the ArmSpec it came from (sweeps share it)
    sweep_value: Any = None


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # a recipe's or an arm's name: a plain folder name
ARM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+\-=,\[\]]*")  # with a sweep's suffix: dpo[beta=0.1,lr=1e-05]


def check_name(name: str, what: str, pattern: re.Pattern = NAME) -> str:
    """``name`` if it is a safe folder name (letters, digits, ``_ . + -``; a sweep's ``[k=v,...]``), else a
    ``ConfigError``: a name such as ``../x`` or ``/tmp/x`` would write outside the output folder."""
    if not isinstance(name, str) or not pattern.fullmatch(name) or ".." in name:
        raise ConfigError(f"{what} {name!r} is not allowed: use letters, digits and _ . + - "
                          f"(starting with a letter or digit), no '/' or '..'")
    return name


def load_compare_recipe(path: str | Path | dict, overrides: list[str] | None = None) -> CompareRecipe:
    """``--set arms.NAME.params.steps=2`` reaches the arm called NAME; other keys as in train recipes.
    ``path``: a YAML file, or the recipe itself as a dict."""
    data = dict(path) if isinstance(path, dict) else read_yaml(path)
    if "algorithm" in data and "arms" not in data:
        raise ConfigError(f"{path} is a train recipe (it has algorithm:, no arms:): run prefzoo train {path}")
    overrides = with_preset(data, overrides, path)
    arm_sets = [o for o in overrides if o.startswith("arms.")]
    data = apply_overrides(data, [o for o in overrides if not o.startswith("arms.")])
    arms = [dict(a) for a in data.get("arms") or []]
    for item in arm_sets:
        name, _, rest = item[len("arms."):].partition(".")
        matches = [i for i, a in enumerate(arms) if a.get("name") == name]
        if not matches or not rest:
            known = ", ".join(str(a.get("name")) for a in arms)
            raise ConfigError(f"--set {item}: expected arms.NAME.KEY=VALUE with NAME one of: {known}")
        arms[matches[0]] = apply_overrides(arms[matches[0]], [rest])
    if arms:
        data["arms"] = arms
    return from_dict(CompareRecipe, data)


def with_preset(data: dict, overrides: list[str] | None, where) -> list[str]:
    """``overrides`` with the named budget's preset first (``--set budget=small``, or the recipe's
    ``budget:``): a preset is a mapping of dotted keys in the recipe's ``budgets``; explicit --set wins."""
    overrides = list(overrides or [])
    budget = next((o.split("=", 1)[1].strip() for o in reversed(overrides) if o.startswith("budget=")), None)
    budget = budget or data.get("budget")
    if not budget:
        return overrides
    presets = data.get("budgets") or {}
    if budget not in presets:
        raise ConfigError(f"budget {budget!r} is not defined in {where}; defined: {', '.join(presets) or 'none'}")
    return [f"{k}={json.dumps(v)}" for k, v in presets[budget].items()] + overrides


def _set_dotted(d: dict, key: str, value: Any) -> dict:
    d = json.loads(json.dumps(d))
    node = d
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return d


def expand_arms(recipe: CompareRecipe) -> list[Arm]:
    """Arm specs -> arms; a sweep becomes one arm per value combination, named ``arm[key=value]``."""
    arms: list[Arm] = []
    check_name(recipe.name, "the recipe's name")
    for spec in recipe.arms:
        check_name(spec.name, "arm name")
        if spec.algorithm != BASE_ARM:
            registry.get(spec.algorithm)  # unknown names fail before any work, with "did you mean"
        keys = list(spec.sweep)
        for bad in keys:
            if not bad.startswith(("params.", "train.")):
                raise ConfigError(f"arm {spec.name!r}: sweep key {bad!r} must start with 'params.' or 'train.'")
            if not isinstance(spec.sweep[bad], list) or not spec.sweep[bad]:  # [] swept the arm away unsaid
                raise ConfigError(f"arm {spec.name!r}: sweep {bad!r} must list the values to try, e.g. "
                                  f"{bad}: [0.1, 0.5]; got {spec.sweep[bad]!r}")
        combos = list(itertools.product(*(spec.sweep[k] for k in keys))) if keys else [()]
        for combo in combos:
            body = {"params": spec.params, "train": spec.train}
            for k, v in zip(keys, combo):
                body = _set_dotted(body, k, v)
            suffix = ",".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, combo))
            train = from_dict(TrainConfig, {**to_dict(recipe.train), **body["train"]}, f"arms.{spec.name}.train")
            name = check_name(f"{spec.name}[{suffix}]" if suffix else spec.name, "arm name", ARM_NAME)
            arms.append(Arm(name, spec.algorithm, body["params"],
                            train, spec.name, combo[0] if len(combo) == 1 else (combo or None)))
    names = [a.name for a in arms]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"arm names must be unique; repeated: {sorted(dupes)}")
    return arms


def inside(out: Path, *parts) -> Path:
    """``out / parts``, refused (``ConfigError``) unless it resolves inside ``out`` (no name writes elsewhere)."""
    path = Path(out).joinpath(*map(str, parts))
    root = Path(out).resolve()
    if not path.resolve().is_relative_to(root):
        raise ConfigError(f"{path} resolves outside the output folder {root}")
    return path


def arm_dir_of(out: Path, arm_name: str, seed: int) -> Path:
    return inside(out, "arms", arm_name, f"seed-{seed}")


def pairs_path_of(out: Path, seed: int) -> Path:
    return inside(out, "data", f"seed-{seed}", "human_pairs.jsonl")
