"""PPO-RLHF end to end on a tiny task: pairs labelled by a rule -> reward model (held-out accuracy
above 0.8) -> PPO against the reward model raises the rule's own score, not only the RM's."""
import json
import random
from pathlib import Path

import torch

from prefzoo.models.policy import Policy
from prefzoo.models.tiny import words_of
from prefzoo.recipe import load_train_recipe
from prefzoo.runner import run_recipe

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["the", "sky", "is", "blue", "red", "green", "a", "cat", "dog", "big", "small", "ok", "."]


def blue_fraction(prompt, response):  # the rule: same as recipes/rules.py
    words = response.split()
    return sum(w == "blue" for w in words) / len(words) if words else 0.0


def rule_pairs(n: int, seed: int) -> list[dict]:
    """Random short responses, labelled by the rule; ties are skipped (they carry no preference)."""
    rng = random.Random(seed)
    prompts = [json.loads(x)["prompt"] for x in (ROOT / "recipes/data/tiny_pairs.jsonl").read_text().splitlines()]
    rows = []
    while len(rows) < n:
        a, b = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))) for _ in range(2))
        ra, rb = blue_fraction(None, a), blue_fraction(None, b)
        if ra != rb:
            rows.append({"prompt": rng.choice(prompts), "chosen": a if ra > rb else b, "rejected": b if ra > rb else a})
    return rows


def mean_rule_score(policy: Policy, prompts: list[str]) -> float:
    torch.manual_seed(123)
    texts = policy.generate(prompts, max_new_tokens=8, temperature=1.0)
    return sum(blue_fraction(None, t) for t in texts) / len(texts)


def test_ppo_against_a_learned_reward_model_raises_the_rule_score(tmp_path):
    data = tmp_path / "rule_pairs.jsonl"
    pairs = rule_pairs(160, seed=0)
    data.write_text("".join(json.dumps(r) + "\n" for r in pairs))
    recipe = tmp_path / "ppo-rlhf.yaml"
    recipe.write_text(f"""
algorithm: ppo
params:
  reward: reward-model
  reward_model: {{lr: 0.001, epochs: 3, batch_size: 16, normalise_on: 32, max_new_tokens: 8}}
  steps: 12
  prompts_per_step: 16
  max_new_tokens: 8
  no_eos_penalty: null
  target_kl: 6.0
  kl_horizon: 2000
  epochs: 4
  minibatches: 2
model: {{base: tiny, max_length: 64}}
data: {{path: {data}, kind: pairs}}
train: {{lr: 0.001, progress: false, cache_dir: {tmp_path / 'cache'}}}
seed: 0
""")
    result = run_recipe(load_train_recipe(recipe), tmp_path / "out")
    rm = result.info["reward_model"]
    assert rm['heldout_accuracy'] > 0.8, rm

    prompts = sorted({r["prompt"] for r in pairs})[:48]
    vocab = words_of([r[c] for r in pairs for c in ("prompt", "chosen", "rejected")])
    from prefzoo.recipe import ModelConfig

    before = Policy.load(ModelConfig(base="tiny", max_length=64), vocab=vocab, seed=0)
    b, a = mean_rule_score(before, prompts), mean_rule_score(result.policy, prompts)
    print(f"rm held-out accuracy {rm['heldout_accuracy']:.3f}; rule score before {b:.3f} after {a:.3f}")
    assert a > b + 0.1, (b, a)  # the rule's own score, measured on fresh samples
