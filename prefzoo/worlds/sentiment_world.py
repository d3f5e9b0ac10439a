"""The sentiment world: continue a movie review positively, scored by a sentiment model nobody here wrote.

The analogue of the DPO paper's controlled sentiment generation (Rafailov et al. 2023, arXiv 2305.18290,
sec. 6.1: IMDb review prefixes, the policy writes a positive continuation, the reward is a sentiment
classifier, and algorithms are compared on their reward-vs-KL frontier).

* ``prompts(split, n, seed)``: movie-review openings (``sentiment_data``), each with VADER compound 0,
  behind the instruction ``continue this movie review :``; train and eval disjoint for every seed.
* ``gold``: VADER's compound score of the continuation alone (Hutto & Gilbert 2014, the ``vaderSentiment``
  package, MIT; a lexicon and rules, in [-1, 1]). The prompt is not scored: it is neutral by construction.
* ``gold_preference(row, a, b)``: 1 / 0 by which continuation has the higher compound, 0.5 for equal
  compounds; the evaluator's win rate is then the share of prompts where the arm out-scores the base.
* ``rate_pair``: simulated human raters, Bradley-Terry on the compound with noise temperature ``T``
  (``DEFAULT_NOISE_TEMPERATURE``): P(a preferred) = sigmoid((c_a - c_b) / T).
* ``categories``: ``positive`` and ``negative``, the shares of replies VADER calls positive (compound
  >= 0.05) and negative (<= -0.05), its own documented thresholds; more positive and fewer negative is better.
* ``build_base``: a tiny word-level Llama pretrained on longer reviews and SFT'd on short continuations of
  mixed sentiment (``sentiment_corpus``), cached under ``cache_dir`` by a hash of its config and the data.
  A real model instead: ``model: {base: smollm2-135m-instruct, lora: ...}`` in the compare recipe.

There is no AI-feedback material of its own (RLAIF and CAI use the generic English templates and the default
constitution) and no separate labeler model. Needs the extra: ``pip install 'prefzoo[sentiment]'``.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from prefzoo.config import ConfigError, from_dict
from prefzoo.worlds import sentiment_corpus as corpus
from prefzoo.worlds import sentiment_data as data
from prefzoo.worlds.base import GoldFeedback, check_tiny_base

INSTALL_HINT = "pip install 'prefzoo[sentiment]'"
POSITIVE, NEGATIVE = 0.05, -0.05   # VADER's documented cut-offs for a positive / negative text
# Compounds lie in [-1, 1]; the base's replies sit near +-0.5 or 0. With T = 0.25 a rater picks the
# better reply with P = sigmoid(4) = 0.98 for a gap of 1 (praise vs scorn), 0.88 for 0.5 (praise vs a
# flat sentence), 0.69 for 0.2 and 0.55 for 0.05 (two replies of the same polarity): raters who agree with
# the gold on clear cases and are near coin flips on near-ties. The toy world's T = 0.5 on gaps twice as big.
DEFAULT_NOISE_TEMPERATURE = 0.25


@lru_cache(maxsize=1)
def analyzer():
    """The VADER analyzer (built once: it reads its lexicon); a clear error when the extra is missing."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as e:
        raise ConfigError(f"the sentiment world scores replies with VADER, and the vaderSentiment package is not "
                          f"installed: {INSTALL_HINT}") from e
    return SentimentIntensityAnalyzer()


def compound(text: str) -> float:
    """VADER's compound score of ``text`` in [-1, 1] (0 for an empty text)."""
    return float(analyzer().polarity_scores(text)["compound"]) if text.strip() else 0.0


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@dataclass
class SentimentBaseConfig:
    """How the tiny base is built. Every field enters the cache key (so does the data)."""

    # ~0.2M parameters, ~35 s on one core. Width 64 builds in ~25 s but writes more broken sentences; one
    # epoch a stage (~15 s) mostly word salad (its VADER spread is as wide: the gold reads words, not grammar).
    hidden_size: int = 96
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 192
    max_length: int = 64           # instruction + opening ~20 tokens, a continuation up to ~35
    pretrain_records: int = 3000   # longer reviews (up to three sentences): the language
    pretrain_epochs: int = 2
    sft_records: int = 2000        # short continuations (one or two sentences): the task's format
    sft_epochs: int = 2
    batch_size: int = 32
    lr: float = 3e-3               # tiny models from scratch take large steps
    sft_lr: float = 1e-3
    seed: int = 0
    polarity_mix: dict | None = None   # None: sentiment_corpus.POLARITY_MIX (how often each polarity is written)
    second_sentence: float = corpus.SECOND_SENTENCE  # share of SFT continuations with a second sentence

    def __post_init__(self):
        check_tiny_base(self)


def _data_digest() -> str:
    """A hash of every hand-written table: an edit to the data is a new base, never a stale cached one."""
    tables = [data.INSTRUCTION, data.KINDS, data.MODIFIERS, data.FRAMES, data.EVAL_SHARE, corpus.POLARITY_MIX,
              corpus.PREDICATES, corpus.EXPECTED, corpus.VERDICT_LEADS, corpus.VERDICTS, corpus.PARTS, corpus.TAILS]
    return hashlib.blake2b(json.dumps(tables, sort_keys=True).encode(), digest_size=8).hexdigest()


class _PromptIndex(dict):
    """Prompt text -> row, over both splits; surrounding whitespace in the key is ignored."""

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and (dict.__contains__(self, key) or dict.__contains__(self, key.strip()))

    def __getitem__(self, key):
        return dict.__getitem__(self, key if dict.__contains__(self, key) else key.strip())


class SentimentWorld:
    """Movie-review openings to continue; gold = VADER's compound of the continuation."""

    name = "sentiment"
    doc = "docs/sentiment_world.md"  # where results.md points for how each rate is measured
    categories = ("positive", "negative")
    category_directions = {"positive": "higher", "negative": "lower"}
    deliverables = {"positivity": "positive", "negativity": "negative"}  # results.md's deliverables table
    judge_template = None          # no world-specific AI feedback: the generic English templates
    judge_options = None
    score_template = None
    score_options = None
    constitution = None

    def __init__(self, noise_temperature: float = DEFAULT_NOISE_TEMPERATURE):
        if noise_temperature <= 0:
            raise ValueError(f"noise_temperature must be positive, got {noise_temperature}")
        analyzer()  # fail now, naming the extra, rather than after the base is built
        self.noise_temperature = noise_temperature
        self.feedback_policy = None  # no separate AI labeler model
        self.by_text = _PromptIndex((r["prompt"], r) for r in data.openings())
        self.gold = GoldFeedback(lambda _row, r: compound(r), self.by_text, name="vader-compound")

    # ------------------------------------------------------------------ prompts and feedback
    def prompts(self, split: str, n: int | None, seed: int) -> list[dict]:
        return data.prompts(split, n, seed)

    def gold_preference(self, prompt_row: Any, a: str, b: str) -> float:
        """1.0 if ``a``'s compound is higher, 0.0 if lower, 0.5 if equal (the prompt is not scored)."""
        ca, cb = compound(a), compound(b)
        return 0.5 if ca == cb else float(ca > cb)

    def rate_pair(self, prompt_row: Any, a: str, b: str, rng: random.Random) -> float:
        """One simulated human label: 1.0 with P = sigmoid((c_a - c_b) / T) (Bradley-Terry), else 0.0."""
        p = _sigmoid((compound(a) - compound(b)) / self.noise_temperature)
        return 1.0 if rng.random() < p else 0.0

    def category_rates(self, rows: list[dict], responses: list[str]) -> dict[str, float]:
        """Shares of replies with compound >= 0.05 (positive) and <= -0.05 (negative); NaN for no rows."""
        if not responses:
            return {c: math.nan for c in self.categories}
        scores = [compound(r) for r in responses]
        return {"positive": sum(s >= POSITIVE for s in scores) / len(scores),
                "negative": sum(s <= NEGATIVE for s in scores) / len(scores)}

    # ------------------------------------------------------------------ the base
    def build_base(self, base: dict | SentimentBaseConfig, cache_dir: str | Path, log=print, progress: bool = True):
        """Pretrain + SFT a tiny Llama on the world's corpus, or load it from the cache. ``base``: the compare
        recipe's ``base:`` mapping (``SentimentBaseConfig`` keys). Several processes: each trains (the loop is
        collective), the main one writes the cache, and every one loads that copy (as the toy world does)."""
        from prefzoo import registry  # the algorithm by name: worlds sit above neither algos nor engine
        from prefzoo.data.loaders import records_from_list
        from prefzoo.data.records import SFT
        from prefzoo.dist import barrier, is_main
        from prefzoo.job import Job
        from prefzoo.models.policy import Policy
        from prefzoo.recipe import ModelConfig, TrainConfig

        cfg = base if isinstance(base, SentimentBaseConfig) else from_dict(SentimentBaseConfig, dict(base or {}), "base")
        key = hashlib.blake2b(json.dumps({"world": "sentiment-v1", "data": _data_digest(), **asdict(cfg)},
                                         sort_keys=True).encode(), digest_size=8).hexdigest()
        path = Path(cache_dir) / "bases" / f"sentiment-{key}"
        model_cfg = ModelConfig(base=str(path / "model"), max_length=cfg.max_length)
        log = log if is_main() else (lambda *_a, **_k: None)
        if (path / "done").exists():
            log(f"base: cached {path}")
            return Policy.load(model_cfg), {"cached": True, "path": str(path), **json.loads((path / "done").read_text())}
        t0 = time.time()
        tiny = dict(hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_hidden_layers,
                    num_attention_heads=cfg.num_attention_heads, num_key_value_heads=cfg.num_attention_heads,
                    intermediate_size=cfg.intermediate_size)
        policy = Policy.load(ModelConfig(base="tiny", max_length=cfg.max_length, tiny=tiny),
                             vocab=corpus.vocabulary(), seed=cfg.seed)
        # pretraining: the language (up to three sentences, every polarity); SFT: the task's short replies
        stages = [("pretrain", corpus.records(cfg.pretrain_records, cfg.seed, cfg.polarity_mix, max_tails=2),
                   cfg.pretrain_epochs, cfg.lr, "cosine"),
                  ("sft", corpus.records(cfg.sft_records, cfg.seed + 1, cfg.polarity_mix, max_tails=1,
                                         tail_rate=cfg.second_sentence), cfg.sft_epochs, cfg.sft_lr, "linear")]
        timings = {}
        for name, rows, epochs, lr, schedule in stages:
            t = time.time()
            ds, _ = records_from_list(rows, SFT)
            train = TrainConfig(lr=lr, batch_size=cfg.batch_size, epochs=epochs, schedule=schedule,
                                warmup_steps=10, log_every=50, progress=progress, cache_dir=str(cache_dir))
            job = Job(policy=policy, train=train, out_dir=path / name, seed=cfg.seed, data={SFT: ds},
                      label=f"base/{name}")
            result = registry.get("sft")().run(job)
            timings[name] = round(time.time() - t, 1)
            log(f"base: {name} on {len(rows)} records, final loss {result.final.get('loss', float('nan')):.3f} "
                f"({timings[name]} s)")
        info = {"build_s": round(time.time() - t0, 1), "stages_s": timings,
                "params": sum(p.numel() for p in policy.model.parameters())}
        if is_main():
            policy.save(path / "model")
            (path / "done").write_text(json.dumps(info))  # last: marks the cache complete
        barrier()  # every process loads the saved copy: the same weights a one-process run loads
        return Policy.load(model_cfg), {"cached": False, "path": str(path), **info}


__all__ = ["SentimentWorld", "SentimentBaseConfig", "DEFAULT_NOISE_TEMPERATURE", "INSTALL_HINT", "analyzer",
           "compound"]
