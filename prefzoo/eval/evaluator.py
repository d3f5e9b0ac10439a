"""One evaluator for every arm: the same held-out prompts, sampler and gold scoring for all.

Per arm it reports the gold reward, the win rate against the base under the gold preference,
KL(policy || base) per sequence (Monte Carlo over the policy's own samples: E_y~pi[log pi(y|x) -
log pi_base(y|x)]), the world's category rates, mean response length (tokens) and distinct-2.
Confidence intervals: a bootstrap over seeds and prompts (``bootstrap_ci``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from prefzoo.models.policy import Policy, length_groups


@dataclass
class EvalConfig:
    prompts: int = 200             # held-out prompts (the world's eval split)
    max_new_tokens: int = 40
    temperature: float = 1.0       # sample as deployed; KL is estimated on these samples
    batch_size: int = 100
    seed: int = 1234               # the same sampling seed for every arm


@dataclass
class Evaluation:
    gold_reward: float
    win_rate_vs_base: float
    kl_to_base: float
    mean_length: float
    distinct_2: float
    categories: dict[str, float]
    per_prompt: list[dict] = field(default_factory=list)  # id, category, prompt, response, reward, win, kl

    def row(self) -> dict:
        return {"gold_reward": self.gold_reward, "win_rate_vs_base": self.win_rate_vs_base,
                "kl_to_base": self.kl_to_base, "mean_length": self.mean_length, "distinct_2": self.distinct_2,
                **self.categories}


def distinct_n(texts: list[str], n: int = 2) -> float:
    """Unique n-grams over all n-grams of the responses (Li et al. 2016): 1.0 all different."""
    grams = [tuple(t.split()[i:i + n]) for t in texts for i in range(max(0, len(t.split()) - n + 1))]
    return len(set(grams)) / len(grams) if grams else 0.0


@torch.no_grad()
def sample(policy: Policy, prompts: list, cfg: EvalConfig) -> tuple[list[str], list[list[int]], list[list[int]]]:
    """Seeded samples: (texts, completion ids, prompt ids)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    n = len(prompts)
    texts, comp_ids, prompt_ids = [""] * n, [[] for _ in range(n)], [[] for _ in range(n)]
    encoded = [policy.encode_prompt(p) for p in prompts]
    for idx in length_groups([len(e) for e in encoded], cfg.batch_size):  # less padding
        comps, enc = policy.generate_ids([prompts[i] for i in idx], max_new_tokens=cfg.max_new_tokens,
                                         temperature=cfg.temperature, encoded=[encoded[i] for i in idx])
        for i, c, e in zip(idx, comps, enc):
            texts[i], comp_ids[i], prompt_ids[i] = policy.decode(c), c, e
    torch.random.set_rng_state(state)
    return texts, comp_ids, prompt_ids


@torch.no_grad()
def sequence_logps(policy: Policy, prompt_ids: list[list[int]], comp_ids: list[list[int]],
                   batch_size: int = 100) -> torch.Tensor:
    out = []
    was = policy.model.training
    policy.model.eval()
    for start in range(0, len(prompt_ids), batch_size):
        seqs = policy.sequences(prompt_ids[start:start + batch_size], [c or [policy.tokenizer.eos_token_id]
                                                                        for c in comp_ids[start:start + batch_size]])
        out.append(policy.forward_logps(seqs).sum(-1).float().cpu())
    policy.model.train(was)
    return torch.cat(out)


def evaluate(policy: Policy, base: Policy, world, rows: list[dict], cfg: EvalConfig,
             base_texts: list[str] | None = None) -> Evaluation:
    """Score ``policy`` on ``rows`` (the world's eval prompts) against ``base``."""
    prompts = [r["prompt"] for r in rows]
    texts, comp_ids, prompt_ids = sample(policy, prompts, cfg)
    rewards = world.gold.score(rows, texts).tolist()
    if base_texts is None:
        base_texts = texts if policy is base else sample(base, prompts, cfg)[0]
    wins = [world.gold_preference(r, a, b) for r, a, b in zip(rows, texts, base_texts)]
    if policy is base:
        kls = [0.0] * len(rows)
    else:
        kls = (sequence_logps(policy, prompt_ids, comp_ids) - sequence_logps(base, prompt_ids, comp_ids)).tolist()
    per_prompt = [{"id": r.get("id"), "category": r.get("category"), "prompt": r["prompt"], "response": t,
                   "gold_reward": g, "win_vs_base": w, "kl": k, "length": len(c)}
                  for r, t, g, w, k, c in zip(rows, texts, rewards, wins, kls, comp_ids)]
    n = len(rows)
    return Evaluation(gold_reward=sum(rewards) / n, win_rate_vs_base=sum(wins) / n, kl_to_base=sum(kls) / n,
                      mean_length=sum(len(c) for c in comp_ids) / n, distinct_2=distinct_n(texts),
                      categories=world.category_rates(rows, texts), per_prompt=per_prompt)


def bootstrap_ci(per_seed: list[list[float]], reps: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile CI, resampling seeds and then prompts within each seed (two-level)."""
    per_seed = [s for s in per_seed if s]
    if not per_seed:
        return float("nan"), float("nan"), float("nan")
    mean = sum(sum(s) / len(s) for s in per_seed) / len(per_seed)
    rng = random.Random(seed)
    stats = []
    for _ in range(reps):
        seeds = [per_seed[rng.randrange(len(per_seed))] for _ in per_seed]
        vals = [sum(s[rng.randrange(len(s))] for _ in s) / len(s) for s in seeds]
        stats.append(sum(vals) / len(vals))
    stats.sort()
    lo = stats[int((1 - level) / 2 * reps)]
    hi = stats[min(reps - 1, int((1 + level) / 2 * reps))]
    return mean, lo, hi
