"""The online loop's supporting pieces: prompt encoding and order, the KL controller, the critic, the
rollout backend, the minibatch plan and the per-step accounting. The loop itself is ``online.py``."""
from __future__ import annotations

import time
from typing import Any

import torch

from prefzoo.api import OnlineConfig, masked_mean
from prefzoo.data.records import DropReport
from prefzoo.engine.loop import throughput
from prefzoo.engine.rollout import Rollout, response_logps
from prefzoo.ops import explained_variance

PROMPT_OVER_LIMIT = "prompt longer than max_prompt_length"


class KLController:
    """Fixed beta, or the adaptive controller of Ziegler et al. 2019 (sec. 2.2):
    e = clip(KL / target - 1, -0.2, 0.2); beta <- beta * (1 + e * n / horizon)."""

    def __init__(self, beta: float, target: float | None = None, horizon: int = 10000):
        self.value, self.target, self.horizon = beta, target, horizon

    def update(self, kl: float, n: int) -> None:
        if self.target is not None:
            err = min(max(kl / self.target - 1.0, -0.2), 0.2)
            self.value *= 1.0 + err * n / self.horizon


def apply_no_eos_penalty(scores: torch.Tensor, eos: torch.Tensor, penalty: float | None) -> torch.Tensor:
    """A response cut before EOS gets the fixed ``penalty`` as its score (Huang et al. 2024, detail 4);
    responses that ended properly keep theirs. ``eos``: [B] bool, True where the response has its EOS."""
    if penalty is None:
        return scores
    return torch.where(eos.to(scores.device), scores, torch.full_like(scores, penalty))


def encode_prompts(policy, records, limit: int) -> tuple[list[Any], list[list[int]], DropReport]:
    """Every prompt tokenized once; prompts over ``limit`` tokens dropped and counted."""
    report, prompts, ids = DropReport(), [], []
    for i, row in enumerate(records):
        e = policy.encode_prompt(row["prompt"])
        if len(e) > limit:
            report.drop(PROMPT_OVER_LIMIT, i)
            continue
        prompts.append(row["prompt"])
        ids.append(e)
    report.kept = len(prompts)
    return prompts, ids, report


def critic_values(critic, ro: Rollout) -> torch.Tensor:
    """V(state before each response token) [B, R]: the critic's value at the previous position, run
    with the rollout's position ids (left padding) like the policy. Called through the module itself
    (not its parts), so a DDP-wrapped critic synchronises its gradients."""
    P, R = ro.prompt_width, ro.response_mask.shape[1]
    values = critic(ro.input_ids, ro.attention_mask, ro.position_ids)
    return values[:, P - 1: P - 1 + R] * ro.response_mask


def make_critic(policy, reward):
    """The value model: a copy of the reward model's network when the reward is one (Huang et al. 2024),
    else the policy's backbone with a zero head."""
    import copy

    from prefzoo.feedback.reward_model import ScalarHeadModel

    module = getattr(reward, "module", None)
    if isinstance(module, ScalarHeadModel):
        critic = copy.deepcopy(module).to(policy.device)
    else:
        critic = ScalarHeadModel.from_policy(policy, zero_head=True)
    for m in critic.modules():  # dropout off in every model
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return critic.requires_grad_(True).train()


def _draw_seed(seed: int, step: int) -> int:
    """The sampler's seed for one step: fixed by (run seed, step), so a resumed run and a run on any
    number of processes draw the same responses."""
    return (seed * 1_000_003 + step) * 7919 + 17


def _rows_of(process: int, processes: int, prompts_here: int, k: int) -> list[int]:
    """Global row indices of this process's rows: it takes every ``processes``-th prompt of the step
    (``order[process::processes]``), and each prompt has ``k`` rows, group-major."""
    return [(process + j * processes) * k + r for j in range(prompts_here) for r in range(k)]


def rollout_engine(cfg: OnlineConfig, policy, sharded: str | None):
    """(backend name, vLLM engine or None, note). ``vllm`` falls back to ``loop`` when it cannot run,
    and says why; the choice goes to the log and the run's info."""
    if cfg.rollout_backend != "vllm":
        return cfg.rollout_backend, None, ""
    from prefzoo.engine.vllm_backend import VLLMRollout, vllm_unavailable_reason

    why = vllm_unavailable_reason()
    if why is None and sharded:  # its weight sync reads whole tensors
        why = f"the weight sync needs full parameters and {sharded} shards them"
    if why:
        return "loop", None, f"vllm requested but unavailable ({why}); generating with the loop backend"
    return "vllm", VLLMRollout(policy, **cfg.vllm), ""


def _prompt_order(n: int, seed: int, step: int, per_step: int) -> list[int]:
    """Indices of the prompts for ``step``: a seeded permutation per pass over the prompt set."""
    out, pos = [], step * per_step
    while len(out) < per_step:
        epoch, offset = divmod(pos, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
        take = perm[offset: offset + per_step - len(out)]
        out.extend(take)
        pos += len(take)
    return out


REFILL_SEED_STRIDE = 104729  # a refill round's draws: the step's seed + this * round (a prime, not 7919's multiple)


def _refill_order(n: int, seed: int, step: int, round_: int, per_step: int) -> list[int]:
    """The prompts of refill round ``round_`` >= 1 of ``step`` (dynamic sampling): a permutation keyed by
    (seed, step, round), cycled when the prompt set is smaller than a step."""
    g = torch.Generator().manual_seed(((seed * 1_000_003 + step) * 7919 + round_) * 131 + 7)
    perm = torch.randperm(n, generator=g).tolist()
    return [perm[i % n] for i in range(per_step)]


def _pad_to(t: torch.Tensor, left: int, right: int, value=0) -> torch.Tensor:
    return torch.nn.functional.pad(t, (left, right), value=value) if left or right else t


def concat_rollouts(parts: list[Rollout]) -> Rollout:
    """Rollouts stacked row-wise, re-padded to the widest prompt (left) and response (right) block."""
    if len(parts) == 1:
        return parts[0]
    P = max(p.prompt_width for p in parts)
    R = max(p.response_mask.shape[1] for p in parts)
    cols: dict[str, list] = {f: [] for f in ("input_ids", "attention_mask", "position_ids")}
    for p in parts:
        left, right = P - p.prompt_width, R - p.response_mask.shape[1]
        pad = int(p.input_ids[p.attention_mask == 0][0]) if bool((p.attention_mask == 0).any()) else 0
        cols["input_ids"].append(_pad_to(p.input_ids, left, right, pad))
        cols["attention_mask"].append(_pad_to(p.attention_mask, left, right))
        cols["position_ids"].append(_pad_to(p.position_ids, left, right))
    out = {f: torch.cat(v) for f, v in cols.items()}
    for f in ("response_mask", "sampler_logps", "entropy"):
        vals = [getattr(p, f) for p in parts]
        out[f] = None if any(v is None for v in vals) else torch.cat(
            [_pad_to(v, 0, R - v.shape[1]) for v in vals])
    lists = {f: [x for p in parts for x in getattr(p, f)] for f in ("prompts", "prompt_ids", "response_ids", "texts")}
    return Rollout(**lists, **out, eos=torch.cat([p.eos for p in parts]))


def minibatch_logps(model, mb: Rollout, extra: Rollout | None, temperature: float, share_prompts: bool = False):
    """(per-token log-probs of ``mb`` [B, R], of ``extra`` [B', R'] or None) from ONE forward of the
    prepared ``model`` over both (re-padded together), so a wrapped model sees one forward per backward.
    Without ``extra`` it is exactly ``response_logps(model, mb, temperature, share_prompts)``."""
    if extra is None:
        return response_logps(model, mb, temperature, share_prompts), None
    both = response_logps(model, concat_rollouts([mb, extra]), temperature, share_prompts)
    B, R, R2 = len(mb), mb.response_mask.shape[1], extra.response_mask.shape[1]
    return both[:B, :R], both[B:, :R2]


def assemble_groups(parts: list, k: int):
    """The batch from refill rounds ``parts`` [(Rollout, Scores, keep [groups] bool)], all over the same
    slots: slot j takes its group from the first round that kept it, else from round 0 (a filler). Rows
    stay in slot order (the minibatch plan's layout). Returns the rollout, its Scores and this process's
    counts: groups sampled, groups kept (of those sampled), slots filled with a dropped group."""
    from prefzoo.api import Scores  # the engine's view of the phase types

    n = len(parts[0][2])
    src = [next((i for i, (_, _, keep) in enumerate(parts) if keep[j]), 0) for j in range(n)]
    pieces, at, offset = [], {}, 0
    for i, (ro, fb, _) in enumerate(parts):
        slots = [j for j in range(n) if src[j] == i]
        if slots:
            rows = [j * k + r for j in slots for r in range(k)]
            pieces.append((ro.select(rows), fb, torch.as_tensor(rows, device=fb.scores.device)))
            at.update({j: offset + m * k for m, j in enumerate(slots)})
            offset += len(rows)
    perm = [at[j] + r for j in range(n) for r in range(k)]  # concatenated rows -> slot order
    merged = {}
    for name in ("scores", "labels", "baseline", "train_rows"):
        vals = [getattr(fb, name) for _, fb, _ in pieces]
        if any(v is None for v in vals):
            merged[name] = None
            continue
        order = torch.as_tensor(perm, device=vals[0].device)
        if name == "labels":  # one label per pair of rows (2i, 2i+1)
            merged[name] = torch.cat([v[t[::2] // 2] for v, (_, _, t) in zip(vals, pieces)])[order[::2] // 2]
        else:
            merged[name] = torch.cat([v[t] for v, (_, _, t) in zip(vals, pieces)])[order]
    ro = concat_rollouts([p[0] for p in pieces])
    counts = [n * len(parts), sum(int(keep.sum()) for _, _, keep in parts),
              sum(not any(bool(keep[j]) for _, _, keep in parts) for j in range(n))]
    return (ro if perm == list(range(len(perm))) else ro.select(perm)), Scores(**merged), counts


def loss_mask(response_mask: torch.Tensor, train_rows: torch.Tensor | None, r: torch.Tensor):
    """The minibatch's loss mask [B, R] and its training row count: the response tokens, less the rows
    the feedback left out of the loss (``Scores.train_rows``)."""
    if train_rows is None:
        return response_mask, torch.tensor(float(response_mask.shape[0]), device=response_mask.device)
    keep = train_rows[r].to(response_mask.device)
    return response_mask * keep.unsqueeze(-1).to(response_mask.dtype), keep.float().sum()


def minibatch_rows(n_prompts: int, k: int, minibatches: int, seed: int, step: int, epoch: int, process: int,
                   processes: int) -> list[list[int]]:
    """This process's local rows of each minibatch of one epoch. The step's prompts (global positions
    0..n_prompts-1) are shuffled by a permutation keyed by (seed, step, epoch) and dealt into
    ``minibatches`` chunks of whole prompt groups, so the minibatches are the same sets on any number of
    processes; each process takes the groups it sampled (positions ``process::processes``, local group
    ``position // processes``). A process can hold no group of a minibatch: its list is then empty."""
    g = torch.Generator().manual_seed(((seed * 1_000_003 + step) * 7919 + epoch) * 31 + 5)
    perm = torch.randperm(n_prompts, generator=g).tolist()
    out = []
    for chunk in (perm[i::minibatches] for i in range(minibatches)):
        local = sorted(pos // processes for pos in chunk if pos % processes == process)
        out.append([j * k + r for j in local for r in range(k)])
    return out


class StepClock:
    """Where a step's time goes: generation (sampling, and any greedy decode), scoring, training."""

    def __init__(self):
        self.t0 = time.time()
        self.generate_s = self.score_s = self.train_s = 0.0
        self.tokens = self.greedy_tokens = 0.0  # prompt + response tokens decoded on this process

    def timed(self, what: str):
        clock = self

        class _Span:
            def __enter__(self):
                self.start = time.time()

            def __exit__(self, *exc):
                setattr(clock, f"{what}_s", getattr(clock, f"{what}_s") + time.time() - self.start)

        return _Span()


def step_row(acc, cfg, clock: StepClock, sums: dict, n_updates: int, ro: Rollout, fb, adv, kl_seq,
             old_values, reduce_sum, n_policy: int, n_critic: int, bf16: bool, reference: bool = True,
             recomputed: bool = False) -> dict:
    """The logged metrics of one step, averaged over processes, with throughput and time shares.
    Model FLOPs: the policy's forward for generation (and any greedy decode), reference (where one ran:
    ``reference``) and recomputed old log-probs (where they were: ``recomputed``), 6 N per trained token per epoch; the critic likewise (the
    reward model is not counted)."""
    P, mask = acc.num_processes, ro.response_mask
    step_metrics = {key: v / max(1, n_updates) for key, v in sums.items()}
    if fb.labels is None:
        all_scores = acc.gather(fb.scores.float())
        step_metrics.update(reward_mean=all_scores.mean(), reward_std=all_scores.std(correction=0))
    tokens_all = acc.reduce(mask.sum(), reduction="sum") / P  # token means over every process's rows
    step_metrics.update(kl=kl_seq.mean(), response_length=ro.lengths.mean(), eos_fraction=ro.eos.float().mean(),
                        advantage_mean=masked_mean(adv.advantages, mask, denom=tokens_all))
    if ro.entropy is not None:  # not reported by the vLLM backend
        step_metrics["entropy"] = masked_mean(ro.entropy, mask, denom=tokens_all)
    if fb.labels is not None:
        step_metrics["preference_mean"] = fb.labels.mean()
    if fb.baseline is not None:
        step_metrics["baseline_reward_mean"] = fb.baseline.mean()
    if old_values is not None and adv.returns is not None:
        step_metrics["explained_variance"] = explained_variance(old_values, adv.returns, mask, reduce_sum)
    reduced = {key: acc.reduce(torch.as_tensor(v, dtype=torch.float32, device=mask.device).reshape(()),
                               reduction="mean").item() for key, v in step_metrics.items()}
    counts = torch.tensor([clock.tokens, clock.greedy_tokens], dtype=torch.float64, device=mask.device)
    tok, greedy_tok = acc.reduce(counts, reduction="sum").tolist()
    flops = (n_policy * (6 * cfg.epochs * tok + 2 * ((1 + reference + recomputed) * tok + greedy_tok))
             + n_critic * (6 * cfg.epochs + 2) * tok)
    step_s = time.time() - clock.t0
    return {**reduced, "step_s": step_s, "generate_s": clock.generate_s, "score_s": clock.score_s,
            "train_s": clock.train_s, "generate_share": clock.generate_s / step_s,
            "score_share": clock.score_s / step_s, "train_share": clock.train_s / step_s,
            **throughput(acc, tok, step_s, flops, bf16)}
