"""Pure tensor operations shared by algorithms and loops: pairwise-loss pieces, masked statistics,
KL estimators, clipped policy/value losses and the advantage estimators. Depends on torch only.

Shapes: ``B`` rows, ``R`` response positions (every response starts at column 0 of the response
block; ``mask`` [B, R] is 1 on real response tokens, EOS included, 0 on padding after it).
Grouped estimators expect rows ordered group-major: the ``k`` samples of prompt 0, then of prompt 1, ...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


# ----------------------------------------------------------------------------- pairwise pieces
def logratio(policy, reference) -> tuple[torch.Tensor, torch.Tensor]:
    """r_w, r_l = log pi(y|x) - log pi_ref(y|x) for chosen and rejected (two ``PairLogps``)."""
    return policy.chosen - reference.chosen, policy.rejected - reference.rejected


def soft_sigmoid_loss(logits: torch.Tensor, p: torch.Tensor | None) -> torch.Tensor:
    """-p log sigma(z) - (1-p) log sigma(-z); hard labels (p=None) reduce to -log sigma(z).
    With z = R(x, y_w) - R(x, y_l) this is the Bradley-Terry loss of a reward model."""
    if p is None:
        return -F.logsigmoid(logits)
    return -p * F.logsigmoid(logits) - (1 - p) * F.logsigmoid(-logits)


def bt_loss(chosen: torch.Tensor, rejected: torch.Tensor, p_chosen: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pair Bradley-Terry loss [B] on scalar rewards: ``soft_sigmoid_loss(chosen - rejected, p)``."""
    return soft_sigmoid_loss(chosen - rejected, p_chosen)


def pair_metrics(chosen_reward: torch.Tensor, rejected_reward: torch.Tensor) -> dict[str, torch.Tensor]:
    """The implicit-reward summaries every pairwise objective logs."""
    c, r = chosen_reward.detach(), rejected_reward.detach()
    return {"reward_accuracy": (c > r).float().mean(), "reward_margin": (c - r).mean(),
            "chosen_reward": c.mean(), "rejected_reward": r.mean()}


# ----------------------------------------------------------------------------- masked statistics
def local_sum(x: torch.Tensor) -> torch.Tensor:
    """The identity: a sum over this process's rows is the sum over all rows (one process)."""
    return x


@dataclass
class AdvantageInput:
    """What an estimator may read. Optional fields are filled only when the algorithm asks for them
    (``uses_critic`` -> ``values``; a feedback hook that returns a baseline -> ``baseline``)."""

    scores: torch.Tensor                    # [B] sequence reward, as the algorithm's ``rewards`` hook shaped it (KL folded in by default)
    token_rewards: torch.Tensor             # [B, R] per-token reward: -beta*kl_t (+ score at the last token)
    mask: torch.Tensor                      # [B, R] response tokens
    group_size: int                         # samples per prompt (k)
    values: torch.Tensor | None = None      # [B, R] critic value of the state each token is produced from
    baseline: torch.Tensor | None = None    # [B] a per-row baseline score (ReMax: the greedy response's)
    # sums a tensor over every process's rows (an all-reduce under several processes), for batch
    # statistics such as whitening that must not depend on how the batch is split
    reduce_sum: Callable[[torch.Tensor], torch.Tensor] = local_sum


@dataclass
class Advantages:
    advantages: torch.Tensor                # [B, R], zero off the mask
    returns: torch.Tensor | None = None     # [B, R] value targets (critic algorithms only)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim=None, denom: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``x`` over the mask. ``denom`` replaces the local token count (the online loop passes
    the count of every process divided by the number of processes, so that DDP's average of the
    processes' gradients is the gradient of one token mean over the whole batch)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / (mask.sum() if denom is None else denom).clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True,
               reduce_sum: Callable[[torch.Tensor], torch.Tensor] = local_sum) -> torch.Tensor:
    """Variance of ``x`` over the mask, over every process's entries through ``reduce_sum``."""
    m = mask.to(x.dtype)
    n = reduce_sum(m.sum())
    mean = reduce_sum((x * m).sum()) / n.clamp(min=1)
    var = reduce_sum((((x - mean) ** 2) * m).sum()) / n.clamp(min=1)
    return torch.where(n > 1, var * n / (n - 1).clamp(min=1), var) if unbiased else var


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8,
           reduce_sum: Callable[[torch.Tensor], torch.Tensor] = local_sum) -> torch.Tensor:
    """(x - mean) / std over the masked entries (Huang et al. 2024: whitened advantages); zero off mask.
    Mean and unbiased variance are taken over every process's entries through ``reduce_sum``."""
    m = mask.to(x.dtype)
    mean = reduce_sum((x * m).sum()) / reduce_sum(m.sum()).clamp(min=1)
    var = masked_var(x, mask, reduce_sum=reduce_sum)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * m


# ----------------------------------------------------------------------------- KL estimators
def kl_k1(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k1 = log pi - log pi_ref per token (unbiased for KL(pi||ref) under samples from pi; can be < 0)."""
    return logp - ref_logp


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k3 = pi_ref/pi - log(pi_ref/pi) - 1 per token (Schulman 2020; GRPO eq. 4): unbiased, >= 0."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


# ----------------------------------------------------------------------------- estimators
def gae(token_rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> Advantages:
    """Generalised advantage estimation (Schulman et al. 2016) over each response, terminal after the
    last masked token (V = 0 there). delta_t = r_t + gamma V_{t+1} - V_t; A_t = delta_t + gamma lam A_{t+1}.
    Returns A and the value targets A + V. All [B, R]."""
    mask = mask.to(values.dtype)
    values = values * mask
    rewards = token_rewards * mask
    R = values.shape[1]
    adv = torch.zeros_like(values)
    last = torch.zeros_like(values[:, 0])
    for t in reversed(range(R)):
        nxt_mask = mask[:, t + 1] if t + 1 < R else torch.zeros_like(last)
        nxt_v = values[:, t + 1] * nxt_mask if t + 1 < R else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * nxt_v - values[:, t]
        last = (delta + gamma * lam * last * nxt_mask) * mask[:, t]
        adv[:, t] = last
    return Advantages(adv, (adv + values) * mask)


def _groups(x: torch.Tensor, k: int) -> torch.Tensor:
    if x.numel() % k:
        raise ValueError(f"{x.numel()} rows do not split into groups of {k}")
    return x.view(-1, k)


def rloo(scores: torch.Tensor, k: int) -> torch.Tensor:
    """A_i = R_i - mean_{j != i} R_j within each group of k (Ahmadian et al. 2024, eq. 6). [B] -> [B]."""
    if k < 2:
        raise ValueError("rloo needs at least 2 samples per prompt")
    g = _groups(scores, k)
    others = (g.sum(-1, keepdim=True) - g) / (k - 1)
    return (g - others).reshape(-1)


def group_normalized(scores: torch.Tensor, k: int, eps: float = 1e-4) -> torch.Tensor:
    """A_i = (R_i - mean(R)) / (std(R) + eps) within each group of k (Shao et al. 2024, sec. 4.1.2;
    sample std, as the paper's implementation). [B] -> [B]."""
    g = _groups(scores, k)
    return ((g - g.mean(-1, keepdim=True)) / (g.std(-1, keepdim=True) + eps)).reshape(-1)


def remax(scores: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """A_i = R_i - R(greedy response to the same prompt) (Li et al. 2023, eq. 7). [B] -> [B]."""
    return scores - baseline


def sequence_advantages(seq_adv: torch.Tensor, mask: torch.Tensor) -> Advantages:
    """A sequence-level advantage applied to every token of its response."""
    return Advantages(seq_adv.unsqueeze(-1) * mask.to(seq_adv.dtype))



# ----------------------------------------------------------------------------- clipped losses
def clipped_policy_loss(logps, old_logps, advantages, mask, eps: float = 0.2, denom=None):
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), token-level masked mean:
    max(-A r, -A clip(r, 1-eps, 1+eps)), r = exp(log pi - log pi_old).
    Returns (loss, clip_fraction, ratio_mean). ``denom``: see ``masked_mean``."""
    ratio = torch.exp(logps - old_logps)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - eps, 1.0 + eps)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask, denom=denom)
    clip_frac = masked_mean((clipped > unclipped).float(), mask, denom=denom)
    return loss, clip_frac.detach(), masked_mean(ratio, mask, denom=denom).detach()


def clipped_value_loss(values, old_values, returns, mask, eps: float = 0.2, denom=None):
    """0.5 * max((V - G)^2, (V_clip - G)^2), V_clip = V_old + clip(V - V_old, -eps, eps), masked mean.
    Returns (loss, value_clip_fraction)."""
    v_clip = old_values + torch.clamp(values - old_values, -eps, eps)
    a, b = (values - returns) ** 2, (v_clip - returns) ** 2
    return (0.5 * masked_mean(torch.maximum(a, b), mask, denom=denom),
            masked_mean((b > a).float(), mask, denom=denom).detach())


def explained_variance(values, returns, mask, reduce_sum=local_sum) -> torch.Tensor:
    """1 - Var(G - V) / Var(G) over response tokens (1: perfect critic, 0: no better than a constant),
    over every process's tokens through ``reduce_sum``."""
    var = masked_var(returns, mask, reduce_sum=reduce_sum)
    return 1.0 - masked_var(returns - values, mask, reduce_sum=reduce_sum) / var.clamp(min=1e-8)
