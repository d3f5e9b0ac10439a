"""The one training path. ``train_one(spec, job)`` builds any algorithm (a registered name or
``module:Class``, its params checked by its Config) and runs it on a ``Job``; ``prefzoo train``
(``run_recipe``: recipe -> Job -> trained model on disk) and every ``prefzoo compare`` arm call it."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from prefzoo import registry
from prefzoo.registry import recipe_path
from prefzoo.config import ConfigError, differing_keys, flat_keys, from_dict, to_dict
from prefzoo.data import load_records
from prefzoo.engine.loop import accelerator_for, seed_everything
from prefzoo.engine.tracking import Tracker
from prefzoo.job import Job, TrainResult
from prefzoo.models.policy import Policy
from prefzoo.models.tiny import words_of
from prefzoo.recipe import TrainRecipe


@dataclass
class AlgorithmSpec:
    """What to train: ``algorithm`` (a registered name, ``module:Class`` or ``file.py:Class``) and its
    ``params``; ``where`` names the params in error messages (e.g. "arms.ppo.params")."""

    algorithm: str
    params: dict = field(default_factory=dict)
    where: str = ""

    def build(self, base_dir: Path | None = None):
        """The class with its Config checked (unknown keys rejected with a suggestion); ``base_dir``:
        where a relative ``file.py:Class`` is found (the recipe folder)."""
        cls = registry.get(self.algorithm, base_dir)
        return cls(from_dict(cls.Config, self.params, self.where or f"params of {self.algorithm}"))


def build_algorithm(name: str, params: dict, base_dir: Path | None = None):
    """The algorithm ``name`` with its Config checked (``AlgorithmSpec(name, params).build()``)."""
    return AlgorithmSpec(name, params).build(base_dir)


def train_one(spec, job: Job) -> TrainResult:
    """Build and run one algorithm on ``job``: ``spec`` is an ``AlgorithmSpec`` (built here, relative
    files found in ``job.recipe_dir``) or an algorithm already built from one. The job's tracker is
    closed afterwards, whether the run finished or raised."""
    try:
        algo = spec.build(job.recipe_dir) if isinstance(spec, AlgorithmSpec) else spec
        return algo.run(job)
    finally:
        if job.tracker is not None:
            job.tracker.close()


def resolve_path(path: str | None, recipe_dir: Path | None) -> str | None:
    """``registry.recipe_path`` for an optional path, as a string (hub ids pass through unchanged)."""
    return path if path is None else (str(recipe_path(path, recipe_dir)) if recipe_dir is not None else path)


def load_data(recipe: TrainRecipe, algo, recipe_dir: Path | None):
    """The recipe's records, as the kind the algorithm needs unless the recipe says otherwise."""
    if recipe.data.path is None:
        return {}, None
    kind = recipe.data.kind or algo.data_kind
    ds, report = load_records(resolve_path(recipe.data.path, recipe_dir), kind, split=recipe.data.split,
                              format=recipe.data.format)
    if report.total_dropped:
        print(f"data {recipe.data.path}: {report.summary()}")
    return {kind: ds}, report


# keys a resumed run may change: how it is watched and how long it runs; train.lr is applied from the resumed
# step on (Checkpoints.load); any other difference from the folder's config.yaml is refused
RESUMABLE_CHANGES = {"train.lr", "train.resume", "train.progress", "train.tracker", "train.log_every",
                     "train.checkpoint_every", "train.cache_dir", "train.max_steps", "train.epochs", "name"}


def claim_out_dir(out_dir: Path, resolved: dict, resume: bool, overwrite: bool) -> tuple[bool, str, dict]:
    """Decide what a ``prefzoo train`` into ``out_dir`` may do: (resuming, error or "", keys changed on
    resume). An empty or new folder is used as is; a non-empty one only with ``resume`` (its newest
    checkpoint continues, its config.yaml must agree but for ``RESUMABLE_CHANGES``) or ``overwrite`` (a
    run folder, one holding config.yaml, is emptied first)."""
    if resume and overwrite:
        return False, "--resume and --overwrite contradict each other: pick one", {}
    if not out_dir.exists() or not any(out_dir.iterdir()):
        if resume:
            print(f"note: --resume: {out_dir} holds no checkpoint; starting from step 0")
        return False, "", {}
    if overwrite:
        if not (out_dir / "config.yaml").is_file():
            return False, (f"--out {out_dir} is not empty and is not a prefzoo run folder (no config.yaml); "
                           f"--overwrite empties run folders only: choose another --out"), {}
        shutil.rmtree(out_dir)
        return False, "", {}
    if not resume:
        return False, (f"--out {out_dir} is not empty (an earlier run?): pass --resume to continue it from "
                       f"its newest checkpoint, or --overwrite to delete it and start over"), {}
    if not any(out_dir.rglob("checkpoints/step-*/state.pt")):
        print(f"note: --resume: {out_dir} holds no checkpoint; starting from step 0 (its earlier metrics replaced)")
        return False, "", {}
    old = yaml.safe_load((out_dir / "config.yaml").read_text()) if (out_dir / "config.yaml").is_file() else {}
    diff = differing_keys(old or {}, resolved)
    refused = [k for k in diff if k not in RESUMABLE_CHANGES]
    if refused:
        return True, (f"--resume: {out_dir} was trained with other settings: {', '.join(refused)} differ "
                      f"from its config.yaml; resume with the same settings, or --overwrite to start over"), {}
    return True, "", {k: [flat_keys(old).get(k), flat_keys(resolved).get(k)] for k in diff if k != "train.resume"}


def _config_text(resolved: dict, changed: dict) -> str:
    """config.yaml: the settings that ran; after a resume that changed some, a comment says what ran before."""
    text = yaml.safe_dump(resolved, sort_keys=False)
    if not changed:
        return text
    notes = "".join(f"#   {k}: {old!r} before the resume, {new!r} after\n" for k, (old, new) in changed.items())
    return "# resumed from the newest checkpoint with changed settings:\n" + notes + text


def _last_row(out_dir: Path) -> dict:
    from prefzoo.engine.tracking import read_metrics

    path = out_dir / "metrics.jsonl"
    rows = read_metrics(path) if path.exists() else []
    return rows[-1] if rows else {}


def run_recipe(recipe: TrainRecipe, out_dir: str | Path, recipe_dir: Path | None = None,
               overwrite: bool = False) -> TrainResult:
    """Train ``recipe`` into ``out_dir``: refused when the folder is not empty, unless the recipe resumes
    (``train.resume``) or ``overwrite``; raises ``ConfigError`` naming the reason."""
    from prefzoo.dist import from_main

    out_dir = Path(out_dir)
    registry.load_plugins(recipe.plugins, base_dir=recipe_dir)
    algo = AlgorithmSpec(recipe.algorithm, recipe.params).build(recipe_dir)
    acc = accelerator_for(recipe.train)
    resolved = to_dict(recipe)
    resolved["params"] = to_dict(algo.config)
    resuming, error, changed = from_main(lambda: claim_out_dir(out_dir, resolved, recipe.train.resume, overwrite))
    if error:
        raise ConfigError(error)
    seed_everything(recipe.seed)
    data, report = load_data(recipe, algo, recipe_dir)
    vocab = words_of(v for ds in data.values() for col in ds.column_names if col in
                     ("prompt", "chosen", "rejected", "completion") for v in ds[col])
    if hasattr(algo, "vocabulary"):  # text an algorithm writes into prompts (judge templates, constitutions)
        vocab = sorted(set(vocab) | set(words_of(algo.vocabulary())))
    policy = Policy.load(recipe.model, vocab=vocab, seed=recipe.seed)
    if acc.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(_config_text(resolved, changed))
    tracker = Tracker(out_dir, recipe.train.tracker, config=resolved, name=recipe.name or recipe.algorithm,
                      enabled=acc.is_main_process, resume=resuming)
    world = None
    if recipe.world:
        from prefzoo.worlds import get_world

        world = get_world(recipe.world)
    job = Job(policy=policy, train=recipe.train, out_dir=out_dir, seed=recipe.seed, data=data, tracker=tracker,
              label=recipe.algorithm, recipe_dir=recipe_dir, world=world)
    started = time.time()
    result = train_one(algo, job)
    if acc.is_main_process:
        result.policy.save(out_dir / "model")
        final = result.final or _last_row(out_dir)  # a finished run resumed trains no step: its last row
        summary = {"algorithm": recipe.algorithm, "final": final, "wall_s": time.time() - started,
                   "info": result.info}
        if changed:
            summary["resumed_with_changes"] = changed
        if report is not None:
            summary["data_file"] = report.as_dict()
        (out_dir / "result.json").write_text(json.dumps(summary, indent=2, default=str))
    acc.wait_for_everyone()
    return result


__all__ = ["AlgorithmSpec", "train_one", "run_recipe", "build_algorithm", "load_data", "claim_out_dir"]
