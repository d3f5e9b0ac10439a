"""A world made from a preference dataset: the researcher's own pairs, split into train and test.

``world: dataset`` with a ``data:`` block in a compare recipe (``DataSource``): any file or hub id the
loaders read (JSONL/JSON/Parquet, TRL standard or conversational, implicit prompts, Anthropic-HH
transcripts). The pairs are split by a seeded hash of the prompt, so no prompt is on both sides
(``test_fraction``), or the test pairs come from their own file (``test_path``; train pairs whose prompt
is also there are dropped and counted). The train pairs are the comparison's human pairs (the label
budget subsamples them, seeded); online arms sample the train prompts; every arm is evaluated on the
test prompts, and the test pairs feed ``heldout_accuracy``.

Gold: ``eval.gold`` names it (a reward model, a rule; see ``prefzoo.eval.gold``). Without one the world
uses the reference gold below, a cheap, model-free proxy that needs nothing but the data: how much
closer a response is to the test pair's chosen reply than to its rejected one (token F1, in [-1, 1]).
It is a proxy, not a judgement of quality; a comparison that matters names a real gold.

Without a ``data:`` block the world reads the preference set prefzoo ships
(``prefzoo/worlds/hh_data/pairs.jsonl``), so it works out of the box and in the world contract tests.
"""
from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from prefzoo.feedback.base import Feedback
from prefzoo.registry import recipe_path

BUNDLED = Path(__file__).resolve().parent / "hh_data" / "pairs.jsonl"
TEST_OVERLAP = "prompt also in the test set"


@dataclass
class DataSource:
    """The compare recipe's ``data:`` block: where the preference pairs come from and how they split."""

    path: str | None = None           # JSONL/JSON/Parquet file or hub id (relative paths: to the recipe); None: bundled
    kind: Literal["pairs", "prompts"] = "pairs"  # prompts: a prompt-only set for RL-only comparisons (online arms
                                      # and a reward; no pairs to learn from or rank, so name eval.gold)
    format: str = "auto"              # auto | standard | conversational | implicit | hh (prefzoo.data.load_records)
    split: str = "train"              # the source's split (hub ids; local files have "train")
    test_fraction: float = 0.1        # share of prompts held out (by a seeded hash of the prompt)
    test_path: str | None = None      # a separate test file instead (its prompts are held out)
    test_split: str | None = None     # ... or a named split of `path` (hub ids)
    seed: int = 0                     # the split's hash seed (not the arms' seeds: the split is fixed)

    def __post_init__(self):
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"data.test_fraction must be in (0, 1), got {self.test_fraction}")


@dataclass
class StandInBase:
    """``base:`` of a dataset comparison without ``model:`` (see ``DatasetWorld.build_base``)."""

    epochs: int = 3                   # passes over both replies of every train pair
    lr: float = 0.003                 # tiny model: large steps
    seed: int = 0
    max_length: int = 256


def prompt_text(prompt: Any) -> str:
    """A prompt as one string (chat messages joined), for hashing, matching and lookups."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def in_test(prompt: Any, fraction: float, seed: int) -> bool:
    """The seeded hash split: the same prompt always lands on the same side."""
    h = hashlib.blake2b(f"{seed}\x00{prompt_text(prompt)}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2 ** 64 < fraction


def _tokens(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()


def token_f1(a: str, b: str) -> float:
    """Bag-of-words F1 between two texts (0 when either is empty)."""
    ta, tb = _tokens(a), _tokens(b)
    common = sum((Counter(ta) & Counter(tb)).values())
    if not ta or not tb or not common:
        return 0.0
    p, r = common / len(ta), common / len(tb)
    return 2 * p * r / (p + r)


class ReferenceGold(Feedback):
    """gold(x, y) = F1(y, chosen) - F1(y, rejected) over the pair(s) of prompt x (averaged over its pairs)."""

    name = "reference F1 (chosen - rejected)"

    def __init__(self, refs: dict[str, list[tuple[str, str]]]):
        self.refs = refs

    def score(self, prompts, responses) -> torch.Tensor:
        out = []
        for p, y in zip(prompts, responses):
            key = prompt_text(p["prompt"] if isinstance(p, dict) else p)
            pairs = self.refs.get(key)
            if not pairs:
                raise KeyError(f"the reference gold knows no pair for the prompt {key[:80]!r}")
            out.append(sum(token_f1(y, c) - token_f1(y, r) for c, r in pairs) / len(pairs))
        return torch.tensor(out)


class NoGold(Feedback):
    """A prompt-only dataset has no reference replies: the comparison must name its gold (eval.gold)."""

    name = "none (name eval.gold)"

    def score(self, prompts, responses) -> torch.Tensor:
        from prefzoo.config import ConfigError

        raise ConfigError("world dataset with prompts only has no gold of its own: set eval.gold "
                          "(reward-model:PATH|HUB_ID or rule:FILE.py:FUNC)")


def _as_text(x: Any) -> str:
    return x if isinstance(x, str) else "\n\n".join(m["content"] for m in x)


class DatasetWorld:
    """See the module docstring. ``use_data`` points it at a recipe's ``data:`` block."""

    name = "dataset"
    categories: tuple[str, ...] = ()  # the data's categories (its `category` column), set by use_data
    judge_template = judge_options = score_template = score_options = constitution = feedback_policy = None
    category_directions = None

    def __init__(self, source: DataSource | None = None, recipe_dir: str | Path | None = None):
        self.use_data(source or DataSource(), recipe_dir)

    # ------------------------------------------------------------------ data
    def use_data(self, source: DataSource, recipe_dir: str | Path | None = None) -> None:
        from prefzoo.data import load_records

        self.source = source
        path = str(recipe_path(source.path, recipe_dir)) if source.path else str(BUNDLED)
        pairs, self.report = load_records(path, source.kind, split=source.split, format=source.format)
        rows = pairs.to_list()
        if source.test_path or source.test_split:
            test_src = str(recipe_path(source.test_path, recipe_dir)) if source.test_path else path
            test, _ = load_records(test_src, source.kind, split=source.test_split or "train", format=source.format)
            self.test_pairs = test.to_list()
            held = {prompt_text(r["prompt"]) for r in self.test_pairs}
            self.train_pairs = []
            for i, r in enumerate(rows):
                if prompt_text(r["prompt"]) in held:
                    self.report.drop(TEST_OVERLAP, i)  # never train on a test prompt
                else:
                    self.train_pairs.append(r)
        else:
            side = [in_test(r["prompt"], source.test_fraction, source.seed) for r in rows]
            self.train_pairs = [r for r, t in zip(rows, side) if not t]
            self.test_pairs = [r for r, t in zip(rows, side) if t]
        if not self.train_pairs or not self.test_pairs:
            from prefzoo.data import DataError

            raise DataError(f"{path}: {len(self.train_pairs)} train and {len(self.test_pairs)} test rows after the "
                            f"split; both must be non-empty (set data.test_fraction or data.test_path)")
        self.categories = tuple(sorted({str(r.get("category") or "all") for r in rows})) or ("all",)
        refs: dict[str, list[tuple[str, str]]] = {}
        for r in self.train_pairs + self.test_pairs if source.kind == "pairs" else []:
            refs.setdefault(prompt_text(r["prompt"]), []).append((_as_text(r["chosen"]), _as_text(r["rejected"])))
        self.gold: Feedback = ReferenceGold(refs) if refs else NoGold()

    def human_pairs(self, budget: int | None, seed: int) -> list[dict]:
        """The train pairs the arms learn from: all, or a seeded subsample of ``budget`` (none for prompts)."""
        if self.source.kind != "pairs":
            return []
        pairs = list(self.train_pairs)
        if budget is not None and budget < len(pairs):
            keep = sorted(random.Random(f"budget:{seed}").sample(range(len(pairs)), budget))
            pairs = [pairs[i] for i in keep]
        return [dict(r) for r in pairs]

    def build_base(self, base: dict | None, cache_dir: str | Path, log=print, progress: bool = False):
        """A small stand-in SFT base when the recipe names no ``model:`` (e.g. the bundled example): a tiny
        Llama over the data's words, fine-tuned on BOTH replies of every train pair, so it starts unaligned
        (it says the chosen and the rejected kind of thing alike). ``base``: {epochs, lr, seed, max_length}.
        A real comparison names its SFT model under ``model:`` instead."""
        from prefzoo import registry
        from prefzoo.config import ConfigError, from_dict
        from prefzoo.data import records_from_list
        from prefzoo.job import Job
        from prefzoo.models.policy import Policy
        from prefzoo.models.tiny import words_of
        from prefzoo.recipe import ModelConfig, TrainConfig

        if self.source.kind != "pairs":
            raise ConfigError("a prompt-only dataset has no replies to build a stand-in base from: name your "
                              "SFT model under model: (e.g. --set model.base=PATH_OR_HUB_ID)")
        cfg = from_dict(StandInBase, dict(base or {}), "base")
        texts = [_as_text(r[k]) if k != "prompt" else prompt_text(r[k]) for r in self.train_pairs + self.test_pairs
                 for k in ("prompt", "chosen", "rejected")]
        policy = Policy.load(ModelConfig(base="tiny", max_length=cfg.max_length), vocab=words_of(texts), seed=cfg.seed)
        rows = [{"prompt": r["prompt"], "completion": r[k]} for r in self.train_pairs for k in ("chosen", "rejected")]
        ds, _ = records_from_list(rows, "sft")
        train = TrainConfig(lr=cfg.lr, batch_size=16, epochs=cfg.epochs, progress=progress, cache_dir=str(cache_dir))
        result = registry.get("sft")().run(Job(policy=policy, train=train, out_dir=Path(cache_dir) / "dataset-base",
                                               seed=cfg.seed, data={"sft": ds}, label="base/sft"))
        log(f"base: a tiny stand-in SFT'd on {len(rows)} replies, final loss {result.final.get('loss', math.nan):.3f}")
        return policy, {"stand_in": True, "sft_records": len(rows)}

    # ------------------------------------------------------------------ the world protocol
    def prompts(self, split: str, n: int | None, seed: int) -> list[dict]:
        """Unique prompts of the train or test pairs (id: a hash of the prompt). "eval" rows keep the data's
        order (the same for every seed); "train" rows are shuffled by ``seed``; ``n`` takes the first n."""
        pairs = self.test_pairs if split == "eval" else self.train_pairs
        rows, seen = [], set()
        for r in pairs:
            key = prompt_text(r["prompt"])
            if key in seen:
                continue
            seen.add(key)
            rows.append({"id": hashlib.blake2b(key.encode(), digest_size=6).hexdigest(), "prompt": r["prompt"],
                         "category": str(r.get("category") or "all")})
        if split != "eval":
            random.Random(seed).shuffle(rows)
        return rows if n is None else rows[:n]

    def gold_preference(self, prompt_row: dict, a: str, b: str) -> float:
        """Bradley-Terry on the gold: sigma(g(a) - g(b)); 0.5 for a tie."""
        g = self.gold.score([prompt_row, prompt_row], [a, b]).tolist()
        return 1.0 / (1.0 + math.exp(g[1] - g[0]))

    def rate_pair(self, prompt_row: dict, a: str, b: str, rng: random.Random) -> float:
        return 1.0 if rng.random() < self.gold_preference(prompt_row, a, b) else 0.0

    def category_rates(self, rows: list[dict], responses: list[str]) -> dict[str, float]:
        """Per category: the share of responses the gold scores above 0 (closer to the preferred side)."""
        scores = self.gold.score(rows, responses).tolist() if rows else []
        out = {}
        for c in self.categories:
            mine = [s for r, s in zip(rows, scores) if r.get("category") == c]
            out[c] = sum(s > 0 for s in mine) / len(mine) if mine else float("nan")
        return out

    def test_pairs_of(self, rows: list[dict]) -> list[list[dict]]:
        """For each eval row, its test pairs (for ``heldout_accuracy``)."""
        by_prompt: dict[str, list[dict]] = {}
        for r in self.test_pairs:
            by_prompt.setdefault(prompt_text(r["prompt"]), []).append(r)
        return [by_prompt.get(prompt_text(r["prompt"]), []) for r in rows]


__all__ = ["DatasetWorld", "DataSource", "ReferenceGold", "in_test", "token_f1", "prompt_text", "BUNDLED"]
