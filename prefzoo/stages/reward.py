"""Stage: train a reward model on preference pairs (Stiennon et al. 2020; Ouyang et al. 2022).

Top to bottom: pairs -> tokens (drops counted) -> held-out split -> the offline loop
(``prefzoo.engine.offline``) with the ``BradleyTerry`` objective, whose ``model_kind = "scalar"``
makes the loop train a ``ScalarHeadModel`` made from the SFT policy (chosen and rejected scored in
one concatenated forward, the reward read at each response's EOS; checkpoints, resume, trackers and
several processes as for any objective) -> train / held-out pair accuracy -> normalisation so SFT
samples score mean 0, std 1 -> a ``RewardModel`` (feedback) and a summary dict.

Loss (Ouyang et al. 2022, eq. 1): -log sigma(R(x, y_w) - R(x, y_l)); with a soft label
p = P(y_w better): -p log sigma(delta) - (1 - p) log sigma(-delta).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from prefzoo.api import PAIRS, LossOutput, Objective, PairLogps, bt_loss
from prefzoo.engine.loop import accelerator_for
from prefzoo.engine.offline import _completion_rows, train_offline
from prefzoo.feedback.reward_model import RewardModel
from prefzoo.job import Job, JobError
from prefzoo.models.policy import Encoded


@dataclass
class RewardModelConfig:
    lr: float = 1e-5                # AdamW step size (Ouyang et al. 2022: ~9e-6 for a 6B RM); tiny models ~1e-3
    epochs: int = 1                 # passes over the training pairs; RMs overfit after ~1 (Ouyang et al. 2022)
    batch_size: int = 8             # pairs per optimizer step (2x rows per forward: chosen + rejected)
    eval_fraction: float = 0.2      # share of pairs held out to report held-out pair accuracy; 0: none
    normalise_on: int = 64          # SFT samples drawn from the policy to set offset/scale; 0: use train pairs' chosen+rejected
    max_new_tokens: int = 32        # length cap of those SFT samples
    seed: int = 0                   # split, data order, head init and normalisation samples

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.normalise_on < 0 or self.max_new_tokens < 1:
            raise ValueError("normalise_on must be >= 0 and max_new_tokens >= 1")


def split_pairs(n: int, eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) positions: a seeded shuffle; at least one pair stays in training."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_eval = min(n - 1, round(n * eval_fraction)) if eval_fraction > 0 else 0
    if eval_fraction > 0 and n >= 2:
        n_eval = max(1, n_eval)
    return sorted(perm[n_eval:]), sorted(perm[:n_eval])


@torch.no_grad()
def pair_stats(rm: RewardModel, pairs: list[Encoded], batch_size: int = 32, module=None) -> dict:
    """Pair accuracy and mean BT loss over encoded pairs. A pair is right when the sign of the reward
    difference agrees with the label (p_chosen > 0.5 favours chosen); pairs labelled exactly 0.5 are
    left out of the accuracy."""
    if not pairs:
        return {"accuracy": float("nan"), "loss": float("nan"), "n": 0}
    module = module if module is not None else rm.module
    was_training = module.training
    module.eval()
    right = counted = 0
    loss_sum = 0.0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start: start + batch_size]
        values = rm.values_of_ids(*_completion_rows(chunk, PAIRS, None), module=module)
        b = len(chunk)
        delta = values[:b] - values[b:]
        p = torch.tensor([e.label for e in chunk], device=delta.device)
        loss_sum += float(bt_loss(values[:b], values[b:], p).sum())
        decided = p != 0.5
        right += int(((delta > 0) == (p > 0.5))[decided].sum())
        counted += int(decided.sum())
    module.train(was_training)
    return {"accuracy": right / counted if counted else float("nan"), "loss": loss_sum / len(pairs),
            "n": len(pairs)}


def _normalise(rm: RewardModel, job: Job, pairs_ds, train_idx: list[int], cfg: RewardModelConfig) -> dict:
    """Offset/scale from SFT samples of ``job.policy`` on the training prompts (or the train pairs)."""
    rows = [pairs_ds[i] for i in train_idx]
    if cfg.normalise_on > 0:
        g = torch.Generator().manual_seed(cfg.seed + 1)
        pick = torch.randint(len(rows), (cfg.normalise_on,), generator=g).tolist() if len(rows) < cfg.normalise_on \
            else torch.randperm(len(rows), generator=g)[: cfg.normalise_on].tolist()
        prompts = [rows[i]["prompt"] for i in pick]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            responses = job.policy.generate(prompts, max_new_tokens=cfg.max_new_tokens, do_sample=True)
        source = f"{len(prompts)} SFT samples"
    else:
        prompts = [r["prompt"] for r in rows] * 2
        responses = [r["chosen"] for r in rows] + [r["rejected"] for r in rows]
        source = f"{len(rows)} training pairs (chosen + rejected)"
    rm.normalise(rm.raw_scores(prompts, responses))
    return {"offset": rm.offset, "scale": rm.scale, "normalised_on": source}


class BradleyTerry(Objective):
    """The reward model's objective (Ouyang et al. 2022, eq. 1; Stiennon et al. 2020, eq. 1): the
    Bradley-Terry loss -log sigma(r_w - r_l) (soft labels: ``soft_sigmoid_loss``) on the scalar head's
    values r_w, r_l [B] (``policy.chosen``, ``policy.rejected``), averaged over the batch."""

    name = "bradley-terry"
    family = "reward"
    data_kind = PAIRS
    needs_reference = False
    model_kind = "scalar"
    summary = "Bradley-Terry loss on a scalar head's rewards"
    paper = "Ouyang et al. 2022 / Stiennon et al. 2020"

    def loss(self, policy: PairLogps, reference=None) -> LossOutput:
        per = bt_loss(policy.chosen, policy.rejected, policy.p_chosen)
        c, r = policy.chosen.detach(), policy.rejected.detach()
        return LossOutput(per.mean(), per.detach(), {"accuracy": (c > r).float().mean(), "margin": (c - r).mean(),
                                                     "chosen_reward": c.mean(), "rejected_reward": r.mean()})


def loop_job(job: Job, cfg: RewardModelConfig) -> Job:
    """The job the offline loop runs: the recipe's ``train`` section (betas, weight decay, clipping,
    schedule, precision, logging, checkpoints, resume) with this stage's lr, batch size and epochs, one
    micro-batch per step, shuffled with ``cfg.seed``. The job's tracker is used only when it writes to
    this stage's folder; otherwise the loop writes a metrics.jsonl of its own there."""
    train = replace(job.train, lr=cfg.lr, batch_size=cfg.batch_size, grad_accum=1, epochs=cfg.epochs,
                    max_steps=None, shuffle=True)
    own = job.tracker is not None and Path(job.tracker.out_dir) == Path(job.out_dir)
    return replace(job, train=train, seed=cfg.seed, tracker=job.tracker if own else None,
                   label=job.label or "reward-model")


def train_reward_model(job: Job, pairs, cfg: RewardModelConfig | None = None,
                       objective: Objective | None = None) -> tuple[RewardModel, dict]:
    """Train a reward model from ``job.policy`` (the SFT model, left untouched) on ``pairs`` (a
    datasets.Dataset with prompt, chosen, rejected, optional p_chosen) with ``objective`` (default
    ``BradleyTerry``; any scalar objective over pairs). Returns the normalised ``RewardModel`` (eval
    mode, frozen: a critic made from it deep-copies and unfreezes) and a summary with train/held-out
    accuracy, offset, scale and the logged ``history``."""
    cfg = cfg if cfg is not None else RewardModelConfig()
    objective = objective if objective is not None else BradleyTerry()
    started = time.time()
    run_job = loop_job(job, cfg)

    # 1. pairs -> tokens (drops counted), held-out split
    encoded, report = job.policy.encode(pairs, PAIRS)
    if report.total_dropped and accelerator_for(job.train).is_main_process:
        print(f"[{run_job.label}] data: {report.summary()}")
    if not encoded:
        raise JobError(f"no trainable pairs for the reward model: {report.summary()}")
    train_pos, eval_pos = split_pairs(len(encoded), cfg.eval_fraction, cfg.seed)
    train_set = [encoded[i] for i in train_pos]
    eval_set = [encoded[i] for i in eval_pos]

    # 2. the offline loop on the training pairs: a scalar head over a copy of the SFT backbone
    result = train_offline(run_job, objective, tokenized=(train_set, report))
    rm = result.artifacts["reward_model"]
    rm.module.eval().requires_grad_(False)

    # 3. accuracy, normalisation
    train_stats = pair_stats(rm, train_set)
    eval_stats = pair_stats(rm, eval_set)
    norm = _normalise(rm, job, pairs, [e.index for e in train_set], cfg)
    history = result.history
    summary = {"heldout_accuracy": eval_stats["accuracy"], "heldout_loss": eval_stats["loss"],
               "heldout_pairs": eval_stats["n"], "train_accuracy": train_stats["accuracy"],
               "train_loss": train_stats["loss"], "train_pairs": train_stats["n"], **norm,
               "steps": result.info["steps"], "processes": result.info["processes"], "data": report.as_dict(),
               "wall_s": time.time() - started, "history": history}
    if history:
        history[-1].update({"heldout_accuracy": summary["heldout_accuracy"],
                            "train_accuracy": summary["train_accuracy"], "offset": rm.offset, "scale": rm.scale})
    return rm, summary


__all__ = ["RewardModelConfig", "BradleyTerry", "train_reward_model", "bt_loss", "pair_stats", "split_pairs",
           "loop_job"]
