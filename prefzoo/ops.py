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


# ----------------------------------------------------------------------------- the GRPO family's pieces
LOSS_AGGS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
SCALE_REWARDS = ("group", "batch", "none")


def aggregate_loss(x: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean", token_denom=None, row_denom=None,
                   norm: float = 1.0) -> torch.Tensor:
    """One scalar from a per-token loss ``x`` [B, R] (verl's ``loss_agg_mode``; TRL's loss types in brackets):

    - ``token-mean``:              sum_{i,t} x / #tokens  (DAPO's token-level loss; TRL dapo / bnpo)
    - ``seq-mean-token-mean``:     mean_i (sum_t x_it / |y_i|)  (GRPO's original eq. 3; TRL grpo)
    - ``seq-mean-token-sum``:      mean_i sum_t x_it
    - ``seq-mean-token-sum-norm``: mean_i sum_t x_it / norm, a constant such as the generation budget
                                   (Dr. GRPO, arXiv 2503.20783, eq. 2; TRL dr_grpo with max_completion_length)

    ``token_denom`` / ``row_denom`` replace the local token / row counts (the online loop passes every
    process's count divided by the number of processes, so DDP's gradient average is one mean over the
    global minibatch; see ``masked_mean``)."""
    if mode == "token-mean":
        return masked_mean(x, mask, denom=token_denom)
    m = mask.to(x.dtype)
    per_row = (x * m).sum(-1)
    if mode == "seq-mean-token-mean":
        per_row = per_row / m.sum(-1).clamp(min=1)
    elif mode == "seq-mean-token-sum-norm":
        per_row = per_row / norm
    elif mode != "seq-mean-token-sum":
        raise ValueError(f"loss_agg must be one of {', '.join(LOSS_AGGS)}, not {mode!r}")
    rows = torch.as_tensor(float(x.shape[0]), dtype=x.dtype, device=x.device) if row_denom is None else row_denom
    # no clamp(min=1): a global count divided by the processes may be below 1 (one training row, two processes)
    return per_row.sum() / torch.where(rows > 0, rows, torch.ones_like(rows))


def clipped_surrogate(logps, old_logps, advantages, eps_low: float = 0.2, eps_high: float = 0.2):
    """PPO's clipped surrogate per token with an asymmetric range (DAPO's clip-higher, eq. 10):
    max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high)), r = exp(log pi - log pi_old). ``logps`` may be
    [B, R] or [B, 1] (a sequence-level ratio). Returns (per-token loss, clipped flags, ratio)."""
    ratio = torch.exp(logps - old_logps)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    return torch.maximum(unclipped, clipped), clipped > unclipped, ratio


def sequence_log_ratio(logps, old_logps, mask) -> torch.Tensor:
    """GSPO's sequence-level log importance ratio (arXiv 2507.18071, eq. 7), length-normalised:
    log s_i = (1/|y_i|) sum_t (log pi - log pi_old). [B, R] -> [B, 1]."""
    m = mask.to(logps.dtype)
    return (((logps - old_logps) * m).sum(-1) / m.sum(-1).clamp(min=1)).unsqueeze(-1)


def cispo_loss_tokens(logps, old_logps, advantages, eps_low: float, eps_high: float):
    """CISPO (MiniMax-M1, arXiv 2506.13585, eq. 4): -sg(clip(r, 1 - eps_low, 1 + eps_high)) A log pi per
    token: the importance weight is clipped and detached, so every token keeps a gradient (no token is
    dropped as in PPO's clip). Returns (per-token loss, clipped flags, ratio)."""
    ratio = torch.exp(logps - old_logps)
    weight = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high).detach()
    return -weight * advantages * logps, (ratio > 1.0 + eps_high) | (ratio < 1.0 - eps_low), ratio


def group_advantages(scores: torch.Tensor, k: int, scale: str = "group", eps: float = 1e-4,
                     reduce_sum: Callable[[torch.Tensor], torch.Tensor] = local_sum) -> torch.Tensor:
    """R_i - mean(group), divided by the group's std (``group``: GRPO), by the std of the whole batch over
    every process (``batch``: TRL's "batch", PPO Lite) or not at all (``none``: Dr. GRPO, which finds the
    std a question-difficulty bias). Sample std, + eps as TRL. [B] -> [B]."""
    if scale == "group":
        return group_normalized(scores, k, eps)
    g = _groups(scores, k)
    centred = (g - g.mean(-1, keepdim=True)).reshape(-1)
    if scale == "none":
        return centred
    if scale != "batch":
        raise ValueError(f"scale_rewards must be one of {', '.join(SCALE_REWARDS)}, not {scale!r}")
    std = masked_var(scores, torch.ones_like(scores), reduce_sum=reduce_sum).sqrt()
    return centred / (std + eps)


def varying_groups(scores: torch.Tensor, k: int) -> torch.Tensor:
    """[B] -> [B/k] bool: the groups whose rewards are not all equal (DAPO's dynamic sampling keeps
    only these, eq. 11: a group of equal rewards has zero group-relative advantage, so no gradient)."""
    g = _groups(scores, k)
    return g.max(-1).values > g.min(-1).values


def soft_overlong_penalty(lengths: torch.Tensor, max_len: int, buffer: int, factor: float = 1.0) -> torch.Tensor:
    """DAPO's soft overlong punishment (eq. 13): 0 up to L_max - L_cache tokens, then a linear ramp
    ((L_max - L_cache) - |y|) / L_cache down to -1 at L_max, -1 beyond; times ``factor``. [B] -> [B]."""
    start = max_len - buffer
    ramp = (start - lengths.to(torch.float32)) / max(buffer, 1)
    return factor * ramp.clamp(min=-1.0, max=0.0)


def kl_k2(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k2 = (log pi - log pi_ref)^2 / 2 per token (Schulman 2020): low variance, >= 0; its gradient is the
    one of KL(pi || ref) on samples from pi (REINFORCE++-baseline's KL loss)."""
    return 0.5 * (logp - ref_logp) ** 2
