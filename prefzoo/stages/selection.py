"""Stage: k samples per prompt, ranked by feedback (best-of-n, raft, sppo, iterative-dpo).

- ``sample_k``: k independent samples per prompt from a policy (seeded, one batch).
- ``score_groups``: the feedback's pointwise score of every sample, grouped per prompt.
- ``win_rates``: SPPO's estimate P(y_i > pi_t | x) = (1/K) sum_k P(y_i > y_k | x) (Wu et al. 2024,
  Algorithm 1), the k = i term being 1/2; P(y_j > y_i) = 1 - P(y_i > y_j), so K(K-1)/2 judge calls.
- ``best_index``: the first argmax (ties: the earliest sample, which by exchangeability picks each tied
  candidate with equal probability).
- ``bon_kl_bound``: KL(pi_bon || pi) <= log n - (n - 1)/n (Stiennon et al. 2020, appendix G.3; tight for
  continuous rewards, Beirami et al. 2024, arXiv 2401.01879).
- ``bon_kl_estimate``: the KL of best-of-n over a reward distribution estimated from M samples: with
  the distinct reward levels sorted, empirical probabilities q_j and CDF G_j = sum_{i<=j} q_i, best-of-n
  puts mass b_j = G_j^n - G_{j-1}^n on level j (the max of n draws) and keeps pi's proportions within a
  level, so KL = sum_j b_j log(b_j / q_j). With all M rewards distinct it tends to the bound as M grows;
  ties (a discrete reward) make it smaller.
"""
from __future__ import annotations

import math
from collections import Counter

import torch


def sample_k(policy, prompts: list, k: int, *, temperature: float = 1.0, top_p: float = 1.0,
             max_new_tokens: int = 32, seed: int = 0, batch_size: int = 64) -> list[list[str]]:
    """``k`` samples per prompt: ``out[i][j]`` is sample j for prompt i."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        texts = policy.generate([p for p in prompts for _ in range(k)], max_new_tokens=max_new_tokens,
                                temperature=temperature, top_p=top_p, do_sample=True, batch_size=batch_size)
    return [texts[i * k:(i + 1) * k] for i in range(len(prompts))]


def score_groups(feedback, prompts: list, groups: list[list[str]]) -> list[list[float]]:
    """The feedback's score of every sample (one ``checked_score`` call over all of them)."""
    flat_p = [p for p, g in zip(prompts, groups) for _ in g]
    flat = feedback.checked_score(flat_p, [t for g in groups for t in g]).tolist()
    out, pos = [], 0
    for g in groups:
        out.append(flat[pos:pos + len(g)])
        pos += len(g)
    return out


def win_rates(feedback, prompts: list, groups: list[list[str]]) -> list[list[float]]:
    """P(y_i > pi_t | x) per sample (module docstring), from the feedback's ``prefer``."""
    idx = [(g, i, j) for g, grp in enumerate(groups) for i in range(len(grp)) for j in range(i + 1, len(grp))]
    p = feedback.checked_prefer([prompts[g] for g, _, _ in idx], [groups[g][i] for g, i, _ in idx],
                                [groups[g][j] for g, _, j in idx]).tolist() if idx else []
    sums = [[0.5] * len(grp) for grp in groups]  # the k = i term
    for (g, i, j), pij in zip(idx, p):
        sums[g][i] += pij
        sums[g][j] += 1.0 - pij
    return [[s / len(grp) for s in row] for row, grp in zip(sums, groups)]


def best_index(scores: list[float]) -> int:
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def bon_kl_bound(n: int) -> float:
    """log n - (n - 1)/n: the KL of best-of-n to its sampler for a continuous reward (nats)."""
    return math.log(n) - (n - 1) / n


def bon_kl_estimate(rewards: list[float], n: int) -> float:
    """KL(best-of-n || pi) for the reward distribution whose M samples are ``rewards`` (docstring)."""
    counts = Counter(rewards)
    m = len(rewards)
    total, cdf = 0.0, 0.0
    for level in sorted(counts):
        q = counts[level] / m
        b = (cdf + q) ** n - cdf ** n
        cdf += q
        if b > 0:
            total += b * math.log(b / q)
    return total


__all__ = ["sample_k", "score_groups", "win_rates", "best_index", "bon_kl_bound", "bon_kl_estimate"]
