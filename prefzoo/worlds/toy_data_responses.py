"""The toy world's responses: good ones in several phrasings, and ones with a chosen flaw."""
from __future__ import annotations

import random

from prefzoo.worlds.toy_data import (
    ANSWER_CLASSES, ARITH_GOOD, CATEGORIES, COMPLIANCE, COMPLIANCE_TOOLS, COUNT_WORDS, FACT_KINDS, FILLER_PREFIXES,
    FILLER_SUFFIXES, FLAW_OF_CATEGORY, JSON_KEYS, JSON_PROSE, LIST_INTROS, MAX_RESPONSE_TOKENS, PEOPLE, REFUSALS,
)
from prefzoo.worlds.toy_data_prompts import _resolve, _with_prefix

# --------------------------------------------------------------------------------------------
# Responses: good and flawed
# --------------------------------------------------------------------------------------------

def flaws_for(category: str) -> list[str]:
    """The flaws a response to a prompt of ``category`` can have (``padded`` always among them)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")
    own = FLAW_OF_CATEGORY[category]
    return ([own] if own else []) + ["padded"]


def _json_text(obj: dict) -> str:
    """JSON in the toy convention: every token separated by a space."""
    parts = ["{"]
    for i, (k, v) in enumerate(obj.items()):
        if i:
            parts.append(",")
        value = str(v) if isinstance(v, int) else f'"{v}"'
        parts += [f'"{k}"', ":", value]
    parts.append("}")
    return " ".join(parts)


def _person_values(name: str) -> dict:
    return {"name": name, **PEOPLE[name]}


def _numbered_list(items: list[str]) -> str:
    return " ".join(f"{i} . {w}" for i, w in enumerate(items, 1))


def good_response(prompt: dict | str, rng: random.Random) -> str:
    """A response the gold rubric gives full marks, in one of several phrasings."""
    p = _resolve(prompt)
    cat, kind = p["category"], p["kind"]
    if kind == "arith":
        a, b = p["operands"]
        return rng.choice(ARITH_GOOD).format(a=a, b=b, op=p["op"], c=p["answer"])
    if cat == "helpful":
        return rng.choice(FACT_KINDS[kind][3]).format(x=p["subject"], y=p["answer"])
    if cat == "harmful":
        return rng.choice(REFUSALS)
    if cat in ("benign", "style"):
        return rng.choice(p["answers"])
    if kind == "json":
        values = _person_values(p["person"])
        return _json_text({k: values[k] for k in p["json_keys"]})
    if kind == "list":
        items = rng.sample(p["list_items"], p["count"])
        intro = rng.choice(LIST_INTROS).format(count=COUNT_WORDS[p["count"]], things=p["things"])
        return _with_prefix(intro, _numbered_list(items))
    raise ValueError(f"no good response for {p!r}")


def _wrong_answer(p: dict, rng: random.Random) -> str:
    """A wrong value of the answer's class that the rubric will recognise as wrong."""
    if p["answer_class"] == "number":
        c = int(p["answer"])
        in_prompt = set(p["prompt"].split())
        options = [str(c + d) for d in (-3, -2, -1, 1, 2, 3)
                   if 0 <= c + d <= 20 and str(c + d) not in in_prompt]
        return rng.choice(options)
    in_prompt = set(p["prompt"].split())
    options = [w for w in ANSWER_CLASSES[p["answer_class"]] if w != p["answer"] and w not in in_prompt]
    return rng.choice(options)


def _category_flawed(p: dict, rng: random.Random) -> str:
    """A response with the category's own flaw (not padding)."""
    cat, kind = p["category"], p["kind"]
    if cat == "helpful":
        wrong = _wrong_answer(p, rng)
        if kind == "arith":
            a, b = p["operands"]
            return rng.choice(ARITH_GOOD).format(a=a, b=b, op=p["op"], c=wrong)
        return rng.choice(FACT_KINDS[kind][3]).format(x=p["subject"], y=wrong)
    if cat == "harmful":
        return rng.choice(COMPLIANCE).format(tool=rng.choice(COMPLIANCE_TOOLS))
    if cat == "benign":
        return rng.choice(REFUSALS)
    if kind == "json":
        values = _person_values(p["person"])
        keys = list(p["json_keys"])
        how = rng.choice(["prose", "missing_key", "extra_key", "no_brace", "no_quotes"])
        if how == "prose":
            return rng.choice(JSON_PROSE).format(**values)
        if how == "missing_key":
            keys.remove(rng.choice(keys))
            return _json_text({k: values[k] for k in keys})
        if how == "extra_key":
            extra = rng.choice([k for k in JSON_KEYS if k not in keys])
            keys.insert(rng.randrange(len(keys) + 1), extra)
            return _json_text({k: values[k] for k in keys})
        text = _json_text({k: values[k] for k in keys})
        if how == "no_brace":
            return text[: -len(" }")]
        return text.replace('"', "")  # no_quotes: not JSON
    if kind == "list":
        how = rng.choice(["prose", "wrong_count", "bad_numbering"])
        count = p["count"]
        if how == "prose":
            items = rng.sample(p["list_items"], count)
            return " , ".join(items[:-1]) + f" and {items[-1]} ."
        if how == "wrong_count":
            k = rng.choice([c for c in (count - 1, count + 1) if 1 <= c <= len(p["list_items"])])
            return _numbered_list(rng.sample(p["list_items"], k))
        items = rng.sample(p["list_items"], count)
        numbers = [str(i) for i in range(1, count + 1)]
        numbers[0], numbers[1] = numbers[1], numbers[0]
        return " ".join(f"{n} . {w}" for n, w in zip(numbers, items))
    raise ValueError(f"category {cat!r} has no flaw of its own")


def pad(response: str, rng: random.Random) -> str:
    """Add filler before and/or after ``response``, keeping it within MAX_RESPONSE_TOKENS.

    Tries filler combinations in a random order and keeps the first that fits; the shortest
    filler (3 tokens) always fits because no unpadded response is longer than 27 tokens.
    """
    n = len(response.split())
    choices = []
    for pre in FILLER_PREFIXES + [""]:
        for suf in FILLER_SUFFIXES + [""]:
            if pre or suf:
                choices.append((pre, suf))
    # prefer one filler on each side or just one; doubled filler ("repeated") sometimes
    rng.shuffle(choices)
    if rng.random() < 0.15:
        choices.insert(0, (FILLER_PREFIXES[1] + " " + FILLER_PREFIXES[2], ""))
    for pre, suf in choices:
        extra = len(pre.split()) + len(suf.split())
        if n + extra <= MAX_RESPONSE_TOKENS:
            return " ".join(x for x in (pre, response, suf) if x)
    raise ValueError(f"response too long to pad: {response!r}")


def flawed_response(prompt: dict | str, rng: random.Random, flaw: str | None = None) -> str:
    """A response with ``flaw`` (one of ``flaws_for(category)``; random among them when None).

    ``padded`` is a good response wrapped in filler, so it isolates the style flaw.
    """
    p = _resolve(prompt)
    allowed = flaws_for(p["category"])
    if flaw is None:
        flaw = rng.choice(allowed)
    if flaw not in allowed:
        raise ValueError(f"flaw {flaw!r} does not apply to {p['category']!r}; use one of {allowed}")
    if flaw == "padded":
        return pad(good_response(p, rng), rng)
    return _category_flawed(p, rng)


def make_response(prompt: dict | str, rng: random.Random, flawed: bool = False,
                  padded: bool = False) -> str:
    """Good or with the category's own flaw, then optionally padded (the two flaws independent)."""
    p = _resolve(prompt)
    text = _category_flawed(p, rng) if flawed and FLAW_OF_CATEGORY[p["category"]] else good_response(p, rng)
    return pad(text, rng) if padded else text
