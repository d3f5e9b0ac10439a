"""The toy world restricted to its verifiable arithmetic prompts ("what is 3 plus 4 ?"), for
``recipes/grpo-family.yaml``: every train and eval prompt has one checkable answer, as in the
maths RL the GRPO family was built for. The base, raters and rubric are the toy world's own (the base
is cached by its config, so a recipe with the quickstart's base config reuses the quickstart's base).
"""
from __future__ import annotations

import random

from prefzoo.worlds import toy
from prefzoo.worlds.toy_world import ToyWorld


class ArithWorld(ToyWorld):
    name = "toy-arith"
    categories = ("correct",)               # the share of answers that are right (and name no wrong number)
    category_directions = {"correct": "higher"}

    def prompts(self, split: str, n: int, seed: int) -> list[dict]:
        """``n`` arithmetic prompts of ``split``, seeded; the pool is cycled when ``n`` exceeds it."""
        pool = sorted(toy._pools()["pools"][split][("helpful", "arith")], key=lambda p: p["id"])
        rng, out = random.Random(f"arith:{split}:{seed}"), []
        while len(out) < n:
            batch = list(pool)
            rng.shuffle(batch)
            out.extend(batch)
        return [dict(p) for p in out[:n]]
