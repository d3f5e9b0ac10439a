"""``prefzoo compare``: several algorithms against one base, one prompt set, one label budget, K seeds.

Top to bottom: read the recipe -> build (or load the cached) base -> per seed: sample the human
pairs once (the label budget) and the base's evaluation samples -> for each arm x seed, on a fresh
copy of the base: run the algorithm, evaluate with the one evaluator, write the arm's folder ->
tables and plots. An arm that raises is recorded as failed and the others go on; finished arms
(an ``eval.json`` in their folder) are skipped when the command is run again if their fingerprint (resolved
config, base hash, data hash, package version) matches, and refused otherwise unless ``--overwrite`` (which
clears what they left). An unfinished arm (interrupted, failed) resumes from what it left (checkpoints, its
reward model) only if its ``started.json`` fingerprint matches, and is refused otherwise in the same way.

Under ``accelerate launch`` every process runs this same control flow (training is collective) and
computes the same things (pairs, evaluation: redundantly, so no process idles at a collective while
another works); only the main process writes files. What must agree across processes (is a file
there, the human pairs, did an arm fail anywhere) is decided once and shared (``from_main``,
``gather``).
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
import traceback
import types
from pathlib import Path

import yaml

from prefzoo import registry
from prefzoo.compare_data import (data_fingerprint, data_hash, pair_source, read_jsonl, seed_data, setup_gold,
                                  train_rows, write_atomic, write_jsonl)
from prefzoo.provenance import arm_fingerprint, fingerprint_diff, pairs_fingerprint, write_environment
from prefzoo.compare_recipe import (BASE_ARM, Arm, ArmSpec, CompareRecipe, arm_dir_of,  # noqa: F401 (re-exported)
                                    check_name, expand_arms, load_compare_recipe, pairs_path_of)
from prefzoo.config import ConfigError, to_dict
from prefzoo.dist import barrier, from_main, gather, is_main, main_first, world_size
from prefzoo.engine.loop import accelerator_for, seed_everything
from prefzoo.engine.tracking import Tracker
from prefzoo.eval.evaluator import evaluate, seeded
from prefzoo.eval.metric import anchor as anchor_metrics
from prefzoo.eval.metric import resolve_metrics
from prefzoo.job import Job

def make_world(name: str, base_dir: str | Path | None = None):
    """A fresh world by name (``module:Class`` / ``file.py:Class`` relative to ``base_dir`` too)."""
    from prefzoo.worlds import get_world

    return get_world(name, base_dir)


def build_base(recipe: CompareRecipe, world):
    if recipe.model is not None:
        from prefzoo.models.policy import Policy

        import torch

        # A LoRA base's adapters are part of it (its weights hash keys the human pairs and every arm's
        # fingerprint): drawn from a fixed seed, not the global RNG, so that a rerun finds its earlier results
        # (unseeded, every run drew new adapters and refused the last run's arms as made from another base).
        with main_first(), torch.random.fork_rng(devices=[]):  # main fetches or converts an alias once
            torch.manual_seed(0)
            return Policy.load(recipe.model), {"base": recipe.model.base}
    if getattr(world, "build_base", None) is None:
        raise ConfigError(f"world {recipe.world!r} has no base of its own: name one under `model:` "
                          f"(e.g. model: {{base: smollm2-135m-instruct}})")
    # the world reads its own base config; train.progress: false silences its bars too
    return world.build_base(recipe.base, recipe.cache_dir, progress=recipe.train.progress)


def run_arm(arm: Arm, seed: int, base, world, seed_data: dict, recipe: CompareRecipe, out: Path,
            base_eval_texts: list[str], eval_rows: list[dict],
            recipe_dir: Path | None = None) -> tuple[dict, dict, list[dict]]:
    """Train one arm on a fresh copy of the base and evaluate it: (row, info, per-prompt samples).
    Trains through ``runner.train_one``, the path of ``prefzoo train``; ``recipe_dir`` (the recipe's
    folder) is where relative paths in the arm's params resolve (e.g. ``reward: rule:rules.py:fn``).
    Raises on failure. Writes only config.yaml, metrics and a LoRA arm's adapter/ (main process); ``write_arm`` writes the rest."""
    from prefzoo.runner import AlgorithmSpec, train_one  # compare -> runner, never back

    arm_dir = arm_dir_of(out, arm.name, seed)
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
        algo = AlgorithmSpec(arm.algorithm, arm.params, f"arms.{arm.name}.params").build(recipe_dir)
        tracker = Tracker(arm_dir, recipe.tracker, config=config, group=recipe.name, name=f"{arm.name}/seed-{seed}",
                          enabled=is_main())
        job = Job(policy=base.clone(), train=arm.train, out_dir=arm_dir, seed=seed, data=seed_data, world=world,
                  tracker=tracker, label=f"{arm.name}/s{seed}", recipe_dir=recipe_dir)
        result = train_one(algo, job)  # closes the tracker
        policy = result.policy
        info = {k: v for k, v in result.info.items() if isinstance(v, (int, float, str, dict))}
        tokens = int(result.info.get("tokens", 0))
        if is_main() and getattr(policy, "is_lora", False):
            save_adapter(policy, arm_dir / "adapter")  # so anyone can re-evaluate the trained model
    train_s = time.time() - started
    # every process evaluates (same weights, same sampling seed: the same numbers); main writes them
    ev = evaluate(policy, base, world, eval_rows, seeded(recipe.eval, seed), base_texts=base_eval_texts)
    row = {"arm": arm.name, "algorithm": arm.algorithm, "family": arm.family, "sweep_value": arm.sweep_value,
           "seed": seed, "status": "ok", **ev.row(), "tokens": tokens, "train_s": round(train_s, 2),
           "wall_s": round(time.time() - started, 2), "error": ""}
    row.update(feedback_columns(info))
    return row, info, ev.per_prompt


ADAPTER_FILE = "adapter_model.safetensors"


def save_adapter(policy, path: Path) -> None:
    """A LoRA policy's adapter in ``path`` (``Policy.save``: adapter_config.json, the weights, and
    prefzoo_base.json naming the base), its weights in fp16 (half the fp32 size; kept fp32 if a value does
    not fit). The tokenizer files are dropped: ``Policy.load_saved`` takes the tokenizer from the base."""
    import torch
    from safetensors.torch import load_file, save_file

    policy.save(path)
    weights = path / ADAPTER_FILE
    if weights.exists():
        tensors = load_file(str(weights))
        half = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in tensors.items()}
        if all(torch.isfinite(v).all() for v in half.values() if v.is_floating_point()):
            save_file({k: v.contiguous() for k, v in half.items()}, str(weights), metadata={"format": "pt"})
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                 "merges.txt", "chat_template.jinja", "added_tokens.json", "tokenizer.model"):
        (path / name).unlink(missing_ok=True)


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


STARTED = "started.json"  # an arm attempt's fingerprint, written before it trains (eval.json takes it over)


def write_arm(arm_dir: Path, row: dict, info: dict, per_prompt: list[dict], fingerprint: dict | None = None) -> None:
    """A finished arm's files; ``eval.json`` last, since it marks the arm as done for reruns (its
    ``fingerprint`` says what it was trained from). A finished arm is never resumed: its checkpoints go."""
    write_jsonl(arm_dir / "samples.jsonl", per_prompt)
    (arm_dir / "error.txt").unlink(missing_ok=True)
    for ckpts in [c for c in arm_dir.rglob("checkpoints") if c.is_dir()]:
        shutil.rmtree(ckpts, ignore_errors=True)
    write_atomic(arm_dir / "eval.json", json.dumps({"row": row, "info": info, "fingerprint": fingerprint},
                                                    indent=2, default=str))
    (arm_dir / STARTED).unlink(missing_ok=True)  # after: a crash in between leaves a fingerprint either way


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
    import torch

    # One torch thread in each worker: GNU OpenMP's thread pool does not survive a fork, so a worker whose
    # parent had run a multi-threaded op (say, the base's samples of a large eval set with 2 threads) hung
    # forever in its first parallel op (tests/test_compare_reruns.py). One thread a worker is also what two
    # workers on two cores want; the make targets already run at one thread, so no number changes there.
    torch.set_num_threads(1)
    arms, seed, context = _FORKED
    return _attempt(arms[i], seed, context)


def _attempts(arms: list[Arm], seed: int, context: tuple, workers: int):
    """Each arm's attempt, in order. ``workers`` > 1 (one process, where fork exists): that many forked
    worker processes train and evaluate arms side by side. Every arm seeds its own RNGs and trains a
    fresh copy of the base, so the numbers are the ones a sequential run gives; only the parent writes
    eval.json. Each worker runs one torch thread (see ``_forked_attempt``). Under ``accelerate launch`` arms
    run one after another (training is collective)."""
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


def _arm_summary(row: dict) -> str:
    """The log line's numbers: whichever of the headline metrics this recipe evaluates."""
    parts = [f"{label} {row[key]:{fmt}}" for key, label, fmt in
             (("gold_reward", "gold", "+.3f"), ("win_rate_vs_base", "win", ".2f"), ("kl_to_base", "kl", ".2f"))
             if isinstance(row.get(key), (int, float))]
    return "  ".join(parts)


def _record(arm: Arm, seed: int, outcome, failure, seconds: float, out: Path, say, fingerprint: dict) -> dict:
    """An attempt's row; the arm's files (main process). Every process learns whether the arm failed
    anywhere, so all take the same branch (and none is left alone in a later collective). A failure
    inside a collective on some processes only is not caught here: the others wait in that collective
    until the process group times out."""
    arm_dir = arm_dir_of(out, arm.name, seed)
    failures = [(r, f) for r, f in enumerate(gather(failure)) if f is not None]
    if not failures:
        row, info, per_prompt = outcome
        if is_main():
            write_arm(arm_dir, row, info, per_prompt, fingerprint)
        say(f"[arm] {arm.name} seed {seed}: {_arm_summary(row)}  ({seconds:.1f} s)")
        return row
    where, (error, _) = failures[0]
    if is_main():
        arm_dir.mkdir(parents=True, exist_ok=True)
        (arm_dir / "error.txt").write_text("".join(  # the traceback of every process that raised
            (f"process {r}:\n" if world_size() > 1 else "") + trace for r, (_, trace) in failures))
    on = f" on process {where} of {world_size()}" if world_size() > 1 else ""
    say(f"[arm] {arm.name} seed {seed}: FAILED{on}: {error} (traceback in {arm_dir / 'error.txt'})")
    return {"arm": arm.name, "algorithm": arm.algorithm, "family": arm.family, "sweep_value": arm.sweep_value,
            "seed": seed, "status": "failed", "wall_s": round(seconds, 2), "error": error}


def _run_seed(arms: list[Arm], seed: int, context: tuple, recipe: CompareRecipe, out: Path, say,
              fingerprints: dict[str, dict], reuse: dict) -> list[dict]:
    """Every arm on one seed, in the recipe's order; arms finished by an earlier run with the same
    fingerprint (``reuse``: (arm, seed) -> row, decided by ``check_earlier``) are reused."""
    rows: dict[str, dict] = {}
    pending = []
    for arm in arms:
        earlier = reuse.get((arm.name, seed))
        if earlier is not None:
            rows[arm.name] = {**earlier, "reused": True}
            say(f"[arm] {arm.name} seed {seed}: finished earlier with the same settings, skipped")
        else:
            pending.append(arm)
            if is_main():  # what an unfinished attempt was started with: a rerun resumes it only if it matches
                arm_dir = arm_dir_of(out, arm.name, seed)
                arm_dir.mkdir(parents=True, exist_ok=True)
                write_atomic(arm_dir / STARTED, json.dumps(fingerprints[arm.name], indent=2, default=str))
    for arm, (outcome, failure, seconds) in zip(pending, _attempts(pending, seed, context, recipe.workers)):
        rows[arm.name] = _record(arm, seed, outcome, failure, seconds, out, say, fingerprints[arm.name])
    return [rows[arm.name] for arm in arms]


def _pairs_fp(recipe: CompareRecipe, seed: int, base_hash: str) -> dict:
    return {**pairs_fingerprint(recipe, seed, base_hash), **data_fingerprint(recipe)}


def check_earlier(recipe: CompareRecipe, arms: list[Arm], out: Path, base_hash: str, world, source,
                  eval_rows: list[dict], recipe_dir: Path | None, overwrite: bool) -> tuple[dict, set, list[str]]:
    """What an earlier run in ``out`` left that this one may keep: ((arm, seed) -> row of each finished arm
    whose fingerprint matches, the seeds whose human pairs must be sampled again, what differs and how).
    What differs is refused by the caller unless ``overwrite`` (then it is redone). Main process only."""
    reuse, resample, stale = {}, set(), []
    for seed in recipe.seeds:
        pairs_path = pairs_path_of(out, seed)
        fp_path = pairs_path.with_name("human_pairs.fingerprint.json")
        raw = None
        if pairs_path.exists():
            saved = json.loads(fp_path.read_text()) if fp_path.exists() else None
            keys = fingerprint_diff(saved, _pairs_fp(recipe, seed, base_hash))
            if keys:
                stale.append(f"the human pairs of seed {seed} ({', '.join(keys)})")
                resample.add(seed)
            else:
                raw = read_jsonl(pairs_path)
        dh = data_hash(raw, train_rows(recipe, world, source, seed), eval_rows) if raw is not None else None
        for arm in arms:
            arm_dir = arm_dir_of(out, arm.name, seed)
            done, started = arm_dir / "eval.json", arm_dir / STARTED
            if done.exists():
                saved, what = json.loads(done.read_text()).get("fingerprint"), "arm"
            elif started.exists() or (arm_dir.is_dir() and any(arm_dir.iterdir())):
                # an unfinished attempt (interrupted or failed): its checkpoints and reward model are resumed
                # from only if it was started with these settings (none recorded: an older prefzoo's, untrusted)
                saved, what = (json.loads(started.read_text()) if started.exists() else None), "unfinished arm"
            else:
                continue
            wanted = arm_fingerprint(arm, seed, base_hash, dh or "(human pairs sampled again)", recipe, recipe_dir)
            keys = fingerprint_diff(saved, wanted)
            if keys:
                stale.append(f"{what} {arm.name} seed {seed} ({', '.join(keys)})")
                if overwrite:  # everything it left goes (a retraining must not pick up its reward model or
                    shutil.rmtree(arm_dir)  # checkpoints, nor leave the old result marked done if it fails)
            elif done.exists():
                reuse[(arm.name, seed)] = _finished(done)
    return reuse, resample, stale


def run_compare(path: str | Path, out: str | Path | None = None, overrides: list[str] | None = None,
                log=print, overwrite: bool = False) -> Path:
    """Run the compare recipe at ``path`` into ``out`` (default ``runs/NAME``); the folder and the table."""
    return compare_table(path, out, overrides, log, overwrite)[0]


def compare_table(path: str | Path | dict, out: str | Path | None = None, overrides: list[str] | None = None,
                  log=print, overwrite: bool = False) -> tuple[Path, list[dict]]:
    """``run_compare``, returning (the output folder, the rows of results.csv: one per arm and seed)."""
    t_all = time.time()
    recipe = load_compare_recipe(path, overrides)
    # relative paths in the recipe (plugins, rules, metrics) resolve in its folder (a dict's: the working directory)
    recipe_dir = Path.cwd() if isinstance(path, dict) else Path(path).resolve().parent
    registry.load_plugins(recipe.plugins, base_dir=recipe_dir)
    # Under accelerate launch this creates the process group: from here on barriers and broadcasts are real.
    accelerator_for(recipe.train)
    say = log if is_main() else (lambda *_: None)  # one log, not one per process
    out = Path(out or Path("runs") / check_name(recipe.name, "the recipe's name"))  # never into results/
    source = "<a recipe given as a dict>" if isinstance(path, dict) else str(path)
    command = "prefzoo compare " + " ".join(shlex.quote(a) for a in [source] + (["--out", str(out)])
                                             + [x for o in overrides or [] for x in ("--set", o)]
                                             + (["--overwrite"] if overwrite else []))  # it redid what differed
    arms = expand_arms(recipe)
    # metric files found once, from the recipe's folder: every arm (and forked worker) evaluates the same ones
    recipe.eval.metrics = anchor_metrics(recipe.eval.metrics, recipe_dir)
    metrics = resolve_metrics(recipe.eval.metrics)  # unknown names fail here, before any work
    world = make_world(recipe.world, recipe_dir)
    source = pair_source(recipe, world, recipe_dir)  # a dataset's pairs, or None: sampled from the base
    gold = setup_gold(recipe, world, arms, recipe_dir)  # eval.gold, and no arm trained on it

    t = time.time()
    base, base_info = build_base(recipe, world)
    how = "loaded" if recipe.model is not None else ("cached" if base_info.get("cached") else "built")
    say(f"[stage] base ready in {time.time() - t:.1f} s ({how}); gold: {gold}")
    eval_rows = world.prompts("eval", recipe.eval.prompts, 0)
    distinct = len({r.get("id") or r["prompt"] for r in eval_rows})
    if distinct < len(eval_rows):  # some of the world's eval pools are smaller than their share: said, not hidden
        say(f"[stage] eval: {len(eval_rows)} rows from {distinct} distinct prompts; the rest repeat them")
    base_hash = base.weights_hash()
    reuse, resample, stale = from_main(lambda: check_earlier(recipe, arms, out, base_hash, world, source,
                                                             eval_rows, recipe_dir, overwrite))
    if stale and not overwrite:
        raise ConfigError(f"{out} holds results made with other settings: {'; '.join(stale)}. Rerun with "
                          f"--overwrite to redo what differs (what matches is kept), or choose another --out")
    for item in stale:
        say(f"[stage] --overwrite: redoing {item}")
    if is_main():  # only now: a refused rerun leaves the earlier results' recipe and environment as they were
        out.mkdir(parents=True, exist_ok=True)
        (out / "recipe.yaml").write_text(yaml.safe_dump(to_dict(recipe), sort_keys=False))
        # versions, CPU, threads, git commit (floats differ across machines); reused arms keep their run's
        write_environment(out, keep_earlier=bool(reuse))

    rows: list[dict] = []
    for seed in recipe.seeds:
        shared, base_eval_texts, dh = seed_data(recipe, base, world, source, out, seed, eval_rows, say,
                                                _pairs_fp(recipe, seed, base_hash), seed in resample)
        context = (base, world, shared, recipe, out, base_eval_texts, eval_rows, recipe_dir)
        fps = {arm.name: arm_fingerprint(arm, seed, base_hash, dh, recipe, recipe_dir) for arm in arms}
        rows.extend(_run_seed(arms, seed, context, recipe, out, say, fps, reuse))
    if is_main():
        from prefzoo.eval.report import write_reports

        write_reports(out, rows, arms, world, command, time.time() - t_all, metrics)
    barrier()  # every process returns once the results exist
    say(f"[stage] total {time.time() - t_all:.1f} s; results in {out}")
    return out, rows


class _CallableModule(types.ModuleType):
    """This module is the Python API's ``prefzoo.compare(...)`` too (see ``prefzoo/__init__.py``)."""

    def __call__(self, recipe, out=None, overrides: list[str] | None = None, *, overwrite: bool = False,
                 log=print) -> list[dict]:
        """Run a compare recipe (a YAML path or a dict); the table: one dict per arm and seed."""
        return compare_table(recipe, out, overrides, log, overwrite)[1]


sys.modules[__name__].__class__ = _CallableModule


if __name__ == "__main__":  # pragma: no cover
    run_compare(sys.argv[1])
