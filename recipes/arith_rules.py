"""The verifiable reward of ``recipes/grpo-family.yaml``: ``fn(prompt, response) -> float``.

``arith_correct`` is 1 when the response states the right result of the arithmetic prompt and names
no other number (the toy rubric's correctness check), else 0: a rule on the answer, as in maths RL
with a verifier. It is not the world's gold reward (which adds padding and length penalties); the
evaluation's ``correct`` column is this same check on held-out prompts.
"""
from prefzoo.worlds import toy


def arith_correct(prompt, response: str) -> float:
    row = prompt if isinstance(prompt, dict) else toy.lookup_prompt(prompt)
    return float(bool(toy.gold_score(row, response).correct)) if row.get("kind") == "arith" else 0.0
