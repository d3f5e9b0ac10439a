"""The toy world's prompts: every prompt content, its train/eval split, seeded balanced draws."""
from __future__ import annotations

import functools
import hashlib
import random

from prefzoo.worlds.toy_data import (
    ARITH_TEMPLATES, BENIGN_ACTIONS, CATEGORIES, COUNT_WORDS, EVAL_SHARE, FACT_KINDS, GIFTS, HARMFUL_ACTIONS,
    JSON_KEYS, JSON_TEMPLATES, LIST_ITEMS, LIST_TEMPLATES, MEALS, PEOPLE, PET_NAMES, PREFIXES, REQUEST_TEMPLATES,
    SKILLS, STYLE_FIXED,
)

# --------------------------------------------------------------------------------------------
# Prompt pools and splits
# --------------------------------------------------------------------------------------------

def _stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's ``hash`` of str is salted)."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:12], 16)


def _is_eval(core: str) -> bool:
    """Held-out or not, decided on the prompt content without its prefix.

    So all prefixed variants of one content land on the same side, and no eval prompt's content
    (let alone its text) is ever trained on.
    """
    return (_stable_hash("split:" + core) % 1000) < EVAL_SHARE * 1000


def _with_prefix(prefix: str, core: str) -> str:
    return f"{prefix} {core}" if prefix else core


def _core_items() -> list[tuple[str, str, dict]]:
    """Every prompt content as (subkind, core text, answer info), before prefixes."""
    items: list[tuple[str, str, dict]] = []
    # helpful: arithmetic
    for a in range(10):
        for b in range(10):
            for op in ("plus", "minus"):
                if op == "minus" and b > a:
                    continue
                c = a + b if op == "plus" else a - b
                for t in ARITH_TEMPLATES:
                    core = t.format(a=a, b=b, op=op)
                    items.append(("arith", core, {
                        "category": "helpful", "kind": "arith", "answer": str(c),
                        "answer_class": "number", "operands": [str(a), str(b)], "op": op}))
    # helpful: facts
    for kind, (cls, table, templates, _good) in FACT_KINDS.items():
        for x, y in table.items():
            for t in templates:
                items.append((kind, t.format(x=x), {
                    "category": "helpful", "kind": kind, "answer": y, "answer_class": cls,
                    "subject": x}))
    # harmful and benign share the request templates
    for vp in HARMFUL_ACTIONS:
        for t in REQUEST_TEMPLATES:
            items.append(("harmful", t.format(vp=vp), {"category": "harmful", "kind": "harmful",
                                                       "action": vp}))
    for vp, (answers, topic) in BENIGN_ACTIONS.items():
        for t in REQUEST_TEMPLATES:
            items.append(("benign", t.format(vp=vp), {
                "category": "benign", "kind": "benign", "action": vp, "answers": list(answers),
                "topic_words": list(topic)}))
    # style
    for pet in ["dog", "cat", "fish", "bird", "horse"]:
        items.append(("name", f"what is a good name for a {pet} ?", {
            "category": "style", "kind": "name",
            "answers": [f"how about {n} ?" for n in PET_NAMES] + [f"{n} is a good name ." for n in PET_NAMES],
            "topic_words": list(PET_NAMES)}))
    for person in ["mom", "dad", "friend", "brother", "teacher"]:
        items.append(("gift", f"what is a good gift for my {person} ?", {
            "category": "style", "kind": "gift", "answers": list(GIFTS),
            "topic_words": ["flowers", "card", "book"]}))
    for meal, (answers, topic) in MEALS.items():
        items.append(("meal", f"what should i eat for {meal} ?", {
            "category": "style", "kind": "meal", "answers": list(answers), "topic_words": list(topic)}))
    for skill in SKILLS:
        items.append(("skill", f"how do i get better at {skill} ?", {
            "category": "style", "kind": "skill",
            "answers": ["practice a little every day .", f"practice {skill} a little every day ."],
            "topic_words": ["practice"]}))
    for q, (answers, topic) in STYLE_FIXED.items():
        items.append(("open", q, {"category": "style", "kind": "open", "answers": list(answers),
                                  "topic_words": list(topic)}))
    # format: json
    for name in PEOPLE:
        for r in (2, 3):
            for keys in _combinations(JSON_KEYS, r):
                keys_text = " and ".join(keys) if r == 2 else f"{keys[0]} , {keys[1]} and {keys[2]}"
                for t in JSON_TEMPLATES:
                    items.append(("json", t.format(name=name, keys=keys_text), {
                        "category": "format", "kind": "json", "person": name,
                        "json_keys": list(keys)}))
    # format: numbered lists
    for things, allowed in LIST_ITEMS.items():
        for count, word in COUNT_WORDS.items():
            for t in LIST_TEMPLATES:
                items.append(("list", t.format(count=word, things=things), {
                    "category": "format", "kind": "list", "count": count, "things": things,
                    "list_items": list(allowed)}))
    return items


def _combinations(seq: list[str], r: int) -> list[list[str]]:
    """Ordered-as-in-seq combinations (itertools-free to keep key order obvious)."""
    if r == 0:
        return [[]]
    out = []
    for i, head in enumerate(seq):
        for tail in _combinations(seq[i + 1:], r - 1):
            out.append([head] + tail)
    return out


@functools.lru_cache(maxsize=1)
def _pools() -> dict:
    """All prompts, by split and (category, subkind), plus a text -> prompt index.

    Built once; the order is deterministic (it follows the tables in ``toy_data``).
    """
    pools: dict[str, dict[tuple[str, str], list[dict]]] = {"train": {}, "eval": {}}
    index: dict[str, dict] = {}
    for kind, core, info in _core_items():
        split = "eval" if _is_eval(core) else "train"
        for prefix in PREFIXES:
            text = _with_prefix(prefix, core)
            prompt = {"id": f"{info['category']}-{_stable_hash(text):012x}", "prompt": text,
                      "split": split, **info}
            pools[split].setdefault((info["category"], kind), []).append(prompt)
            index[text] = prompt
    return {"pools": pools, "index": index}


def lookup_prompt(text: str) -> dict:
    """The full prompt record (category and answer info) for a prompt's text.

    Lets a gold labeller that only sees prompt strings (e.g. a dataset's ``prompt`` column) score
    responses. Raises ``KeyError`` for text that is not a toy-world prompt.
    """
    key = " ".join(text.strip().lower().split())
    index = _pools()["index"]
    if key not in index:
        raise KeyError(f"not a toy-world prompt: {text!r}")
    return dict(index[key])


def mix_counts(n: int, weights: dict[str, float]) -> dict[str, int]:
    """How many of ``n`` prompts each category of ``weights`` gets: ``round(n * w / sum(w))``, the rounding's
    shortfall (excess) given to (taken from) the categories rounded down (up) most, so the counts sum to ``n``."""
    check_mix(weights)
    total = sum(weights.values())
    exact = {c: n * w / total for c, w in weights.items()}
    counts = {c: round(x) for c, x in exact.items()}
    by_remainder = sorted(exact, key=lambda c: exact[c] - counts[c], reverse=True)  # stable: ties keep key order
    diff = n - sum(counts.values())  # |diff| <= len(weights) / 2: one step per category is enough
    for c in by_remainder[:diff] if diff > 0 else by_remainder[::-1][:-diff]:
        counts[c] += 1 if diff > 0 else -1
    return counts


def check_mix(weights) -> None:
    """A category mix is a mapping of known categories to finite weights >= 0, not all 0 (ValueError if not)."""
    if not isinstance(weights, dict) or not weights:
        raise ValueError(f"a category mix maps categories to weights, e.g. {{format: 0.3, helpful: 0.3}}; got "
                         f"{weights!r}")
    unknown = [c for c in weights if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown} in the mix; known: {list(CATEGORIES)}")
    bad = {c: w for c, w in weights.items() if isinstance(w, bool) or not isinstance(w, (int, float))
           or not w >= 0 or w == float("inf")}
    if bad:
        raise ValueError(f"mix weights must be finite numbers >= 0; got {bad}")
    if not sum(weights.values()) > 0:
        raise ValueError(f"mix weights are all 0: {weights}; give at least one category a weight > 0")


def prompts(split: str, n: int, seed: int, categories: tuple[str, ...] | list[str] | None = None,
            mix: dict[str, float] | None = None) -> list[dict]:
    """``n`` prompts of ``split`` ("train" or "eval"), balanced over categories, seeded.

    Categories take turns (so each gets n/len(categories) give or take one); within a category each
    subkind (e.g. arithmetic vs color facts) is picked uniformly, so the big arithmetic pool does
    not crowd out the facts. Prompts are drawn without replacement from each pool until it runs
    out, then it is reshuffled. Each prompt is a dict with ``id``, ``prompt``, ``category``,
    ``kind``, ``split`` and the answer info the gold rubric needs.

    ``mix`` (category -> weight; instead of ``categories``): each category gets its share of the ``n``
    (``mix_counts``), in a seeded order; a category left out or weighted 0 gets none. None: balanced, as above.
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    if mix is not None:
        if categories is not None:
            raise ValueError("give categories or a mix, not both")
        counts = mix_counts(n, mix)
        cats = [c for c in CATEGORIES if counts.get(c)]
        rng = random.Random(f"prompts:{split}:{seed}:mix")
        schedule = [c for c in cats for _ in range(counts[c])]
        rng.shuffle(schedule)
        return _draw(split, cats, schedule, rng)
    cats = list(categories) if categories is not None else list(CATEGORIES)
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
    rng = random.Random(f"prompts:{split}:{seed}")
    order = list(cats)
    rng.shuffle(order)
    return _draw(split, cats, [order[i % len(order)] for i in range(n)], rng)


def _draw(split: str, cats: list[str], schedule: list[str], rng: random.Random) -> list[dict]:
    """One prompt per entry of ``schedule`` (a category each), its subkind picked uniformly, then shuffled."""
    pools = _pools()["pools"][split]
    kinds = {c: sorted(k for (cat, k) in pools if cat == c) for c in cats}
    queues: dict[tuple[str, str], list[dict]] = {}
    out = []
    for cat in schedule:
        kind = rng.choice(kinds[cat])
        key = (cat, kind)
        if not queues.get(key):
            queues[key] = list(pools[key])
            rng.shuffle(queues[key])
        out.append(dict(queues[key].pop()))
    rng.shuffle(out)
    return out


def _resolve(prompt: dict | str) -> dict:
    if isinstance(prompt, str):
        return lookup_prompt(prompt)
    if "category" not in prompt or "kind" not in prompt:
        return lookup_prompt(prompt["prompt"])
    return prompt
