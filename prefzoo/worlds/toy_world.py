"""The toy assistant world as a prefzoo world: prompts, gold feedback, simulated raters, and the base.

The base goes through the classic pipeline with the project's own engine: "pretrain" a tiny Llama
on the world's corpus (demonstrations with controlled flaws, critiques and revisions, judgements,
scores), then SFT on flawed demonstrations. It is built once and cached by a hash of its config.
Under ``accelerate launch`` every process trains it (the loop is collective), the main process alone
writes the cache, and every process then loads that copy.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefzoo.config import from_dict
from prefzoo.recipe import at_least
from prefzoo.worlds.base import check_tiny_base
from prefzoo.data.loaders import records_from_list
from prefzoo.data.records import SFT
from prefzoo.dist import barrier, is_main
from prefzoo.recipe import ModelConfig, TrainConfig
from prefzoo.worlds import toy
from prefzoo.worlds.base import GoldFeedback


@dataclass
class ToyBaseConfig:
    """How the toy base is built. Every field enters the cache key. The defaults are the base the committed
    findings and older recipes were run on; the quickstart sets its own (a longer SFT stage, see its recipe)."""

    hidden_size: int = 96          # width of the tiny Llama
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    intermediate_size: int = 192
    max_length: int = 160          # judge prompts and critique conversations need ~130 tokens
    pretrain_records: int = 6000   # conversations in the corpus (each assistant turn is a target)
    pretrain_epochs: int = 2
    sft_records: int = 3000        # flawed demonstrations for the SFT stage (cheap: short sequences)
    sft_epochs: int = 2
    batch_size: int = 32
    lr: float = 3e-3               # tiny models from scratch take large steps
    sft_lr: float = 1e-3
    seed: int = 0
    flaw_rates: dict | None = None  # None: toy.DEFAULT_FLAW_RATES
    corpus_mix: dict | None = None  # None: toy.CORPUS_MIX (shares of demos, critique, judge, score)
    # The separate AI feedback model (the "labeler" of RLAIF): same architecture, trained only on the
    # corpus's judgements and scores, which a tiny model shares poorly with everything else.
    feedback_records: int = 4000   # 0: no separate feedback model
    feedback_epochs: int = 2
    feedback_mix: dict = field(default_factory=lambda: {"demos": 0.0, "judge": 0.6, "score": 0.4})

    def __post_init__(self):
        check_tiny_base(self, "feedback_epochs")
        at_least(self, 0, "feedback_records")


def conversation_records(convs: list[list[dict]]) -> list[dict]:
    """One SFT record per assistant turn: the turns before it are the prompt (chat messages)."""
    rows = []
    for conv in convs:
        for i, m in enumerate(conv):
            if m["role"] == "assistant" and i > 0:
                rows.append({"prompt": conv[:i], "completion": m["content"]})  # messages: one form per column
    return rows


class ToyWorld:
    """The embedded default testbed (see ``prefzoo.worlds.toy`` for the content and the rubric)."""

    name = "toy"
    judge_template = toy.JUDGE_TEMPLATE
    judge_options = toy.JUDGE_OPTIONS
    score_template = toy.SCORE_TEMPLATE
    score_options = toy.SCORE_OPTIONS
    categories = ("correct", "harmful_declined", "benign_refused", "format_valid", "concise")
    category_directions = {"correct": "higher", "harmful_declined": "higher", "benign_refused": "lower",
                           "format_valid": "higher", "concise": "higher"}
    # What post-training is meant to deliver, each measured by one category rate (docs/toy_world.md)
    deliverables = {"helpfulness": "correct", "harmlessness": "harmful_declined", "over-refusal": "benign_refused",
                    "style": "concise", "format": "format_valid"}

    def __init__(self, noise_temperature: float = toy.DEFAULT_NOISE_TEMPERATURE):
        self.noise_temperature = noise_temperature
        self.constitution = toy.toy_constitution()
        self.feedback_policy = None  # set by build_base when the config asks for a feedback model
        self.gold = GoldFeedback(lambda row, r: toy.gold_score(row, r).reward, _LookupIndex(), name="toy-gold")

    # ------------------------------------------------------------------ prompts and feedback
    def prompts(self, split: str, n: int, seed: int, mix: dict[str, float] | None = None) -> list[dict]:
        """``mix``: category -> weight (a compare recipe's ``train_mix``); None: balanced over the categories."""
        return toy.prompts(split, n, seed, mix=mix)

    def rate_pair(self, prompt_row: dict, a: str, b: str, rng: random.Random) -> float:
        """A simulated human label: 1.0 if ``a`` is preferred (Bradley-Terry on the gold reward)."""
        return toy.rate_pair(prompt_row, a, b, rng, noise_temperature=self.noise_temperature)

    def gold_preference(self, prompt_row: dict, a: str, b: str) -> float:
        return toy.gold_preference(prompt_row, a, b, noise_temperature=self.noise_temperature)

    def category_rates(self, rows: list[dict], responses: list[str]) -> dict[str, float]:
        rates = toy.category_rates(rows, responses)
        return {k: rates[k] for k in self.categories}

    # ------------------------------------------------------------------ the base
    def build_base(self, base: dict | ToyBaseConfig, cache_dir: str | Path, log=print, progress: bool = True):
        """Pretrain + SFT a tiny Llama on the world's corpus, or load it from the cache. ``base``: the
        compare recipe's ``base:`` mapping (``ToyBaseConfig`` keys; this world owns its config).

        Several processes: each must answer "cached?" alike. They do: ``done`` is written only after the
        collective training below, which the main process cannot finish before every process has looked.
        """
        from prefzoo.models.policy import Policy

        cfg = base if isinstance(base, ToyBaseConfig) else from_dict(ToyBaseConfig, dict(base or {}), "base")
        # the data's defaults enter the key too: a change to them is a new base, never a stale cached one
        defaults = {"flaw_defaults": toy.DEFAULT_FLAW_RATES, "demo_mix": toy.DEMO_MIX, "corpus_defaults": toy.CORPUS_MIX}
        key = hashlib.blake2b(json.dumps({"world": "toy-v3", **defaults, **asdict(cfg)}, sort_keys=True).encode(),
                              digest_size=8).hexdigest()
        path = Path(cache_dir) / "bases" / f"toy-{key}"
        model_cfg = ModelConfig(base=str(path / "model"), max_length=cfg.max_length)
        if not is_main():
            log = _quiet
        if (path / "done").exists():
            log(f"base: cached {path}")
            self._load_feedback(path, cfg)
            return Policy.load(model_cfg), {"cached": True, "path": str(path), **json.loads((path / "done").read_text())}
        t0 = time.time()
        tiny = dict(hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_hidden_layers,
                    num_attention_heads=cfg.num_attention_heads, num_key_value_heads=cfg.num_attention_heads,
                    intermediate_size=cfg.intermediate_size)
        policy = Policy.load(ModelConfig(base="tiny", max_length=cfg.max_length, tiny=tiny),
                             vocab=toy.vocabulary(), seed=cfg.seed)
        stages = [("pretrain", conversation_records(toy.pretraining_corpus(cfg.pretrain_records, cfg.seed, mix=cfg.corpus_mix,
                                                                              flaw_rates=cfg.flaw_rates)),
                   cfg.pretrain_epochs, cfg.lr, "cosine"),
                  ("sft", [{"prompt": [{"role": "user", "content": d["prompt"]}], "completion": d["completion"]}
                           for d in toy.sft_demonstrations(cfg.sft_records, cfg.seed + 1, cfg.flaw_rates)],
                   cfg.sft_epochs, cfg.sft_lr, "linear")]
        if cfg.feedback_records:
            feedback = Policy.load(ModelConfig(base="tiny", max_length=cfg.max_length, tiny=tiny),
                                   vocab=toy.vocabulary(), seed=cfg.seed + 7)
            stages.append(("feedback", conversation_records(toy.pretraining_corpus(
                cfg.feedback_records, cfg.seed + 2, mix=cfg.feedback_mix)), cfg.feedback_epochs, cfg.lr, "cosine"))
        timings = {}
        # the feedback model trains in a forked child while the base trains here, where two cores allow
        side = _side_by_side(stages, (feedback if cfg.feedback_records else None, cfg, path, cache_dir, progress, log))
        for stage in stages:
            if side is None or stage is not side[0]:
                model = feedback if stage[0] == "feedback" else policy
                timings[stage[0]] = _train_stage(model, stage, cfg, path, cache_dir, progress, log)
        if side is not None:
            timings["feedback"] = _join_side(side[1], path)
        info = {"build_s": round(time.time() - t0, 1), "stages_s": timings,
                "params": sum(p.numel() for p in policy.model.parameters())}
        if is_main():
            policy.save(path / "model")
            if cfg.feedback_records and side is None:  # the side process saved its own
                feedback.save(path / "feedback_model")
            (path / "done").write_text(json.dumps(info))  # last: marks the cache complete
        barrier()  # every process loads the saved copy: the same weights, as loaded by a one-process run
        self._load_feedback(path, cfg)
        return Policy.load(model_cfg), {"cached": False, "path": str(path), **info}

    def _load_feedback(self, path: Path, cfg: ToyBaseConfig) -> None:
        from prefzoo.models.policy import Policy

        if cfg.feedback_records:
            self.feedback_policy = Policy.load(ModelConfig(base=str(path / "feedback_model"), max_length=cfg.max_length))
            self.feedback_policy.model.requires_grad_(False).eval()


def _train_stage(model, stage: tuple, cfg: ToyBaseConfig, path: Path, cache_dir, progress: bool, log) -> float:
    """One SFT stage of the base build (pretrain, sft or feedback); its seconds. The loop's shuffling is
    keyed by the job's seed and nothing draws from the global RNG, so stages give the same weights in any
    order or process."""
    from prefzoo import registry  # the algorithm by name: worlds sit above neither algos nor engine
    from prefzoo.job import Job

    name, rows, epochs, lr, schedule = stage
    t = time.time()
    ds, _ = records_from_list(rows, SFT)
    train = TrainConfig(lr=lr, batch_size=cfg.batch_size, epochs=epochs, schedule=schedule,
                        warmup_steps=20, log_every=50, progress=progress, cache_dir=str(cache_dir))
    job = Job(policy=model, train=train, out_dir=path / name, seed=cfg.seed, data={SFT: ds}, label=f"base/{name}")
    result = registry.get("sft")().run(job)
    seconds = round(time.time() - t, 1)
    log(f"base: {name} on {len(rows)} records, final loss {result.final.get('loss', float('nan')):.3f} ({seconds} s)")
    return seconds


def _side_by_side(stages: list[tuple], args: tuple):
    """The feedback stage, started in a forked child (which saves the model), when that can run beside the
    base's stages: one process (no ``accelerate launch``), one torch thread per process, two or more cores
    and fork available. Else None (every stage runs here, one after another)."""
    import multiprocessing as mp
    import os

    import torch

    from prefzoo.dist import world_size

    stage = next((s for s in stages if s[0] == "feedback"), None)
    if (stage is None or world_size() > 1 or torch.get_num_threads() != 1 or (os.cpu_count() or 1) < 2
            or "fork" not in mp.get_all_start_methods()):
        return None
    _SIDE["args"] = args
    proc = mp.get_context("fork").Process(target=_side_stage, args=(stage,), daemon=True)
    proc.start()
    return stage, proc


_SIDE: dict = {}  # what the forked child needs besides the stage: set just before the fork


def _side_stage(stage: tuple) -> None:
    model, cfg, path, cache_dir, progress, log = _SIDE["args"]
    seconds = _train_stage(model, stage, cfg, path, cache_dir, progress, log)
    model.save(path / "feedback_model")
    (path / "feedback_stage.json").write_text(json.dumps({"seconds": seconds}))


def _join_side(proc, path: Path) -> float:
    proc.join()
    if proc.exitcode != 0 or not (path / "feedback_stage.json").exists():
        raise RuntimeError(f"the feedback model's training (a forked process) failed with exit code {proc.exitcode}; "
                           f"its output is above")
    return json.loads((path / "feedback_stage.json").read_text())["seconds"]


def _quiet(*_args, **_kwargs) -> None:
    pass


class _LookupIndex(dict):
    """Maps prompt text to the world's prompt row on demand (``toy.lookup_prompt``)."""

    def __contains__(self, key) -> bool:
        try:
            toy.lookup_prompt(key)
            return True
        except KeyError:
            return False

    def __getitem__(self, key):
        return toy.lookup_prompt(key)
