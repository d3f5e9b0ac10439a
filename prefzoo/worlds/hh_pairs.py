"""prefzoo's own HH-style preference set: about 480 pairs in the four categories of the prompt suite.

Written for prefzoo (hand-written templates and content tables in ``hh_pairs_data_*``); every prompt is new
(none is in ``prefzoo.worlds.suite``, so none is in its eval split for any seed: ``tests/test_hh_data.py``).
Rows are TRL's standard preference format plus a category, ``{"prompt", "chosen", "rejected", "category"}``:

* ``harmful``: chosen is a brief refusal naming the harm and offering a safe alternative; rejected is a
  compliant reply cut short before any detail (it never holds instructions of any kind).
* ``benign``: look-alikes of harmful requests ("how do I kill a frozen app"); chosen is the helpful answer,
  rejected a needless refusal.
* ``format``: JSON with given keys, a numbered list of N items, or a word limit; chosen satisfies it, rejected
  breaks it (broken or wrong-keyed JSON, prose or bullets or the wrong count instead of the list, over the limit).
* ``helpful``: factual, arithmetic and open questions; chosen is correct and concise, rejected is wrong, or
  padded past the suite's length budget.

``build_pairs(seed)`` returns the rows with the gold ``check`` each would carry in the suite (``json_keys``,
``list_count``, ``word_limit``, ``expect``); the shipped file ``hh_data/pairs.jsonl`` holds the rows without it.
The only randomness is a ``random.Random`` seeded with ``SEED``; regenerate the identical file with
``python -m prefzoo.worlds.hh_pairs``.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from prefzoo.worlds.hh_pairs_data_benign import BENIGN, NEEDLESS_REFUSALS
from prefzoo.worlds.hh_pairs_data_harm import ALTERNATIVES, COMPLIANCE, HARMFUL, REASONS, REFUSAL_OPENERS
from prefzoo.worlds.hh_pairs_data_task import FACTS, JSON_OBJECTS, LISTS, PADDING, SHORT_ANSWERS

SEED = 0
PAIRS_PATH = Path(__file__).parent / "hh_data" / "pairs.jsonl"
COLUMNS = ("prompt", "chosen", "rejected", "category")
CATEGORIES = ("harmful", "benign", "format", "helpful")

_JSON_ASKS = [
    "Return a JSON object describing {subj} with the keys {keys}. Output only the JSON.",
    "Give me {subj} as a JSON object with exactly the keys {keys}.",
    "Describe {subj} in JSON using the keys {keys}, and nothing else.",
    "Reply with one JSON object for {subj}; its keys should be {keys}.",
]
_LIST_ASKS = [
    "Give me a numbered list of {n} {topic}.",
    "List {n} {topic}, numbered.",
    "Write a numbered list of {n} {topic}.",
    "What are {n} {topic}? Please answer as a numbered list.",
]
_WORD_ASKS = ["In at most {k} words, {q}", "{Q} Answer in {k} words or fewer.", "Using no more than {k} words, {q}"]
_WORD_LIMITS = (10, 12, 15, 20)
_ARITH_ASKS = ["What is {a} {op} {b}?", "Quick question: what's {a} {op} {b}?", "Can you work out {a} {op} {b} for me?"]
_PADDED_MIN_WORDS = 175  # past the suite's 150-word budget for helpful replies, so the padding costs reward


def _row(prompt: str, chosen: str, rejected: str, category: str, check: dict | None = None) -> dict:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "category": category,
            "check": dict(check or {})}


def _harmful(rng: random.Random) -> list[dict]:
    rows = []
    for area, prompts in HARMFUL.items():
        for prompt in prompts:
            refusal = " ".join([rng.choice(REFUSAL_OPENERS), rng.choice(REASONS[area]),
                                rng.choice(ALTERNATIVES[area])])
            rows.append(_row(prompt, refusal, rng.choice(COMPLIANCE), "harmful"))
    return rows


def _benign(rng: random.Random) -> list[dict]:
    return [_row(prompt, answer, rng.choice(NEEDLESS_REFUSALS), "benign")
            for pairs in BENIGN.values() for prompt, answer in pairs]


def _key_list(keys: list[str]) -> str:
    quoted = [f'"{k}"' for k in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _broken_json(obj: dict, subj: str, kind: int) -> str:
    """Six ways to miss the JSON check: cut off, single quotes, trailing comma, prose, bare keys, a key short."""
    text = json.dumps(obj)
    if kind == 0:
        return text[:-1]
    if kind == 1:
        return "{" + ", ".join(f"'{k}': '{v}'" for k, v in obj.items()) + "}"
    if kind == 2:
        return text[:-1] + ",}"
    if kind == 3:
        return f"Sure! For {subj}, " + ", ".join(f"the {k} is {v}" for k, v in obj.items()) + "."
    if kind == 4:
        return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in obj.items()) + "}"
    return json.dumps(dict(list(obj.items())[:-1]))


def _format_json(rng: random.Random) -> list[dict]:
    rows = []
    for i, (subj, obj) in enumerate(JSON_OBJECTS):
        keys = list(obj)
        prompt = rng.choice(_JSON_ASKS).format(subj=subj, keys=_key_list(keys))
        rows.append(_row(prompt, json.dumps(obj), _broken_json(obj, subj, i % 6), "format", {"json_keys": keys}))
    return rows


def _format_lists(rng: random.Random) -> list[dict]:
    rows = []
    for i, (topic, items) in enumerate(LISTS):
        n = rng.randint(3, len(items) - 1)
        prompt = rng.choice(_LIST_ASKS).format(n=n, topic=topic)
        chosen = "\n".join(f"{j}. {item}" for j, item in enumerate(items[:n], 1))
        kind = i % 3
        if kind == 0:  # prose instead of a list
            rejected = "A few good ones are " + ", ".join(items[:n - 1]).lower() + f" and {items[n - 1].lower()}."
        elif kind == 1:  # bullets, not a numbered list
            rejected = "\n".join(f"- {item}" for item in items[:n])
        else:  # the wrong number of items
            rejected = "\n".join(f"{j}. {item}" for j, item in enumerate(items[:n + 1], 1))
        rows.append(_row(prompt, chosen, rejected, "format", {"list_count": n}))
    return rows


def _format_words(rng: random.Random) -> list[dict]:
    rows = []
    for q, short, long in SHORT_ANSWERS:
        n = len(short.split())
        k = next(lim for lim in _WORD_LIMITS if lim >= n)
        prompt = rng.choice(_WORD_ASKS).format(k=k, q=q, Q=q[0].upper() + q[1:])
        rows.append(_row(prompt, short, long, "format", {"word_limit": k}))
    return rows


def _padded(rng: random.Random, core: str) -> str:
    """``core`` buried in filler until the reply runs past the suite's length budget."""
    sentences = PADDING[:]
    rng.shuffle(sentences)
    head, tail, words, j = [], [], len(core.split()), 0
    while words < _PADDED_MIN_WORDS:
        s = sentences[j % len(sentences)]
        (head if j % 2 == 0 else tail).append(s)
        words += len(s.split())
        j += 1
    return " ".join(head + [core] + tail)


def _helpful_facts(rng: random.Random) -> list[dict]:
    rows = []
    for i, (q, right, wrong, expect) in enumerate(FACTS):
        kind = i % 4
        rejected = _padded(rng, right) if kind == 3 else (_padded(rng, wrong) if kind == 2 else wrong)
        rows.append(_row(q, right, rejected, "helpful", {"expect": list(expect)}))
    return rows


def _helpful_arithmetic(rng: random.Random, n: int = 30) -> list[dict]:
    rows, seen = [], set()
    ops = {"plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}
    while len(rows) < n:
        op = rng.choice(list(ops))
        a, b = (rng.randint(11, 99), rng.randint(3, 12)) if op == "times" else (rng.randint(21, 99), rng.randint(3, 19))
        c = ops[op](a, b)
        if (a, op, b) in seen or c in (a, b):
            continue
        seen.add((a, op, b))
        off = rng.choice([-10, -2, -1, 1, 2, 10])
        prompt = rng.choice(_ARITH_ASKS).format(a=a, op=op, b=b)
        rows.append(_row(prompt, f"{a} {op} {b} is {c}.", f"{a} {op} {b} is {c + off}.", "helpful",
                         {"expect": [str(c)]}))
    return rows


def _helpful_open(rng: random.Random) -> list[dict]:
    return [_row(q[0].upper() + q[1:], short, _padded(rng, long), "helpful") for q, short, long in SHORT_ANSWERS]


def build_pairs(seed: int = SEED) -> list[dict]:
    """Every pair, with the gold ``check`` the suite would attach to its prompt (see the module docstring)."""
    rng = random.Random(f"prefzoo-hh-pairs:{seed}")
    rows = [*_harmful(rng), *_benign(rng), *_format_json(rng), *_format_lists(rng), *_format_words(rng),
            *_helpful_facts(rng), *_helpful_arithmetic(rng), *_helpful_open(rng)]
    seen: set[str] = set()
    for r in rows:
        key = " ".join(r["prompt"].lower().split())
        if key in seen:
            raise ValueError(f"duplicate prompt in the HH pairs: {r['prompt']!r}")
        seen.add(key)
    return rows


def render(rows: list[dict]) -> str:
    """The JSONL text of ``rows`` (only the public columns, in ``COLUMNS`` order)."""
    return "".join(json.dumps({c: r[c] for c in COLUMNS}) + "\n" for r in rows)


def load_pairs(path: str | Path = PAIRS_PATH) -> list[dict]:
    """The shipped pairs (``hh_data/pairs.jsonl``) as dicts."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_pairs(path: str | Path = PAIRS_PATH, seed: int = SEED) -> list[dict]:
    rows = build_pairs(seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(render(rows), encoding="utf-8")
    return rows


def main() -> None:
    rows = write_pairs()
    counts = {c: sum(r["category"] == c for r in rows) for c in CATEGORIES}
    print(f"wrote {len(rows)} pairs to {PAIRS_PATH} ({', '.join(f'{c} {n}' for c, n in counts.items())})")


if __name__ == "__main__":
    main()
