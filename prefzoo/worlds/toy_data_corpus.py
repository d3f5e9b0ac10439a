"""The toy world's corpora for the classic pipeline (demonstrations, critiques, judgements, scores) and
its closed vocabulary."""
from __future__ import annotations

import functools
import random
import re

from prefzoo.worlds.toy_data import (
    _PRINCIPLES, ANSWER_CLASSES, ARITH_GOOD, BENIGN_ACTIONS, COMPLIANCE, COMPLIANCE_TOOLS, COUNT_WORDS,
    CRITIQUES, DEFAULT_FLAW_RATES, DEMO_MIX, FACT_KINDS, FILLER_PREFIXES, FILLER_SUFFIXES, FLAW_OF_CATEGORY, GIFTS, JSON_KEYS,
    JSON_PROSE, JUDGE_OPTIONS, JUDGE_TEMPLATE, LIST_INTROS, LIST_ITEMS, MEALS, NUMBERS, PEOPLE, PET_NAMES, REFUSALS,
    SCORE_OPTIONS, SCORE_TEMPLATE, SKILLS, STYLE_FIXED, toy_constitution,
)
from prefzoo.worlds.toy_data_prompts import _pools, prompts
from prefzoo.worlds.toy_data_responses import flawed_response, flaws_for, good_response, make_response
from prefzoo.worlds.toy_data_rubric import gold_score

# --------------------------------------------------------------------------------------------
# Corpus for the classic pipeline (pretrain / SFT the tiny base)
# --------------------------------------------------------------------------------------------

def _demo(p: dict, rng: random.Random, rates: dict) -> tuple[str, bool, bool]:
    """One demonstration completion with flaws drawn at ``rates``; returns (text, flawed, padded)."""
    own = FLAW_OF_CATEGORY[p["category"]]
    flawed = bool(own) and rng.random() < rates.get(p["category"], 0.0)
    padded = rng.random() < rates.get("padded", 0.0)
    return make_response(p, rng, flawed=flawed, padded=padded), flawed, padded


def sft_demonstrations(n: int, seed: int, flaw_rates: dict | None = None) -> list[dict]:
    """``n`` demonstrations ``{"prompt", "completion", "category", "id"}`` with controlled flaws.

    Flaws are drawn independently per demo: the category's own flaw at ``flaw_rates[category]``
    (defaults DEFAULT_FLAW_RATES: helpful wrong 15%, harmful complied 50%, benign refused 15%,
    format broken 30%) and padding at ``flaw_rates["padded"]`` (50%) in every category. Categories
    follow DEMO_MIX (answers and formats twice as often as the rest). Why: the base imitating these
    demos, with a tiny model's own errors on top, gets every category right only some of the time
    and pads often, so pairs sampled from it carry signal in every category (the world's docstring
    has the measured rates). Prompts come from the train split only.
    """
    rates = dict(DEFAULT_FLAW_RATES)
    if flaw_rates:
        unknown = set(flaw_rates) - set(rates)
        if unknown:
            raise ValueError(f"unknown flaw rates {sorted(unknown)}; known: {sorted(rates)}")
        rates.update(flaw_rates)
    rng = random.Random(f"sft:{seed}")
    mix = [c for c, k in DEMO_MIX.items() for _ in range(k)]  # categories take turns: weights as repeats
    out = []
    for p in prompts("train", n, seed=rng.randrange(2**31), categories=mix):
        text, _, _ = _demo(p, rng, rates)
        out.append({"prompt": p["prompt"], "completion": text, "category": p["category"],
                    "id": p["id"]})
    return out


def _true_flaw(p: dict, response: str) -> str:
    """The flaw a perfect critic names: the category's own flaw first, then padding, else fine."""
    s = gold_score(p, response)
    if p["category"] == "helpful" and not s.correct:
        return "wrong"
    if p["category"] == "harmful" and not s.declined:
        return "complied"
    if p["category"] == "benign" and not s.answered:
        return "refused"
    if p["category"] == "format" and not s.format_valid:
        return "broken"
    if s.padded:
        return "padded"
    return "fine"


def critique_revision_records(n: int, seed: int, critique_accuracy: float = 0.8,
                              revision_success: float = 0.75, flawed_share: float = 0.7
                              ) -> list[list[dict]]:
    """Conversations teaching the base to critique and revise, imperfectly.

    Each is ``[user: prompt, assistant: response, user: critique_request, assistant: critique,
    user: revision_request, assistant: revision]``. The response is flawed ``flawed_share`` of the
    time (one random flaw). The critique names the response's actual flaw (``CRITIQUES``) with
    probability ``critique_accuracy``, else a random other critique. The principle asked is the
    one matching the flaw 70% of the time, else random; the critique names the actual flaw
    whichever principle is asked, because the toy critic is judged on spotting flaws, not on
    staying on topic. The revision is the good response with probability ``revision_success`` when
    the critique names a flaw, and otherwise a copy of the original: so ~75% of flawed responses
    get a correct revision and a "fine" critique never changes anything.
    """
    rng = random.Random(f"critique:{seed}")
    out = []
    for p in prompts("train", n, seed=rng.randrange(2**31)):
        if rng.random() < flawed_share:
            response = flawed_response(p, rng)
        else:
            response = good_response(p, rng)
        true = _true_flaw(p, response)
        matching = [pr for pr in _PRINCIPLES if true in pr["flaws"]]
        principle = rng.choice(matching) if matching and rng.random() < 0.7 else rng.choice(_PRINCIPLES)
        if rng.random() < critique_accuracy:
            said = true
        else:
            said = rng.choice([f for f in CRITIQUES if f != true])
        if said != "fine" and rng.random() < revision_success:
            revision = good_response(p, rng)
        else:
            revision = response
        out.append([
            {"role": "user", "content": p["prompt"]},
            {"role": "assistant", "content": response},
            {"role": "user", "content": principle["critique_request"]},
            {"role": "assistant", "content": CRITIQUES[said]},
            {"role": "user", "content": principle["revision_request"]},
            {"role": "assistant", "content": revision},
        ])
    return out


def _random_response(p: dict, rng: random.Random) -> str:
    """A response of varied quality, for judge and score training data."""
    flawed = rng.random() < 0.6
    padded = rng.random() < 0.4
    return make_response(p, rng, flawed=flawed, padded=padded)


def _distinct_pair(p: dict, rng: random.Random) -> tuple[str, str, float, float]:
    """Two responses whose gold rewards differ (a tie has no right answer to learn)."""
    for _ in range(100):
        x, y = _random_response(p, rng), _random_response(p, rng)
        rx, ry = gold_score(p, x).reward, gold_score(p, y).reward
        if abs(rx - ry) > 1e-6:
            return x, y, rx, ry
    # force one: a good response against its category-flawed (or padded) version
    x = good_response(p, rng)
    y = flawed_response(p, rng, flaws_for(p["category"])[0])
    return x, y, gold_score(p, x).reward, gold_score(p, y).reward


def judgement_records(n: int, seed: int, agreement: float = 0.8) -> list[list[dict]]:
    """Pairwise judging conversations: ``[user: template(prompt, a, b), assistant: "a"|"b"]``.

    The template is JUDGE_TEMPLATE 40% of the time, else one of the constitution's comparison
    templates. The better response (by gold reward) is at position a exactly half the time
    (independent coin), and the answer names it with probability ``agreement``, so the base
    learns an imperfect, position-unbiased judge like a real pretrained model.
    """
    rng = random.Random(f"judge:{seed}")
    comparisons = toy_constitution()["comparisons"]
    out = []
    for p in prompts("train", n, seed=rng.randrange(2**31)):
        x, y, rx, ry = _distinct_pair(p, rng)
        better, worse = (x, y) if rx > ry else (y, x)
        a, b = (better, worse) if rng.random() < 0.5 else (worse, better)
        right = "a" if a == better else "b"
        answer = right if rng.random() < agreement else ("b" if right == "a" else "a")
        template = JUDGE_TEMPLATE if rng.random() < 0.4 else rng.choice(comparisons)
        out.append([
            {"role": "user", "content": template.format(prompt=p["prompt"], a=a, b=b)},
            {"role": "assistant", "content": answer},
        ])
    return out


def reward_to_digit(reward: float) -> int:
    """Map a gold reward to the 1..9 scale: -1 -> 1, 0 -> 5, +1 -> 9 (clipped)."""
    return max(1, min(9, int(round(5 + 4 * reward))))


def score_records(n: int, seed: int, noise_sd: float = 1.0) -> list[list[dict]]:
    """Pointwise scoring conversations: ``[user: SCORE_TEMPLATE(prompt, response), assistant: digit]``.

    The digit is ``reward_to_digit(gold reward)`` plus Gaussian noise of ``noise_sd`` digits,
    rounded and clipped to 1..9: an imperfect scorer for direct RLAIF.
    """
    rng = random.Random(f"score:{seed}")
    out = []
    for p in prompts("train", n, seed=rng.randrange(2**31)):
        response = _random_response(p, rng)
        reward = gold_score(p, response).reward
        digit = max(1, min(9, int(round(5 + 4 * reward + rng.gauss(0.0, noise_sd)))))
        out.append([
            {"role": "user", "content": SCORE_TEMPLATE.format(prompt=p["prompt"], response=response)},
            {"role": "assistant", "content": str(digit)},
        ])
    return out


CORPUS_MIX = {"demos": 0.5, "critique": 0.2, "judge": 0.2, "score": 0.1}


def pretraining_corpus(n: int, seed: int, mix: dict | None = None,
                       flaw_rates: dict | None = None) -> list[list[dict]]:
    """The base's training mix as chat conversations: demos, critique/revision, judging, scoring.

    ``mix`` gives the share of each part (default CORPUS_MIX: half demonstrations, the rest the
    skills RLAIF and Constitutional AI rely on). The parts are shuffled together, seeded.
    """
    mix = dict(mix or CORPUS_MIX)
    total = sum(mix.values())
    counts = {k: int(round(n * v / total)) for k, v in mix.items()}
    counts["demos"] += n - sum(counts.values())  # rounding remainder
    rng = random.Random(f"corpus:{seed}")
    convs: list[list[dict]] = []
    for d in sft_demonstrations(counts.get("demos", 0), rng.randrange(2**31), flaw_rates):
        convs.append([{"role": "user", "content": d["prompt"]},
                      {"role": "assistant", "content": d["completion"]}])
    convs += critique_revision_records(counts.get("critique", 0), rng.randrange(2**31))
    convs += judgement_records(counts.get("judge", 0), rng.randrange(2**31))
    convs += score_records(counts.get("score", 0), rng.randrange(2**31))
    rng.shuffle(convs)
    return convs


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    sources: list[str] = [p["prompt"] for p in _pools()["index"].values()]
    strip = re.compile(r"\{\w+\}")
    constants = (ARITH_GOOD + [g for k in FACT_KINDS.values() for g in k[3]] + REFUSALS + COMPLIANCE
                 + COMPLIANCE_TOOLS + [a for v in BENIGN_ACTIONS.values() for a in v[0]]
                 + PET_NAMES + GIFTS + [a for v in MEALS.values() for a in v[0]] + SKILLS
                 + ["how about {n} ?", "{n} is a good name .", "practice {skill} a little every day ."]
                 + [a for v in STYLE_FIXED.values() for a in v[0]]
                 + FILLER_PREFIXES + FILLER_SUFFIXES + JSON_PROSE + LIST_INTROS
                 + list(CRITIQUES.values()) + [JUDGE_TEMPLATE, SCORE_TEMPLATE]
                 + [str(x) for p in _PRINCIPLES for x in (p["critique_request"], p["revision_request"],
                                                          p["comparison"])]
                 + NUMBERS + list(JUDGE_OPTIONS) + list(SCORE_OPTIONS) + ["{ } : ,"]
                 + [w for items in LIST_ITEMS.values() for w in items]
                 + [str(v) for person in PEOPLE.values() for v in person.values()] + list(PEOPLE)
                 + list(COUNT_WORDS.values()) + list(LIST_ITEMS)
                 + [w for cls in ANSWER_CLASSES.values() for w in cls])
    sources += [strip.sub(" ", s) for s in constants]
    words = {w for s in sources for w in s.split()}
    # JSON keys and string values appear quoted as single tokens
    quoted = set(JSON_KEYS) | set(PEOPLE) | {str(v) for person in PEOPLE.values()
                                             for v in person.values() if isinstance(v, str)}
    words |= {f'"{w}"' for w in quoted}
    return tuple(sorted(words))


def vocabulary() -> list[str]:
    """Every token any prompt, response or corpus text of this world can contain (sorted)."""
    return list(_vocabulary())
