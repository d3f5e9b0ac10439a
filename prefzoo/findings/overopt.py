"""Reward-model overoptimisation at small scale (Gao, Schulman & Hilton 2022, arXiv 2210.10760).

For each seed and label budget: the world's simulated raters label ``budget`` pairs of base samples, a
proxy reward model is fitted on them, and two optimisers push the base against that proxy:

- best-of-n, without training: ``bon.candidates`` base samples per held-out prompt, scored by the gold
  and the proxy once; for each n the expected gold and proxy of the proxy's pick among n are the
  unbiased order-statistic estimates over all n-subsets of the candidates (Nakano et al. 2021, app. I;
  the estimator Gao et al. use), and KL(pi_bon || pi) = log n - (n - 1)/n (their eq. 3);
- RL (``rl.algorithm``, RLOO by default) rewarded by the proxy, evaluated at ``rl.checkpoints`` steps:
  the run continues from its own checkpoint between them (exact resume), so the points are one run's.

Each point is (d = sqrt(KL to the base), gold gain, proxy gain), gains measured from the base's own
value; ``prefzoo.findings.overopt_report`` fits the paper's forms and writes results.md, fit.json and
the plot. A (budget, seed) unit is written to ``units/`` when done with its fingerprint: a rerun with
the same settings reuses it, with other settings it is refused unless ``--overwrite``.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from prefzoo.compare_data import human_pairs, write_atomic
from prefzoo.compare_recipe import check_seeds, with_preset
from prefzoo.config import REQUIRED, ConfigError, apply_overrides, from_dict, to_dict
from prefzoo.eval.evaluator import EvalConfig, evaluate
from prefzoo.recipe import TrainConfig, default_cache_dir, read_yaml


@dataclass
class BonSettings:
    candidates: int = 128             # base samples per held-out prompt; every n <= candidates
    ns: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])


@dataclass
class RLSettings:
    algorithm: str = "rloo"           # any registered online algorithm; its reward is set to the proxy
    params: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)   # TrainConfig keys for the RL run
    checkpoints: list[int] = field(default_factory=lambda: [4, 8, 16, 32])  # steps evaluated (ascending)


@dataclass
class OveroptRecipe:
    name: str = REQUIRED
    finding: str = "overoptimization"
    world: str = "toy"
    base: dict = field(default_factory=dict)    # the world's base config (as in a compare recipe)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    label_budgets: list[int] = field(default_factory=lambda: [64, 256, 1024])  # human pairs per proxy
    train_prompts: int = 256          # prompts the label pairs (cycled) and the RL run sample from
    sample_max_new_tokens: int = 40   # length of the base samples that become the labelled pairs
    reward_model: dict = field(default_factory=dict)  # RewardModelConfig params of every proxy
    eval: EvalConfig = field(default_factory=lambda: EvalConfig(metrics=["gold_reward", "kl_to_base"]))
    bon: BonSettings = field(default_factory=BonSettings)
    rl: RLSettings = field(default_factory=RLSettings)
    cache_dir: str = field(default_factory=default_cache_dir)
    budget: str | None = None         # a preset in `budgets` (--set budget=small)
    budgets: dict = field(default_factory=dict)

    def __post_init__(self):
        check_seeds(self.seeds)
        for name in ("train_prompts", "sample_max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.label_budgets or min(self.label_budgets) < 2:
            raise ValueError("label_budgets must list budgets of at least 2 pairs")
        if 1 not in self.bon.ns:
            raise ValueError("bon.ns must include 1 (best-of-1 is the base: the point gains are measured from)")
        if (min(self.bon.ns) < 1 or max(self.bon.ns) > self.bon.candidates):
            raise ValueError(f"bon.ns must lie in 1..bon.candidates ({self.bon.candidates}), got {self.bon.ns}")
        if not self.rl.checkpoints or self.rl.checkpoints != sorted(set(self.rl.checkpoints)) or self.rl.checkpoints[0] < 1:
            raise ValueError(f"rl.checkpoints must be ascending distinct steps >= 1, got {self.rl.checkpoints}")


def load_overopt_recipe(path: str | Path, overrides: list[str] | None = None) -> OveroptRecipe:
    data = read_yaml(path)
    return from_dict(OveroptRecipe, apply_overrides(data, with_preset(data, overrides, path)))


def bon_curve(gold: torch.Tensor, proxy: torch.Tensor, ns: list[int]) -> list[dict]:
    """Expected gold and proxy of best-of-n by the proxy, per n, from ``[prompts, K]`` candidate scores.
    Sorted by proxy, the i-th smallest (0-based) of K is the pick of a random n-subset with probability
    C(i, n-1) / C(K, n); the estimate averages over prompts. KL: log n - (n-1)/n."""
    k = gold.shape[1]
    order = proxy.argsort(dim=1)
    g, p = gold.gather(1, order).double(), proxy.gather(1, order).double()
    out = []
    for n in ns:
        total = math.comb(k, n)  # exact integers, divided as Python numbers (C(128, 64) overflows int64)
        w = torch.tensor([math.comb(i, n - 1) / total for i in range(k)], dtype=torch.float64)
        out.append({"n": n, "kl": math.log(n) - (n - 1) / n, "gold": float((g @ w).mean()),
                    "proxy": float((p @ w).mean())})
    return out


def _fingerprint(recipe: OveroptRecipe, budget: int, seed: int, base_hash: str) -> str:
    keep = {k: v for k, v in to_dict(recipe).items() if k not in ("name", "seeds", "label_budgets", "budget",
                                                                  "budgets", "cache_dir")}
    text = json.dumps({"recipe": keep, "budget": budget, "seed": seed, "base": base_hash}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _proxy(recipe: OveroptRecipe, base, world, budget: int, seed: int, unit: Path, train_rows: list[dict]):
    """The proxy reward model of this budget and seed (trained on the raters' labels), saved in ``unit``."""
    from datasets import Dataset

    from prefzoo.job import Job
    from prefzoo.stages.reward import RewardModelConfig, train_reward_model

    pairs = human_pairs(base, world, train_rows, budget, seed, recipe.sample_max_new_tokens)
    job = Job(policy=base, train=TrainConfig(progress=False, cache_dir=recipe.cache_dir), out_dir=unit / "rm",
              seed=seed, world=world)
    rm, info = train_reward_model(job, Dataset.from_list(pairs), RewardModelConfig(**{"seed": seed, **recipe.reward_model}))
    rm.save(unit / "rm")
    return rm, {"pairs": len(pairs), "heldout_accuracy": info["heldout_accuracy"], "train_accuracy": info["train_accuracy"]}


@torch.no_grad()
def candidates(recipe: OveroptRecipe, base, world, rows: list[dict], seed: int) -> tuple[list[str], torch.Tensor]:
    """``bon.candidates`` seeded base samples per held-out prompt (prompt-major) and their gold scores."""
    k = recipe.bon.candidates
    torch.manual_seed(10_000 + seed)
    prompts = [r["prompt"] for r in rows for _ in range(k)]
    texts = base.generate(prompts, max_new_tokens=recipe.eval.max_new_tokens, temperature=recipe.eval.temperature)
    gold = world.gold.score([r for r in rows for _ in range(k)], texts).float().view(len(rows), k)
    return texts, gold


def rl_points(recipe: OveroptRecipe, base, world, rm_dir: Path, unit: Path, seed: int, rows: list[dict],
              train_rows: list[dict], rm) -> list[dict]:
    """The RL run against the proxy, evaluated at step 0 (the base) and at each checkpoint step."""
    from prefzoo.data.loaders import records_from_list
    from prefzoo.data.records import PROMPTS
    from prefzoo.job import Job
    from prefzoo.runner import AlgorithmSpec, train_one

    prompts_ds, _ = records_from_list([{"prompt": r["prompt"], "category": r["category"]} for r in train_rows], PROMPTS)
    train = from_dict(TrainConfig, {"progress": False, "cache_dir": recipe.cache_dir, **recipe.rl.train}, "rl.train")
    points = [_eval_point(base, base, world, rows, recipe.eval, rm, step=0)]
    for i, steps in enumerate(recipe.rl.checkpoints):
        params = {**recipe.rl.params, "reward": f"reward-model:{rm_dir.resolve()}", "steps": steps}
        algo = AlgorithmSpec(recipe.rl.algorithm, params, "rl.params").build(None)
        job = Job(policy=base.clone(), train=replace(train, resume=i > 0), out_dir=unit / "rl", seed=seed,
                  data={PROMPTS: prompts_ds}, world=world, label=f"rl/s{seed}")
        policy = train_one(algo, job).policy
        points.append(_eval_point(policy, base, world, rows, recipe.eval, rm, step=steps))
    return points


def _eval_point(policy, base, world, rows, cfg: EvalConfig, rm, step: int) -> dict:
    ev = evaluate(policy, base, world, rows, replace(cfg, metrics=["gold_reward", "kl_to_base"]))
    texts = [r["response"] for r in ev.per_prompt]
    proxy = rm.score([r["prompt"] for r in rows], texts).float()
    return {"step": step, "kl": 0.0 if policy is base else float(ev.values["kl_to_base"]),
            "gold": float(ev.values["gold_reward"]), "proxy": float(proxy.mean())}


def run_unit(recipe: OveroptRecipe, base, world, budget: int, seed: int, unit: Path, rows: list[dict],
             cands: tuple[list[str], torch.Tensor], say) -> dict:
    """One (budget, seed): the proxy, its best-of-n curve and its RL run; returns the unit's record."""
    t = time.time()
    train_rows = world.prompts("train", recipe.train_prompts, seed)
    rm, rm_info = _proxy(recipe, base, world, budget, seed, unit, train_rows)
    texts, gold = cands
    k = recipe.bon.candidates
    proxy = rm.score([r["prompt"] for r in rows for _ in range(k)], texts).float().view(len(rows), k)
    bon = bon_curve(gold, proxy, recipe.bon.ns)
    rl = rl_points(recipe, base, world, unit / "rm", unit, seed, rows, train_rows, rm)
    say(f"[overopt] budget {budget} seed {seed}: proxy held-out accuracy {rm_info['heldout_accuracy']:.3f}, "
        f"best-of-{bon[-1]['n']} gold {bon[-1]['gold']:+.3f} (n=1 {bon[0]['gold']:+.3f}), RL step "
        f"{rl[-1]['step']} gold {rl[-1]['gold']:+.3f} at KL {rl[-1]['kl']:.2f} ({time.time() - t:.0f} s)")
    return {"budget": budget, "seed": seed, "proxy": rm_info, "bon": bon, "rl": rl, "wall_s": round(time.time() - t, 1)}


def run_overopt(path: str | Path, out: str | Path, overrides: list[str] | None = None, overwrite: bool = False,
                log=print) -> tuple[Path, list[dict]]:
    """Run every (budget, seed) unit not already done with these settings; then the report."""
    from prefzoo.compare import make_world
    from prefzoo.findings.overopt_report import write_report
    from prefzoo.provenance import write_environment

    t_all = time.time()
    recipe = load_overopt_recipe(path, overrides)
    out = Path(out)
    world = make_world(recipe.world, Path(path).resolve().parent)
    base, _ = world.build_base(recipe.base, recipe.cache_dir, progress=False)
    base_hash = base.weights_hash()
    rows = world.prompts("eval", recipe.eval.prompts, 0)
    plan = [(b, s) for s in recipe.seeds for b in recipe.label_budgets]
    stale = [f"budget {b} seed {s}" for b, s in plan if _unit_state(out, b, s, _fingerprint(recipe, b, s, base_hash)) == "stale"]
    if stale and not overwrite:
        raise ConfigError(f"{out} holds overoptimisation units made with other settings ({', '.join(stale)}); "
                          f"rerun with --overwrite to redo them, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_environment(out)
    units, cands = [], {}
    for budget, seed in plan:
        fp = _fingerprint(recipe, budget, seed, base_hash)
        unit = out / "units" / f"budget-{budget}" / f"seed-{seed}"
        if _unit_state(out, budget, seed, fp) == "done":
            units.append(json.loads((unit / "unit.json").read_text())["record"])
            continue
        if unit.exists():
            import shutil

            shutil.rmtree(unit)  # a stale or unfinished unit: its checkpoints must not be resumed
        if seed not in cands:
            cands = {seed: candidates(recipe, base, world, rows, seed)}  # one seed's candidates at a time
        record = run_unit(recipe, base, world, budget, seed, unit, rows, cands[seed], log)
        write_atomic(unit / "unit.json", json.dumps({"fingerprint": fp, "record": record}, indent=1))
        units.append(record)
    command = f"prefzoo findings {path} --out {out}" + "".join(f" --set {o}" for o in overrides or [])
    write_report(out, recipe, units, command, time.time() - t_all)
    log(f"[overopt] total {time.time() - t_all:.0f} s; results in {out}")
    return out, units


def _unit_state(out: Path, budget: int, seed: int, fp: str) -> str:
    path = Path(out) / "units" / f"budget-{budget}" / f"seed-{seed}" / "unit.json"
    if not path.exists():
        return "todo"
    try:
        return "done" if json.loads(path.read_text())["fingerprint"] == fp else "stale"
    except (ValueError, KeyError):
        return "todo"  # a torn file (written atomically, so only by hand): redo it
