"""Stage: train a reward model on preference pairs (Stiennon et al. 2020; Ouyang et al. 2022).

Top to bottom: pairs -> tokens (drops counted) -> held-out split -> a ``ScalarHeadModel`` made from
the SFT policy -> Bradley-Terry steps (chosen and rejected scored in one concatenated forward, the
reward read at each response's EOS) -> train / held-out pair accuracy -> normalisation so SFT
samples score mean 0, std 1 -> a ``RewardModel`` (feedback) and a summary dict.

Loss: -log sigma(R(x, y_w) - R(x, y_l)); with a soft label p = P(y_w better):
-p log sigma(delta) - (1 - p) log sigma(-delta).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from prefzoo.data.records import PAIRS
from prefzoo.engine.loop import accelerator_for, check_finite, make_optimizer, make_schedule
from prefzoo.engine.tracking import Tracker
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


def bt_loss(chosen: torch.Tensor, rejected: torch.Tensor, p_chosen: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pair Bradley-Terry loss [B]: -log sigma(delta), or with soft labels
    -p log sigma(delta) - (1-p) log sigma(-delta), where delta = R(x, y_w) - R(x, y_l).
    (Written out here rather than imported from ``prefzoo.algos``: importing that package registers
    every algorithm, including those built on this stage.)"""
    delta = chosen - rejected
    if p_chosen is None:
        return -F.logsigmoid(delta)
    return -p_chosen * F.logsigmoid(delta) - (1 - p_chosen) * F.logsigmoid(-delta)


def split_pairs(n: int, eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) positions: a seeded shuffle; at least one pair stays in training."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_eval = min(n - 1, round(n * eval_fraction)) if eval_fraction > 0 else 0
    if eval_fraction > 0 and n >= 2:
        n_eval = max(1, n_eval)
    return sorted(perm[n_eval:]), sorted(perm[:n_eval])


def _rows(batch: list[Encoded]) -> tuple[list[list[int]], list[list[int]]]:
    """One concatenated forward: [all chosen; all rejected]."""
    return [e.prompt for e in batch] * 2, [e.completions[0] for e in batch] + [e.completions[1] for e in batch]


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
        values = rm.values_of_ids(*_rows(chunk), module=module)
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


def _tracker_for(job: Job, enabled: bool) -> tuple[Tracker, bool]:
    """The job's tracker when it writes to this stage's folder, else a metrics.jsonl of our own."""
    if job.tracker is not None and Path(job.tracker.out_dir) == Path(job.out_dir):
        return job.tracker, False
    return Tracker(job.out_dir, "none", enabled=enabled), True


def train_reward_model(job: Job, pairs, cfg: RewardModelConfig | None = None) -> tuple[RewardModel, dict]:
    """Train a reward model from ``job.policy`` (the SFT model, left untouched) on ``pairs`` (a
    datasets.Dataset with prompt, chosen, rejected, optional p_chosen). Returns the normalised
    ``RewardModel`` (eval mode, frozen: a critic made from it deep-copies and unfreezes) and a summary with train/held-out accuracy, offset, scale."""
    cfg = cfg if cfg is not None else RewardModelConfig()
    started = time.time()
    policy = job.policy
    acc = accelerator_for(job.train)
    label = job.label or "reward-model"

    # 1. pairs -> tokens (drops counted), held-out split
    encoded, report = policy.encode(pairs, PAIRS)
    if report.total_dropped and acc.is_main_process:
        print(f"[{label}] data: {report.summary()}")
    if not encoded:
        raise JobError(f"no trainable pairs for the reward model: {report.summary()}")
    train_pos, eval_pos = split_pairs(len(encoded), cfg.eval_fraction, cfg.seed)
    train_set = [encoded[i] for i in train_pos]
    eval_set = [encoded[i] for i in eval_pos]
    soft = any(e.label != 1.0 for e in encoded)

    # 2. the model: SFT backbone (a copy) + small-init scalar head
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        rm = RewardModel.from_policy(policy)
    train_cfg = replace(job.train, lr=cfg.lr)
    steps_per_epoch = -(-len(train_set) // cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    model = rm.module
    model.train()
    optimizer = make_optimizer(model, train_cfg)
    schedule = make_schedule(optimizer, train_cfg, total)
    model, optimizer = acc.prepare(model, optimizer)
    tracker, own_tracker = _tracker_for(job, acc.is_main_process)

    # 3. Bradley-Terry steps
    history: list[dict] = []
    bar = tqdm(total=total, desc=label, disable=not (job.train.progress and acc.is_main_process), leave=False)
    step = 0
    for epoch in range(cfg.epochs):
        g = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
        order = torch.randperm(len(train_set), generator=g).tolist()
        for start in range(0, len(order), cfg.batch_size):
            t0 = time.time()
            ids = order[start: start + cfg.batch_size]
            batch = [train_set[i] for i in ids[acc.process_index:: acc.num_processes]] or [train_set[ids[0]]]
            with acc.autocast():
                values = rm.values_of_ids(*_rows(batch), module=model)
                b = len(batch)
                chosen, rejected = values[:b], values[b:]
                p = torch.tensor([e.label for e in batch], device=values.device) if soft else None
                loss = bt_loss(chosen, rejected, p).mean()
            check_finite(step, "reward-model loss", loss, None)
            acc.backward(loss)
            grad_norm = (acc.clip_grad_norm_(model.parameters(), train_cfg.max_grad_norm)
                         if train_cfg.max_grad_norm > 0 else
                         torch.norm(torch.stack([q.grad.norm() for q in model.parameters() if q.grad is not None])))
            check_finite(step, "reward-model gradient norm", grad_norm, None)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            c, r = chosen.detach(), rejected.detach()
            metrics = {"loss": loss.detach(), "accuracy": (c > r).float().mean(), "margin": (c - r).mean(),
                       "chosen_reward": c.mean(), "rejected_reward": r.mean()}
            if step % max(1, job.train.log_every) == 0 or step == total:
                reduced = {k: acc.reduce(v.float().to(acc.device), reduction="mean").item() for k, v in metrics.items()}
                row = tracker.log(step, {**reduced, "epoch": epoch, "grad_norm": float(grad_norm),
                                         "lr": schedule.get_last_lr()[0], "step_s": time.time() - t0})
                history.append(row)
                bar.set_postfix(loss=f"{reduced['loss']:.4f}")
            bar.update(1)
    bar.close()
    rm.module = acc.unwrap_model(model)
    rm.module.eval().requires_grad_(False)

    # 4. accuracy, normalisation
    train_stats = pair_stats(rm, train_set)
    eval_stats = pair_stats(rm, eval_set)
    norm = _normalise(rm, job, pairs, [e.index for e in train_set], cfg)
    summary = {"heldout_accuracy": eval_stats["accuracy"], "heldout_loss": eval_stats["loss"],
               "heldout_pairs": eval_stats["n"], "train_accuracy": train_stats["accuracy"],
               "train_loss": train_stats["loss"], "train_pairs": train_stats["n"], **norm,
               "steps": total, "data": report.as_dict(), "wall_s": time.time() - started, "history": history}
    final = {"heldout_accuracy": summary["heldout_accuracy"], "train_accuracy": summary["train_accuracy"],
             "offset": rm.offset, "scale": rm.scale}
    if history:
        history[-1].update(final)
    if own_tracker:
        tracker.close()
    return rm, summary


__all__ = ["RewardModelConfig", "train_reward_model", "bt_loss", "pair_stats", "split_pairs"]
