"""``prefzoo compare``: several algorithms against one base, one prompt set, one label budget, K seeds.

Top to bottom: read the recipe -> build (or load the cached) base -> per seed: sample the human
pairs once (the label budget) and the base's evaluation samples -> for each arm x seed, on a fresh
copy of the base: run the algorithm, evaluate with the one evaluator, write the arm's folder ->
tables and plots. An arm that raises is recorded as failed and the others go on; finished arms
(an ``eval.json`` in their folder) are skipped when the command is run again.

Under ``accelerate launch`` every process runs this same control flow (training is collective) and
computes the same things (pairs, evaluation: redundantly, so no process idles at a collective while
another works); only the main process writes files. What must agree across processes (is a file
there, the human pairs, did an arm fail anywhere) is decided once and shared (``from_main``,
``gather``).
"""
from __future__ import annotations

import csv
import itertools
import json
import random
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prefzoo import registry
from prefzoo.config import REQUIRED, ConfigError, apply_overrides, from_dict, to_dict
from prefzoo.data.loaders import records_from_list
from prefzoo.data.records import PAIRS, PROMPTS
from prefzoo.dist import barrier, from_main, gather, is_main, main_first, world_size
from prefzoo.engine.loop import accelerator_for, seed_everything
from prefzoo.engine.tracking import Tracker
from prefzoo.eval.evaluator import EvalConfig, bootstrap_ci, evaluate, sample
from prefzoo.job import Job
from prefzoo.recipe import ModelConfig, TrainConfig, read_yaml

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
    base: dict = field(default_factory=dict)     # the world's base-building config (toy: ToyBaseConfig)
    model: ModelConfig | None = None   # a real base instead of the world's own (e.g. smollm2-135m-instruct)
    train_prompts: int = 256           # prompts online arms sample from
    label_budget: int = 256            # human-labelled pairs (sampled from the base, rated by simulated raters)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sample_max_new_tokens: int = 40    # length of the base samples that become the human pairs
    arms: list[ArmSpec] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    tracker: str = "none"              # none | wandb | tensorboard: one run per arm and seed, grouped by recipe
    cache_dir: str = ".cache/prefzoo"
    workers: int = 1                   # arms trained side by side in forked processes (one process each)
    budget: str | None = None          # the name of a preset in `budgets` to apply (or --set budget=NAME)
    budgets: dict = field(default_factory=dict)  # name -> {dotted key: value} overrides, e.g. a small CPU run


@dataclass
class Arm:
    name: str
    algorithm: str
    params: dict
    train: TrainConfig
    family: str                        # the ArmSpec it came from (sweeps share it)
    sweep_value: Any = None


def load_compare_recipe(path: str | Path, overrides: list[str] | None = None) -> CompareRecipe:
    """``--set arms.NAME.params.steps=2`` reaches the arm called NAME; other keys as in train recipes."""
    data = read_yaml(path)
    overrides = list(overrides or [])
    # a named budget (``--set budget=small``) is a preset of overrides the recipe defines; explicit --set wins
    budget = next((o.split("=", 1)[1].strip() for o in reversed(overrides) if o.startswith("budget=")), None)
    budget = budget or data.get("budget")
    if budget:
        presets = data.get("budgets") or {}
        if budget not in presets:
            raise ConfigError(f"budget {budget!r} is not defined in {path}; defined: {', '.join(presets) or 'none'}")
        overrides = [f"{k}={json.dumps(v)}" for k, v in presets[budget].items()] + overrides
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
    for spec in recipe.arms:
        if spec.algorithm != BASE_ARM:
            registry.get(spec.algorithm)  # unknown names fail before any work, with "did you mean"
        keys = list(spec.sweep)
        for bad in keys:
            if not bad.startswith(("params.", "train.")):
                raise ConfigError(f"arm {spec.name!r}: sweep key {bad!r} must start with 'params.' or 'train.'")
        combos = list(itertools.product(*(spec.sweep[k] for k in keys))) if keys else [()]
        for combo in combos:
            body = {"params": spec.params, "train": spec.train}
            for k, v in zip(keys, combo):
                body = _set_dotted(body, k, v)
            suffix = ",".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, combo))
            train = from_dict(TrainConfig, {**to_dict(recipe.train), **body["train"]}, f"arms.{spec.name}.train")
            arms.append(Arm(f"{spec.name}[{suffix}]" if suffix else spec.name, spec.algorithm, body["params"],
                            train, spec.name, combo[0] if len(combo) == 1 else (combo or None)))
    names = [a.name for a in arms]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"arm names must be unique; repeated: {sorted(dupes)}")
    return arms


def make_world(name: str):
    from prefzoo.worlds import get_world

    return get_world(name)


def build_base(recipe: CompareRecipe, world):
    if recipe.model is not None:
        from prefzoo.models.policy import Policy

        with main_first():  # the main process fetches or converts a model alias once; the others find it
            return Policy.load(recipe.model), {"base": recipe.model.base}
    from prefzoo.worlds.toy_world import ToyBaseConfig

    cfg = from_dict(ToyBaseConfig, recipe.base, "base")
    return world.build_base(cfg, recipe.cache_dir)


def human_pairs(base, world, rows: list[dict], budget: int, seed: int, max_new_tokens: int) -> list[dict]:
    """The label budget: two base samples per prompt, labelled by the world's simulated raters."""
    rng = random.Random(f"raters:{seed}")
    seed_everything(seed)
    picked = [rows[i % len(rows)] for i in range(budget)]
    prompts = [r["prompt"] for r in picked]
    a = base.generate(prompts, max_new_tokens=max_new_tokens, temperature=1.0)
    b = base.generate(prompts, max_new_tokens=max_new_tokens, temperature=1.0)
    out = []
    for r, x, y in zip(picked, a, b):
        if not x.strip() or not y.strip():
            continue  # an empty sample cannot be a record; counted by the caller (budget - kept)
        first = world.rate_pair(r, x, y, rng) >= 0.5
        out.append({"prompt": r["prompt"], "chosen": x if first else y, "rejected": y if first else x,
                    "category": r["category"]})
    return out


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    _write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))


def _write_atomic(path: Path, text: str) -> None:
    """Write then rename: an interrupted run never leaves a torn file that a rerun would trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def run_arm(arm: Arm, seed: int, base, world, seed_data: dict, recipe: CompareRecipe, out: Path,
            base_eval_texts: list[str], eval_rows: list[dict]) -> tuple[dict, dict, list[dict]]:
    """Train one arm on a fresh copy of the base and evaluate it: (row, info, per-prompt samples).
    Raises on failure. Writes only config.yaml and metrics (main process); ``write_arm`` writes the rest."""
    arm_dir = out / "arms" / arm.name / f"seed-{seed}"
    started = time.time()
    config = {"arm": arm.name, "algorithm": arm.algorithm, "seed": seed, "params": arm.params,
              "train": to_dict(arm.train)}
    if is_main():
        arm_dir.mkdir(parents=True, exist_ok=True)
        (arm_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    seed_everything(seed)
    info: dict = {}
    tokens = 0
    if arm.algorithm == BASE_ARM:
        policy = base
        Tracker(arm_dir, "none", enabled=is_main()).close()  # an empty metrics.jsonl: the base trains nothing
    else:
        cls = registry.get(arm.algorithm)
        algo = cls(from_dict(cls.Config, arm.params, f"arms.{arm.name}.params"))
        tracker = Tracker(arm_dir, recipe.tracker, config=config, group=recipe.name, name=f"{arm.name}/seed-{seed}",
                          enabled=is_main())
        job = Job(policy=base.clone(), train=arm.train, out_dir=arm_dir, seed=seed, data=seed_data, world=world,
                  tracker=tracker, label=f"{arm.name}/s{seed}")
        try:
            result = algo.run(job)
        finally:
            tracker.close()
        policy = result.policy
        info = {k: v for k, v in result.info.items() if isinstance(v, (int, float, str, dict))}
        tokens = int(result.info.get("tokens", 0))
    train_s = time.time() - started
    # every process evaluates (same weights, same sampling seed: the same numbers); main writes them
    ev = evaluate(policy, base, world, eval_rows, recipe.eval, base_texts=base_eval_texts)
    row = {"arm": arm.name, "algorithm": arm.algorithm, "family": arm.family, "sweep_value": arm.sweep_value,
           "seed": seed, "status": "ok", **ev.row(), "tokens": tokens, "train_s": round(train_s, 2),
           "wall_s": round(time.time() - started, 2), "error": ""}
    row.update(feedback_columns(info))
    return row, info, ev.per_prompt


def feedback_columns(info: dict) -> dict:
    """The table's columns about an arm's feedback: AI-label agreement with gold and the number of
    (non-tied) pairs it was measured on, position bias, the trained reward model's held-out accuracy."""
    out = {k: info[k] for k in ("labeler_alignment", "position_bias") if isinstance(info.get(k), (int, float))}
    detail = info.get("labeler_alignment_detail")
    if isinstance(detail, dict) and isinstance(detail.get("n"), int):
        out["labeler_alignment_n"] = detail["n"]  # 1.000 on 2 pairs is not 1.000 on 200
    rm = info.get("reward_model")
    if isinstance(rm, dict) and isinstance(rm.get("heldout_accuracy"), (int, float)):
        out["rm_heldout_accuracy"] = rm["heldout_accuracy"]  # the reward model this arm trained
    return out


def _finished(done: Path) -> dict | None:
    """A finished arm's row from its eval.json (None if there is none), feedback columns refreshed."""
    if not done.exists():
        return None
    saved = json.loads(done.read_text())
    return {**saved["row"], **feedback_columns(saved.get("info", {}))}


def write_arm(arm_dir: Path, row: dict, info: dict, per_prompt: list[dict]) -> None:
    """A finished arm's files; ``eval.json`` last, since it marks the arm as done for reruns."""
    _write_jsonl(arm_dir / "samples.jsonl", per_prompt)
    (arm_dir / "error.txt").unlink(missing_ok=True)
    _write_atomic(arm_dir / "eval.json", json.dumps({"row": row, "info": info}, indent=2, default=str))


def _attempt(arm: Arm, seed: int, context: tuple) -> tuple[tuple | None, tuple | None, float]:
    """(run_arm's outcome, None, seconds), or (None, (error line, traceback), seconds) when it raised:
    an arm's failure must not lose the others."""
    t = time.time()
    try:
        return run_arm(arm, seed, *context), None, time.time() - t
    except Exception as e:
        return None, (f"{type(e).__name__}: {e}", traceback.format_exc()), time.time() - t


_FORKED: tuple = ()  # (arms, seed, context) for the worker processes, which inherit it through fork


def _forked_attempt(i: int):
    arms, seed, context = _FORKED
    return _attempt(arms[i], seed, context)


def _attempts(arms: list[Arm], seed: int, context: tuple, workers: int):
    """Each arm's attempt, in order. ``workers`` > 1 (one process, where fork exists): that many forked
    worker processes train and evaluate arms side by side. Every arm seeds its own RNGs and trains a
    fresh copy of the base, so the numbers are the ones a sequential run gives; only the parent writes
    eval.json. Under ``accelerate launch`` arms run one after another (training is collective)."""
    import multiprocessing as mp

    if workers <= 1 or len(arms) <= 1 or world_size() > 1 or "fork" not in mp.get_all_start_methods():
        for arm in arms:
            yield _attempt(arm, seed, context)
        return
    global _FORKED
    _FORKED = (arms, seed, context)
    try:
        with mp.get_context("fork").Pool(min(workers, len(arms))) as pool:
            yield from pool.imap(_forked_attempt, range(len(arms)))
    finally:
        _FORKED = ()


def run_compare(path: str | Path, out: str | Path | None = None, overrides: list[str] | None = None,
                log=print) -> Path:
    t_all = time.time()
    recipe = load_compare_recipe(path, overrides)
    registry.load_plugins(recipe.plugins, base_dir=Path(path).resolve().parent)
    # Under accelerate launch this creates the process group: from here on barriers and broadcasts are real.
    accelerator_for(recipe.train)
    say = log if is_main() else (lambda *_: None)  # one log, not one per process
    out = Path(out or Path("results") / recipe.name)
    command = "prefzoo compare " + " ".join(shlex.quote(a) for a in [str(path)] + (["--out", str(out)])
                                             + [x for o in overrides or [] for x in ("--set", o)])
    if is_main():
        out.mkdir(parents=True, exist_ok=True)
        (out / "recipe.yaml").write_text(yaml.safe_dump(to_dict(recipe), sort_keys=False))
    arms = expand_arms(recipe)
    world = make_world(recipe.world)

    t = time.time()
    base, base_info = build_base(recipe, world)
    how = "loaded" if recipe.model is not None else ("cached" if base_info.get("cached") else "built")
    say(f"[stage] base ready in {time.time() - t:.1f} s ({how})")
    eval_rows = world.prompts("eval", recipe.eval.prompts, 0)

    rows: list[dict] = []
    for seed in recipe.seeds:
        t = time.time()
        seed_dir = out / "data" / f"seed-{seed}"
        pairs_path = seed_dir / "human_pairs.jsonl"
        train_rows = world.prompts("train", recipe.train_prompts, seed)
        if not from_main(pairs_path.exists):
            # every process samples (same seed, same base), so none waits long at the broadcast below
            sampled = human_pairs(base, world, train_rows, recipe.label_budget, seed, recipe.sample_max_new_tokens)
            if is_main():
                _write_jsonl(pairs_path, sampled)
        raw_pairs = from_main(lambda: _read_jsonl(pairs_path))  # main's file is what every process learns from
        pairs, report = records_from_list(raw_pairs, PAIRS)
        prompts_ds, _ = records_from_list([{"prompt": r["prompt"], "category": r["category"]} for r in train_rows],
                                          PROMPTS)
        seed_data = {PAIRS: pairs, PROMPTS: prompts_ds}
        base_eval_texts = sample(base, [r["prompt"] for r in eval_rows], recipe.eval)[0]
        empty = recipe.label_budget - len(raw_pairs)
        say(f"[stage] seed {seed}: {report.kept} human pairs of budget {recipe.label_budget} ({empty} skipped: "
            f"an empty sample; {report.total_dropped} dropped: {report.as_dict()['dropped']}), "
            f"base samples, {time.time() - t:.1f} s")
        seed_rows: dict[str, dict] = {}
        pending = []
        for arm in arms:
            done = out / "arms" / arm.name / f"seed-{seed}" / "eval.json"
            # main's answer for every process: a process that looked later could see the file main just wrote
            earlier = from_main(lambda: _finished(done))
            if earlier is not None:
                seed_rows[arm.name] = {**earlier, "reused": True}
                say(f"[arm] {arm.name} seed {seed}: finished earlier, skipped")
            else:
                pending.append(arm)
        context = (base, world, seed_data, recipe, out, base_eval_texts, eval_rows)
        for arm, (outcome, failure, seconds) in zip(pending, _attempts(pending, seed, context, recipe.workers)):
            arm_dir = out / "arms" / arm.name / f"seed-{seed}"
            # Every process learns whether the arm failed anywhere, so all take the same branch (and none is
            # left alone in a later collective). A failure inside a collective on some processes only is not
            # caught here: the others wait in that collective until the process group times out.
            failures = [(r, f) for r, f in enumerate(gather(failure)) if f is not None]
            if not failures:
                row, info, per_prompt = outcome
                if is_main():
                    write_arm(arm_dir, row, info, per_prompt)
                say(f"[arm] {arm.name} seed {seed}: gold {row['gold_reward']:+.3f}  win {row['win_rate_vs_base']:.2f}"
                    f"  kl {row['kl_to_base']:.2f}  ({seconds:.1f} s)")
            else:
                where, (error, _) = failures[0]
                if is_main():
                    arm_dir.mkdir(parents=True, exist_ok=True)
                    (arm_dir / "error.txt").write_text("".join(  # the traceback of every process that raised
                        (f"process {r}:\n" if world_size() > 1 else "") + trace for r, (_, trace) in failures))
                row = {"arm": arm.name, "algorithm": arm.algorithm, "family": arm.family,
                       "sweep_value": arm.sweep_value, "seed": seed, "status": "failed",
                       "wall_s": round(seconds, 2), "error": error}
                on = f" on process {where} of {world_size()}" if world_size() > 1 else ""
                say(f"[arm] {arm.name} seed {seed}: FAILED{on}: {error} (traceback in {arm_dir / 'error.txt'})")
            seed_rows[arm.name] = row
        rows.extend(seed_rows[arm.name] for arm in arms)  # the recipe's arm order, reused or not
    if is_main():
        from prefzoo.eval.report import write_reports

        write_reports(out, rows, arms, world, command, time.time() - t_all)
    barrier()  # every process returns once the results exist
    say(f"[stage] total {time.time() - t_all:.1f} s; results in {out}")
    return out


if __name__ == "__main__":  # pragma: no cover
    run_compare(sys.argv[1])
