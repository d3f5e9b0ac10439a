"""The sentiment world's prompts: short movie-review openings, composed from hand-written parts.

An opening is a frame (how a review starts) around a film (``this`` + a modifier + a kind). Three kinds
of frame, each ending where a continuation can go either way, and each with its own grammar for the
continuation (``sentiment_corpus``):

* ``subject``: a noun phrase the review goes on to judge (``the second half of this french western``);
* ``expect``: what the reviewer expected (``i went into this old musical expecting``);
* ``clause``: a neutral first sentence (``i watched this new mystery last night .``).

Every word of an opening is outside VADER's lexicon (``tests/test_sentiment_world.py`` checks that every
opening's compound is 0), so the prompt itself carries no sentiment: whatever the gold measures, the
continuation wrote. That is why there are no comedies (VADER: +1.5), romances (+2.6), war (-2.9), crime
(-2.5) or horror (-2.7) films here. Text follows the toy world's conventions: lower case, words and
punctuation separated by single spaces, so a word-level tokenizer covers every prompt.

The split into train and eval is fixed (a seeded shuffle of the sorted openings, ``EVAL_SHARE`` to eval),
so held-out openings stay held out for every seed.
"""
from __future__ import annotations

import hashlib
import random
from functools import lru_cache

# The instruction in front of every opening: a chat model (SmolLM2-Instruct) then continues the review
# rather than answering the fragment; for the tiny base it is five constant tokens.
INSTRUCTION = "continue this movie review :"

KINDS = ("western", "mystery", "drama", "musical", "documentary", "biopic", "period piece", "sequel", "remake",
         "spy film", "heist film", "fantasy film", "science fiction film", "family film", "animated film",
         "sports film", "road movie", "action film")
MODIFIERS = ("", "new ", "old ", "french ", "long ", "japanese ", "black and white ")

FRAMES = {
    "subject": ("the second half of {film}", "the ending of {film}", "the lead actor in {film}",
                "the script of {film}", "the music in {film}", "the pacing of {film}", "the final scene of {film}",
                "the cast of {film}", "the dialogue in {film}", "the camera work in {film}",
                "the story of {film}", "the first hour of {film}"),
    "expect": ("i went into {film} expecting", "i sat down to watch {film} expecting", "i started {film} expecting",
               "before i saw {film} i was expecting", "my brother picked {film} and i was expecting",
               "from the poster for {film} i was expecting", "i rented {film} expecting",
               "i put on {film} late at night expecting"),
    "clause": ("i watched {film} last night .", "{film} came out last spring .", "i saw {film} with my brother .",
               "{film} was on television this week .", "we rented {film} on a friday .",
               "i finally caught up with {film} .", "{film} runs just under two hours .",
               "i saw {film} at a small theater downtown .", "my sister chose {film} for movie night .",
               "i watched {film} twice this year ."),
}

EVAL_SHARE = 0.2   # a fifth of the openings are held out for evaluation
SPLIT_SEED = "prefzoo-sentiment-split-v1"


def _films() -> list[str]:
    return [f"this {m}{k}" for k in KINDS for m in MODIFIERS]


@lru_cache(maxsize=1)
def openings() -> tuple[dict, ...]:
    """Every opening once: ``{"id", "opening", "prompt", "kind", "split"}``, sorted by id."""
    rows = []
    for kind, frames in FRAMES.items():
        for frame in frames:
            for film in _films():
                text = frame.format(film=film)
                rid = "sent-" + hashlib.blake2b(text.encode(), digest_size=5).hexdigest()
                rows.append({"id": rid, "opening": text, "prompt": f"{INSTRUCTION} {text}", "kind": kind})
    rows.sort(key=lambda r: r["id"])
    order = list(range(len(rows)))
    random.Random(SPLIT_SEED).shuffle(order)
    held = set(order[:round(EVAL_SHARE * len(rows))])
    return tuple({**r, "split": "eval" if i in held else "train", "category": "review"} for i, r in enumerate(rows))


def split_rows(split: str) -> list[dict]:
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    return [dict(r) for r in openings() if r["split"] == split]


def prompts(split: str, n: int | None, seed: int) -> list[dict]:
    """``n`` rows of ``split`` in a seeded order (None: all of them). Past the split's size the order is
    reshuffled and drawn again (as the toy world does), so any ``n`` is answered."""
    pool = split_rows(split)
    if n is None:
        n = len(pool)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(f"sentiment-prompts:{split}:{seed}")
    out: list[dict] = []
    while len(out) < n:
        batch = list(pool)
        rng.shuffle(batch)
        out.extend(batch[:n - len(out)])
    return [dict(r) for r in out]


__all__ = ["INSTRUCTION", "KINDS", "MODIFIERS", "FRAMES", "EVAL_SHARE", "openings", "split_rows", "prompts"]
