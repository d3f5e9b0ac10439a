"""``train_mix``: the toy world's train prompts drawn by a category mix (issue 16). Counts follow the weights, the
default draw (and so every earlier fingerprint) is unchanged, bad mixes are refused when the recipe loads."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from prefzoo.compare_data import data_fingerprint, train_rows
from prefzoo.compare_recipe import load_compare_recipe
from prefzoo.config import ConfigError
from prefzoo.worlds.toy_data_prompts import mix_counts, prompts
from prefzoo.worlds.toy_world import ToyWorld

QUICKSTART = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml"
MIX = {"helpful": 0.3, "format": 0.3, "harmful": 0.15, "benign": 0.1, "style": 0.15}


def ids_hash(rows: list[dict]) -> str:
    return hashlib.md5(json.dumps([r["id"] for r in rows]).encode()).hexdigest()


def test_counts_follow_the_weights_and_sum_to_n():
    assert mix_counts(256, MIX) == {"helpful": 77, "format": 77, "harmful": 38, "benign": 26, "style": 38}
    for n in (1, 3, 7, 100, 256, 1023):
        for weights in (MIX, {"format": 1}, {"helpful": 1, "format": 2, "style": 0}, dict.fromkeys(MIX, 1)):
            counts = mix_counts(n, weights)
            assert sum(counts.values()) == n
            total = sum(weights.values())
            assert all(abs(counts[c] - n * w / total) < 1 for c, w in weights.items())
    rows = prompts("train", 256, 3, mix=MIX)
    assert Counter(r["category"] for r in rows) == Counter(mix_counts(256, MIX))
    assert {r["split"] for r in rows} == {"train"}
    kinds = Counter(r["kind"] for r in rows if r["category"] == "format")  # subkinds still picked uniformly
    assert set(kinds) == {"json", "list"} and min(kinds.values()) > 20
    assert rows == prompts("train", 256, 3, mix=MIX)  # seeded
    assert rows != prompts("train", 256, 4, mix=MIX)
    assert {r["category"] for r in prompts("train", 50, 0, mix={"format": 1, "style": 0})} == {"format"}


def test_default_draw_unchanged():
    # the ids of the balanced draws before train_mix existed (prefzoo's committed results were made from these)
    assert ids_hash(prompts("train", 256, 0)) == "8754b07637370f42482797d4dcf1370d"
    assert ids_hash(prompts("train", 256, 4)) == "c014becccabcdd0c26e9f3e2bf41c64d"
    assert ids_hash(prompts("eval", 400, 0)) == "0cfffc53ee5a304d50e66a126cfe3ac3"
    world = ToyWorld()
    plain = load_compare_recipe(QUICKSTART)
    assert plain.train_mix is None and data_fingerprint(plain) == {}  # nothing new in the pairs' fingerprint
    assert train_rows(plain, world, None, 0) == prompts("train", 256, 0)
    mixed = load_compare_recipe(QUICKSTART, ["train_mix={format: 0.3, helpful: 0.3, harmful: 0.15, "
                                             "benign: 0.1, style: 0.15}"])
    assert data_fingerprint(mixed) == {"train_mix": mixed.train_mix}
    assert train_rows(mixed, world, None, 0) == prompts("train", 256, 0, mix=mixed.train_mix)


@pytest.mark.parametrize("setting,message", [
    (["train_mix={formats: 1}"], r"train_mix: unknown categories \['formats'\]"),
    (["train_mix={format: -0.5, helpful: 1}"], r"train_mix: mix weights must be finite numbers >= 0"),
    (["train_mix={format: x}"], r"train_mix: mix weights must be finite numbers >= 0"),
    (["train_mix={format: 0, helpful: 0}"], r"train_mix: mix weights are all 0"),
    (["train_mix={}"], r"train_mix: a category mix maps categories to weights"),
    (["train_mix=[format]"], r"train_mix"),
    (["world=suite", "train_mix={format: 1}"], r"train_mix: world 'suite' cannot draw its train prompts"),
])
def test_bad_mix_refused_at_load(setting, message):
    with pytest.raises(ConfigError, match=message):
        load_compare_recipe(QUICKSTART, setting)
