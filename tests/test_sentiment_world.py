"""The sentiment world (prefzoo/worlds/sentiment_world.py): VADER's gold on hand-written continuations, the
openings and their split, the corpus phrases held to VADER, the raters' Bradley-Terry rate, the category
rates, the missing-extra error, and (slow) the built base's sentiment spread. The contract checks of
tests/test_worlds.py run on this world too (it is registered). The test extra installs vaderSentiment, so
nothing here is skipped without it: a missing gold fails loudly."""
from __future__ import annotations

import math
import random
import statistics
import sys

import pytest

from prefzoo.config import ConfigError
from prefzoo.worlds import WORLDS, get_world
from prefzoo.worlds import sentiment_corpus as corpus
from prefzoo.worlds import sentiment_data as data
from prefzoo.worlds import sentiment_world as sw

GOOD = "is wonderful and i loved every minute ."
FLAT = "takes about an hour ."
BAD = "is a boring mess and i hated it ."


@pytest.fixture(scope="module")
def world():
    return get_world("sentiment")


def test_registered_and_named(world):
    assert "sentiment" in WORLDS.names()  # so tests/test_worlds.py checks the contract on it
    assert world.name == "sentiment" and world.categories == ("positive", "negative")
    assert world.category_directions == {"positive": "higher", "negative": "lower"}


def test_gold_orders_hand_written_continuations(world):
    rows = world.prompts("eval", 3, 0)
    scores = world.gold.score(rows, [GOOD, FLAT, BAD]).tolist()
    assert scores[0] > 0.5 and scores[1] == 0.0 and scores[2] < -0.5
    assert world.gold.score([r["prompt"] for r in rows], [GOOD, FLAT, BAD]).tolist() == scores  # by prompt text
    assert scores[0] == pytest.approx(sw.compound(GOOD), abs=1e-6)  # the continuation alone (float32)
    row = rows[0]
    assert world.gold_preference(row, GOOD, BAD) == 1.0 and world.gold_preference(row, BAD, GOOD) == 0.0
    assert world.gold_preference(row, FLAT, "is set in a small town .") == 0.5  # both exactly 0: a tie
    assert world.gold_preference({"prompt": row["prompt"]}, FLAT, BAD) == 1.0  # the report passes prompt only
    with pytest.raises(KeyError):
        world.gold.score(["a prompt of another world"], [GOOD])


def test_openings_many_neutral_and_split_disjoint():
    rows = data.openings()
    assert len(rows) >= 300 and len({r["opening"] for r in rows}) == len(rows) == len({r["id"] for r in rows})
    train, ev = data.split_rows("train"), data.split_rows("eval")
    assert len(train) >= 240 and len(ev) >= 60 and len(train) + len(ev) == len(rows)
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in ev}
    assert len(ev) / len(rows) == pytest.approx(data.EVAL_SHARE, abs=1e-3)
    assert {r["kind"] for r in ev} == set(data.FRAMES)  # every kind of opening is held out
    assert all(sw.compound(r["prompt"]) == 0.0 for r in rows)  # the prompt carries no sentiment


def test_prompts_are_seeded_and_cycle_past_the_split():
    a, b = data.prompts("eval", 50, 3), data.prompts("eval", 50, 3)
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert [r["id"] for r in a] != [r["id"] for r in data.prompts("eval", 50, 4)]
    n = len(data.split_rows("eval"))
    rows = data.prompts("eval", n + 5, 0)
    assert len(rows) == n + 5 and len({r["id"] for r in rows[:n]}) == n  # every opening once, then again
    assert len(data.prompts("train", None, 0)) == len(data.split_rows("train"))
    with pytest.raises(ValueError, match="split"):
        data.prompts("test", 3, 0)


def _signed(p: str, c: float) -> bool:
    return c >= sw.POSITIVE if p == "positive" else c <= sw.NEGATIVE if p == "negative" else abs(c) < sw.POSITIVE


def test_every_phrase_has_the_polarity_vader_gives_it():
    wrong = [(p, t, sw.compound(t)) for p, items in corpus.phrases().items() for t in items
             if not _signed(p, sw.compound(t))]
    assert not wrong
    rng = random.Random(0)
    for kind in data.FRAMES:  # whole first sentences too, in each opening's grammar
        for p in corpus.POLARITIES:
            for _ in range(40):
                text = corpus.first_sentence(kind, p, rng)
                assert _signed(p, sw.compound(text)), (kind, p, text)
    neutral_parts = corpus.EXPECTED + corpus.VERDICT_LEADS + corpus.PARTS
    assert all(sw.compound(t) == 0.0 for t in neutral_parts)


def test_corpus_is_mixed_and_inside_the_vocabulary():
    rows = corpus.records(2000, 0)
    scores = [sw.compound(r["completion"]) for r in rows]
    pos = sum(s >= sw.POSITIVE for s in scores) / len(scores)
    neg = sum(s <= sw.NEGATIVE for s in scores) / len(scores)
    assert 0.3 < pos < 0.6 and 0.3 < neg < 0.6 and abs(statistics.mean(scores)) < 0.15
    vocab = set(corpus.vocabulary())
    assert all(set(r["completion"].split()) <= vocab and set(r["prompt"][0]["content"].split()) <= vocab
               for r in rows)
    held = {r["prompt"] for r in data.split_rows("eval")}
    assert not {r["prompt"][0]["content"] for r in rows} & held  # the base never sees an eval opening


@pytest.mark.parametrize("a,b", [(GOOD, BAD), (GOOD, FLAT), ("is a joy .", "is excellent .")])
def test_rate_pair_agrees_with_gold_at_the_bradley_terry_rate(world, a, b):
    """P(a) = sigmoid((c_a - c_b) / T), T = 0.25: e.g. GOOD vs BAD, a gap of ~1.6, gives ~0.998; a near-tie
    ~0.5. 4000 seeded labels: the standard error is <= 0.008, so 0.03 is a tolerance a wrong T fails."""
    row = world.prompts("eval", 1, 0)[0]
    gap = sw.compound(a) - sw.compound(b)
    expected = 1.0 / (1.0 + math.exp(-gap / sw.DEFAULT_NOISE_TEMPERATURE))
    rng = random.Random(7)
    share = sum(world.rate_pair(row, a, b, rng) for _ in range(4000)) / 4000
    assert share == pytest.approx(expected, abs=0.03)


def test_rate_pair_on_a_clear_pair_is_the_documented_rate(world):
    """The docstring's numbers: a compound gap of 1 is labelled as gold prefers with P = sigmoid(4) = 0.982."""
    assert sw._sigmoid(1.0 / sw.DEFAULT_NOISE_TEMPERATURE) == pytest.approx(0.98201, abs=1e-5)
    with pytest.raises(ValueError, match="positive"):
        sw.SentimentWorld(noise_temperature=0.0)


def test_category_rates_by_vader_thresholds(world):
    rows = world.prompts("eval", 4, 0)
    rates = world.category_rates(rows, [GOOD, "i loved it .", BAD, FLAT])
    assert rates == {"positive": 0.5, "negative": 0.25}
    assert all(math.isnan(v) for v in world.category_rates([], []).values())
    assert world.category_rates(rows[:1], [""]) == {"positive": 0.0, "negative": 0.0}  # empty: compound 0


def test_missing_extra_names_the_install(monkeypatch):
    sw.analyzer.cache_clear()
    monkeypatch.setitem(sys.modules, "vaderSentiment", None)  # importing it now raises ImportError
    monkeypatch.setitem(sys.modules, "vaderSentiment.vaderSentiment", None)
    try:
        with pytest.raises(ConfigError, match=r"pip install 'prefzoo\[sentiment\]'"):
            sw.SentimentWorld()
    finally:
        sw.analyzer.cache_clear()  # the next caller imports the real package again


def test_base_config_rejects_unknown_keys(world, tmp_path):
    with pytest.raises(ConfigError, match="hidden_sise"):
        world.build_base({"hidden_sise": 8}, tmp_path, log=lambda *_: None)
    assert not (tmp_path / "bases").exists()  # refused before any work


@pytest.mark.slow
def test_the_built_base_writes_both_sentiments(tmp_path):
    """The default base (~35 s on one core): its continuations of held-out openings are spread around 0,
    positive and negative alike (measured: mean compound ~0.02, 46% positive, 44% negative), and the
    second build is the cached copy."""
    from prefzoo.eval.evaluator import EvalConfig, sample

    world = sw.SentimentWorld()
    policy, info = world.build_base({}, tmp_path, log=lambda *_: None, progress=False)
    assert not info["cached"]
    rows = world.prompts("eval", 200, 0)
    texts = sample(policy, [r["prompt"] for r in rows], EvalConfig(max_new_tokens=40))[0]
    scores = [sw.compound(t) for t in texts]
    rates = world.category_rates(rows, texts)
    assert 0.25 < rates["positive"] < 0.65 and 0.25 < rates["negative"] < 0.65, rates
    assert abs(statistics.mean(scores)) < 0.2 and statistics.pstdev(scores) > 0.3
    assert world.build_base({}, tmp_path, log=lambda *_: None)[1]["cached"]


def test_the_findings_recipe_runs_end_to_end(tmp_path, monkeypatch):
    """recipes/findings/sentiment.yaml at its smoke budget: every arm kind (dpo, ipo, ppo, ppo-gt on the gold,
    best-of-n) trains and is scored by VADER, and the frontier analysis writes its answer."""
    from pathlib import Path

    from prefzoo.findings.run import run_finding

    monkeypatch.setenv("PREFZOO_CACHE", str(tmp_path / "cache"))
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "findings" / "sentiment.yaml"
    out = run_finding(recipe, tmp_path / "out", ["budget=smoke"], log=lambda *_: None)
    assert "## Answer" in (out / "finding.md").read_text()
    results = (out / "results.md").read_text()
    assert "ppo-gt" in results and "best-of-n[n=4]" in results and "positivity" in results
    assert (out / "plots" / "frontier.png").exists()
