"""The sentiment world's corpus: review continuations of mixed sentiment, composed from hand-written phrases.

A continuation is a first sentence in the grammar of its opening's kind (``sentiment_data``), with a
polarity (positive, negative or neutral), then, some of the time, a second sentence whose polarity is
drawn on its own: so besides clearly positive and clearly negative reviews the corpus holds mixed ones
(``is charming and warm . a waste of two hours .``) and flat ones. Every phrase's polarity is the
one VADER gives it (checked by ``tests/test_sentiment_world.py``), so the base's continuations land on
both sides of 0 and pairs of its samples differ in gold reward: the signal preference learning needs.

The tiny base is pretrained on longer reviews (up to three sentences) and SFT'd on short ones (one or
two), the two stages of the classic pipeline; ``POLARITY_MIX`` sets how often each polarity is written.
"""
from __future__ import annotations

import random

from prefzoo.worlds.sentiment_data import openings

POLARITIES = ("positive", "negative", "neutral")
# Even odds of praise and scorn, fewer flat sentences: the base's mean compound sits near 0 and about
# two in five of its replies are positive, leaving headroom both ways.
POLARITY_MIX = {"positive": 0.4, "negative": 0.4, "neutral": 0.2}
SECOND_SENTENCE = 0.5   # share of SFT continuations with a second sentence (pretraining: up to two more)

# subject openings: a predicate (``the ending of this western`` + ``is a real delight .``)
PREDICATES = {
    "positive": ("is wonderful", "is a real delight", "is beautiful and moving", "is clever and funny",
                 "is brilliant from start to finish", "works perfectly", "is a pleasure to watch",
                 "is the best thing i have seen this year", "is smart and full of heart", "is charming and warm",
                 "is excellent", "is a joy"),
    "negative": ("is boring", "is a complete mess", "is dull and lifeless", "is painfully slow", "is awful",
                 "is a waste of time", "is stupid and ugly", "is the worst thing i have seen this year",
                 "is weak and annoying", "is terrible", "is a disappointment", "is a total failure"),
    "neutral": ("takes about an hour", "is set in a small town", "is about what you would expect",
                "follows two brothers on a long trip", "is shot mostly at night", "is told in three parts",
                "moves at an even pace", "is mostly in black and white"),
}
# expect openings: what was expected (neutral), then what it was
EXPECTED = ("very little", "a simple story", "another sequel", "the usual formula", "something different",
            "a quiet evening", "a long night", "two hours of car chases", "a lot", "an ordinary film")
VERDICT_LEADS = (", and it was", ", but it was", ", and what i got was", ", but it turned out to be")
VERDICTS = {
    "positive": ("a wonderful surprise", "a true masterpiece", "one of the best films of the year", "a real joy",
                 "a charming and clever film", "a beautiful film", "a delight", "great fun"),
    "negative": ("a boring mess", "a total disaster", "one of the worst films of the year", "a dull waste of time",
                 "an ugly and stupid film", "a terrible film", "a painful bore", "a sad failure"),
    "neutral": ("exactly that", "roughly what i imagined", "a film of about two hours", "a story about a family",
                "a film set mostly in one house", "more or less that"),
}
# clause openings: a sentence about one part of the film, with a subject predicate
PARTS = ("the story", "the acting", "the music", "the whole film", "the ending", "the cast", "the script")
# the optional second sentence, kind-independent
TAILS = {
    "positive": ("i would happily watch it again .", "it left me smiling .", "i loved it .", "highly recommended .",
                 "it is a treat .", "i was happy the whole time .", "i enjoyed every minute ."),
    "negative": ("a waste of two hours .", "i hated it .", "avoid it .", "what a waste .",
                 "it made me angry .", "i was bored the whole time .", "i regret watching it ."),
    "neutral": ("it runs about two hours .", "it is now on television .", "make of that what you will .",
                "that is all i have to say .", "it was shot in the north .", "the director has made four films ."),
}


def _polarity(rng: random.Random, mix: dict) -> str:
    return rng.choices(POLARITIES, weights=[mix.get(p, 0.0) for p in POLARITIES])[0]


def first_sentence(kind: str, polarity: str, rng: random.Random) -> str:
    """The continuation's first sentence in the grammar of an opening of ``kind``."""
    if kind == "subject":
        return f"{rng.choice(PREDICATES[polarity])} ."
    if kind == "expect":
        return f"{rng.choice(EXPECTED)} {rng.choice(VERDICT_LEADS)} {rng.choice(VERDICTS[polarity])} ."
    if kind == "clause":
        return f"{rng.choice(PARTS)} {rng.choice(PREDICATES[polarity])} ."
    raise ValueError(f"unknown opening kind {kind!r}; known: subject, expect, clause")


def continuation(kind: str, rng: random.Random, mix: dict | None = None, max_tails: int = 1,
                 tail_rate: float = SECOND_SENTENCE) -> str:
    """One continuation: a first sentence, then up to ``max_tails`` more, each with probability
    ``tail_rate`` and a polarity of its own."""
    mix = mix or POLARITY_MIX
    parts = [first_sentence(kind, _polarity(rng, mix), rng)]
    for _ in range(max_tails):
        if rng.random() < tail_rate:
            parts.append(rng.choice(TAILS[_polarity(rng, mix)]))
    return " ".join(parts)


def records(n: int, seed: int, mix: dict | None = None, max_tails: int = 1,
            tail_rate: float = SECOND_SENTENCE) -> list[dict]:
    """``n`` SFT records (chat prompt, continuation) over the train openings, seeded; eval openings never
    appear, so the evaluation's prompts are held out from the base too."""
    rng = random.Random(f"sentiment-corpus:{seed}")
    train = [r for r in openings() if r["split"] == "train"]
    out = []
    for _ in range(n):
        row = rng.choice(train)
        out.append({"prompt": [{"role": "user", "content": row["prompt"]}],
                    "completion": continuation(row["kind"], rng, mix, max_tails, tail_rate)})
    return out


def phrases() -> dict[str, list[str]]:
    """Every hand-written phrase that carries a polarity, by polarity (what the tests hold to VADER)."""
    out: dict[str, list[str]] = {p: [] for p in POLARITIES}
    for table in (PREDICATES, VERDICTS, TAILS):
        for p, items in table.items():
            out[p].extend(items)
    return out


def vocabulary() -> list[str]:
    """Every word an opening or a continuation can contain (the tiny base's closed vocabulary)."""
    words = {w for r in openings() for w in r["prompt"].split()}
    tables = [EXPECTED, VERDICT_LEADS, PARTS] + [v for t in (PREDICATES, VERDICTS, TAILS) for v in t.values()]
    for items in tables:
        for phrase in items:
            words.update(phrase.split())
    words.add(".")
    return sorted(words)


__all__ = ["POLARITIES", "POLARITY_MIX", "SECOND_SENTENCE", "PREDICATES", "EXPECTED", "VERDICT_LEADS", "VERDICTS",
           "PARTS", "TAILS", "first_sentence", "continuation", "records", "phrases", "vocabulary"]
