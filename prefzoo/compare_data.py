"""What every arm of a comparison shares: the human pairs (the label budget), the train prompts online arms
sample, the base's evaluation samples, and the gold the arms are scored by.

Where the pairs come from:
- a preference dataset (``data:``, or ``world: dataset``): its train split, all pairs or a seeded
  subsample of ``label_budget``; the train prompts are the data's. With another world (e.g. ``suite``) the
  arms learn from the data and are evaluated on that world's held-out prompts and gold;
- otherwise: two base samples per train prompt of the world, labelled by its simulated raters.

The gold: ``eval.gold`` (a reward model, a rule; ``prefzoo.feedback.spec``) replaces the world's own. An arm
rewarded by the very gold it is scored by is refused unless ``eval.allow_gold_as_reward``: its
overoptimisation would be invisible.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

from prefzoo.compare_recipe import CompareRecipe, pairs_path_of
from prefzoo.config import ConfigError, to_dict
from prefzoo.data.loaders import records_from_list
from prefzoo.data.records import PAIRS, PROMPTS
from prefzoo.dist import from_main, is_main
from prefzoo.engine.loop import seed_everything
from prefzoo.eval.evaluator import sample, seeded
from prefzoo.feedback.cache import stable_hash


def pair_source(recipe: CompareRecipe, world, recipe_dir: Path | None):
    """The object that supplies the human pairs and train prompts (a ``DatasetWorld``), or None when they
    are sampled from the base and rated by the world."""
    if hasattr(world, "use_data"):  # the world is the data (world: dataset)
        if recipe.data is not None:
            world.use_data(recipe.data, recipe_dir)
        return world
    if recipe.data is not None:  # your pairs, another world's evaluation
        from prefzoo.worlds.dataset import DatasetWorld

        return DatasetWorld(recipe.data, recipe_dir)
    return None


class _GoldJob:
    """What the feedback builder reads from a job, for the evaluation's gold (no training job exists)."""

    def __init__(self, recipe: CompareRecipe, world, recipe_dir):
        self.world, self.recipe_dir, self.train, self.policy = world, recipe_dir, recipe.train, None


def setup_gold(recipe: CompareRecipe, world, arms, recipe_dir: Path | None) -> str:
    """Point ``world.gold`` at ``eval.gold`` (if set) and refuse an arm trained on the gold; the gold's name."""
    spec = recipe.eval.gold
    if spec is not None and spec not in ("world", "gold"):
        from prefzoo.feedback.spec import build_feedback

        world.gold = build_feedback(spec, _GoldJob(recipe, world, recipe_dir), role="eval.gold")
    gold_names = {spec} if spec not in (None, "world", "gold") else {"world", "gold"}
    if not recipe.eval.allow_gold_as_reward:
        for arm in arms:
            reward = arm.params.get("reward") if isinstance(arm.params, dict) else None
            if reward in gold_names:
                raise ConfigError(f"arm {arm.name!r} is rewarded by {reward!r}, the gold it is scored by: its "
                                  f"overoptimisation would be invisible. Reward it by a learned reward model or "
                                  f"another source, or set eval.allow_gold_as_reward: true to study exactly that")
    return getattr(world.gold, "name", str(spec))


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


def write_jsonl(path: Path, rows: list[dict]) -> None:
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))


def write_atomic(path: Path, text: str) -> None:
    """Write then rename: an interrupted run never leaves a torn file that a rerun would trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def train_rows(recipe: CompareRecipe, world, source, seed: int) -> list[dict]:
    """The prompts online arms sample from: the data's train prompts, or the world's."""
    if recipe.train_mix is not None:  # checked at load: a world that honours it, no data
        return world.prompts("train", recipe.train_prompts, seed, mix=recipe.train_mix)
    return (source or world).prompts("train", recipe.train_prompts, seed)


def pairs_for(recipe: CompareRecipe, base, world, source, rows: list[dict], seed: int) -> list[dict]:
    if source is not None:
        return source.human_pairs(recipe.label_budget, seed)
    if recipe.label_budget is None:
        raise ConfigError("label_budget: null means all the pairs of `data:`; without data the human pairs are "
                          "sampled from the base, so give their number")
    return human_pairs(base, world, rows, recipe.label_budget, seed, recipe.sample_max_new_tokens)


def seed_data(recipe: CompareRecipe, base, world, source, out: Path, seed: int, eval_rows: list[dict], say,
              pairs_fp: dict, resample: bool):
    """One seed's shared material: the human pairs (made once, the label budget; ``resample``: again, their
    settings changed), the train prompts, the base's evaluation samples, and the data's hash."""
    t = time.time()
    pairs_path = pairs_path_of(out, seed)
    rows = train_rows(recipe, world, source, seed)
    if resample or not from_main(pairs_path.exists):
        # every process makes them (same seed, same base), so none waits long at the broadcast below
        made = pairs_for(recipe, base, world, source, rows, seed)
        if is_main():  # the fingerprint first: pairs without one are never trusted
            write_atomic(pairs_path.with_name("human_pairs.fingerprint.json"), json.dumps(pairs_fp, indent=2))
            write_jsonl(pairs_path, made)
    raw_pairs = from_main(lambda: read_jsonl(pairs_path))  # main's file is what every process learns from
    prompts_ds, _ = records_from_list([{"prompt": r["prompt"], "category": r["category"]} for r in rows], PROMPTS)
    if not raw_pairs and source is not None:  # a prompt-only dataset: online arms only (offline ones fail clearly)
        say(f"[stage] seed {seed}: prompts only ({len(rows)} train prompts), base samples")
        base_eval_texts = sample(base, [r["prompt"] for r in eval_rows], seeded(recipe.eval, seed))[0]
        return {PROMPTS: prompts_ds}, base_eval_texts, data_hash(raw_pairs, rows, eval_rows)
    pairs, report = records_from_list(raw_pairs, PAIRS)
    base_eval_texts = sample(base, [r["prompt"] for r in eval_rows], seeded(recipe.eval, seed))[0]
    if source is not None:
        budget = recipe.label_budget
        what = f"{report.kept} pairs from the data ({'all' if budget is None else 'budget ' + str(budget)}"
        what += ": all it holds, fewer than the budget)" if budget is not None and report.kept < budget else ")"
    else:
        what = (f"{report.kept} human pairs of budget {recipe.label_budget} ({recipe.label_budget - len(raw_pairs)} "
                f"skipped: an empty sample")
        what += f"; {report.total_dropped} dropped: {report.as_dict()['dropped']})"
    say(f"[stage] seed {seed}: {what}, base samples, {time.time() - t:.1f} s")
    return {PAIRS: pairs, PROMPTS: prompts_ds}, base_eval_texts, data_hash(raw_pairs, rows, eval_rows)


def data_hash(raw_pairs: list[dict], rows: list[dict], eval_rows: list[dict]) -> str:
    return stable_hash([raw_pairs, rows, eval_rows])


def data_fingerprint(recipe: CompareRecipe) -> dict:
    """What the pairs depend on beyond ``pairs_fingerprint``: the dataset they come from, the train prompts'
    category mix (each only when set: a recipe without them keeps its earlier fingerprints)."""
    extra = {"data": to_dict(recipe.data)} if recipe.data is not None else {}
    if recipe.train_mix is not None:
        extra["train_mix"] = dict(recipe.train_mix)
    return extra


__all__ = ["pair_source", "setup_gold", "human_pairs", "seed_data", "data_hash", "train_rows", "write_jsonl",
           "write_atomic", "read_jsonl", "data_fingerprint"]
