"""The offline loop: any ``Objective`` over a fixed record set, on accelerate.

Top to bottom: encode records (drops counted) -> reference log-probs once (cached on disk) ->
for each optimizer step: micro-batches -> one forward per micro-batch -> objective.loss -> backward
-> clip -> step -> log / checkpoint. Branches on ``data_kind`` and ``needs_reference`` only.
One process or many (``accelerate launch``): each process takes its share of the same global batch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from prefzoo.api import Objective, PairLogps, SeqLogps, UnpairedLogps
from prefzoo.data.records import PAIRS, SFT, UNPAIRED
from prefzoo.engine.loop import (Checkpoints, accelerator_for, check_finite, grad_norm, make_optimizer,
                                 make_schedule, throughput, trim_metrics)
from prefzoo.engine.tracking import Tracker
from prefzoo.job import Job, JobError, TrainResult
from prefzoo.models.policy import Encoded, Policy


def _completion_rows(batch: list[Encoded], kind: str, mismatched: dict[int, list[int]] | None):
    """The (prompt, completion) rows of one forward: pairs as [all chosen; all rejected]; KTO rows
    followed by their mismatched completions; SFT rows as they are."""
    if kind == PAIRS:
        prompts = [e.prompt for e in batch] * 2
        comps = [e.completions[0] for e in batch] + [e.completions[1] for e in batch]
    elif kind == UNPAIRED:
        prompts = [e.prompt for e in batch] * 2
        comps = [e.completions[0] for e in batch] + [mismatched[e.index] for e in batch]
    else:
        prompts = [e.prompt for e in batch]
        comps = [e.completions[0] for e in batch]
    return prompts, comps


def _typed(kind: str, sums: torch.Tensor, lens: torch.Tensor, batch: list[Encoded], soft: bool):
    """Sequence sums -> the objective's typed input."""
    b = len(batch)
    labels = torch.tensor([e.label for e in batch], dtype=sums.dtype, device=sums.device)
    if kind == PAIRS:
        return PairLogps(sums[:b], sums[b:], lens[:b], lens[b:], labels if soft else None)
    if kind == UNPAIRED:
        return UnpairedLogps(sums[:b], lens[:b], labels, sums[b:].detach())
    return SeqLogps(sums, lens)


def _mismatched(encoded: list[Encoded], kind: str, room_of) -> dict[int, list[int]] | None:
    """KTO's KL baseline pairs each prompt with the next record's completion (fixed, so it caches)."""
    if kind != UNPAIRED:
        return None
    n = len(encoded)
    out = {}
    for j, e in enumerate(encoded):
        # the next record whose prompt differs (pairs converted to unpaired sit side by side)
        k = next((i % n for i in range(j + 1, j + n) if encoded[i % n].prompt != e.prompt), (j + 1) % n)
        out[e.index] = encoded[k].completions[0][: room_of(e)]
    return out


def _fingerprint(encoded: list[Encoded], mismatched) -> str:
    h = hashlib.blake2b(digest_size=16)
    for e in encoded:
        h.update(json.dumps([e.prompt, e.completions, (mismatched or {}).get(e.index)]).encode())
    return h.hexdigest()


@torch.no_grad()
def reference_table(policy: Policy, encoded: list[Encoded], kind: str, mismatched, cache_dir: str | None,
                    batch_size: int = 32, write_cache: bool = True) -> dict[int, torch.Tensor]:
    """Reference sequence log-probs for every record, computed once; cached on disk under a key of
    (reference weights hash, tokenized data fingerprint, kind) so reruns and other arms reuse them."""
    key = None
    if cache_dir:
        key = hashlib.blake2b(f"{policy.weights_hash()}|{_fingerprint(encoded, mismatched)}|{kind}".encode(),
                              digest_size=16).hexdigest()
        path = Path(cache_dir) / "reference" / f"{key}.pt"
        if path.exists():
            return torch.load(path)
    table: dict[int, torch.Tensor] = {}
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start: start + batch_size]
        prompts, comps = _completion_rows(chunk, kind, mismatched)
        seqs = policy.sequences(prompts, comps)
        sums = policy.reference_logps(seqs).sum(-1).cpu()
        per = len(prompts) // len(chunk)
        for j, e in enumerate(chunk):
            table[e.index] = torch.stack([sums[j + k * len(chunk)] for k in range(per)])
    policy.release_reference()  # the table replaces the frozen copy: no second model in memory
    if key and write_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(table, tmp)
        tmp.replace(path)
    return table


def train_offline(job: Job, objective: Objective) -> TrainResult:
    train, policy, kind = job.train, job.policy, objective.data_kind
    acc = accelerator_for(train)
    started = time.time()

    # 1. records -> tokens, every drop counted
    encoded, report = policy.encode(job.records(kind), kind)
    if report.total_dropped and acc.is_main_process:
        print(f"[{job.label or objective.name}] data: {report.summary()}")
    if not encoded:
        raise JobError(f"no trainable rows: {report.summary()}. Raise model.max_length or shorten prompts.")
    mismatched = _mismatched(encoded, kind, lambda e: policy.max_length - len(e.prompt))
    soft = kind == PAIRS and any(e.label != 1.0 for e in encoded)

    # 2. reference log-probs, once
    ref_table = None
    if objective.needs_reference and train.precompute_reference:
        ref_table = reference_table(policy, encoded, kind, mismatched, train.cache_dir,
                                    write_cache=acc.is_main_process)
    elif objective.needs_reference:
        with policy.reference_model():  # freeze the reference now, before a resume loads trained weights
            pass

    # 3. optimizer, schedule, data order
    global_batch = train.batch_size * train.grad_accum
    steps_per_epoch = max(1, -(-len(encoded) // global_batch))
    total = train.max_steps or train.epochs * steps_per_epoch
    model = policy.model
    model.train()
    n_params = sum(p.numel() for p in model.parameters())  # N of the MFU estimate (before any sharding)
    bf16 = train.precision == "bf16" or next(model.parameters()).dtype == torch.bfloat16
    optimizer = make_optimizer(model, train)
    schedule = make_schedule(optimizer, train, total)
    model, optimizer = acc.prepare(model, optimizer)
    ckpt = Checkpoints(job.out_dir)
    start_step, last_ckpt, tokens_total = 0, None, 0
    if train.resume and ckpt.latest() is not None:
        state = ckpt.load(acc.unwrap_model(model), optimizer, schedule)
        start_step = last_ckpt = state["step"]
        tokens_total = state["extra"].get("tokens", 0)
        if acc.is_main_process:
            trim_metrics(job.out_dir, start_step)
    tracker = job.tracker or Tracker(job.out_dir, "none", enabled=acc.is_main_process, resume=start_step > 0)
    order_cache: dict[int, list[int]] = {}

    def order(epoch: int) -> list[int]:
        if epoch not in order_cache:
            if train.shuffle:
                g = torch.Generator().manual_seed(job.seed * 100003 + epoch)
                order_cache[epoch] = torch.randperm(len(encoded), generator=g).tolist()
            else:
                order_cache[epoch] = list(range(len(encoded)))
        return order_cache[epoch]

    history: list[dict] = []
    ref_forward = objective.needs_reference and ref_table is None  # a reference forward every step
    bar = tqdm(total=total, initial=start_step, desc=job.label or objective.name,
               disable=not (train.progress and acc.is_main_process), leave=False)
    for step in range(start_step, total):
        t0, tokens_before = time.time(), tokens_total
        epoch, pos = divmod(step, steps_per_epoch)
        idx = order(epoch)[pos * global_batch: (pos + 1) * global_batch]
        micro = [idx[m * train.batch_size:(m + 1) * train.batch_size] for m in range(train.grad_accum)]
        micro = [m for m in micro if m]
        sums: dict[str, torch.Tensor] = {}
        for m_i, m in enumerate(micro):
            batch = [encoded[i] for i in m[acc.process_index:: acc.num_processes]]
            sync = contextlib.nullcontext() if m_i == len(micro) - 1 else acc.no_sync(model)
            with sync, acc.autocast():
                prompts, comps = _completion_rows(batch, kind, mismatched)
                seqs = policy.sequences(prompts, comps)
                tok = policy.forward_logps(seqs, model)
                logp, lens = tok.sum(-1), seqs.loss_mask.sum(-1).to(tok.dtype)
                pol = _typed(kind, logp, lens, batch, soft)
                ref = None
                if objective.needs_reference:
                    if ref_table is not None:
                        ref_sums = torch.cat([torch.stack([ref_table[e.index][k] for e in batch])
                                              for k in range(len(prompts) // len(batch))]).to(logp)
                    else:
                        ref_sums = policy.reference_logps(seqs).sum(-1)
                    ref = _typed(kind, ref_sums, lens, batch, soft)
                out = objective.loss(pol, ref)
                check_finite(step + 1, "loss", out.loss, last_ckpt)  # 1-based, as logged and checkpointed
                acc.backward(out.loss / len(micro))
            all_p, all_c = _completion_rows([encoded[i] for i in m], kind, mismatched)  # every process's rows
            tokens_total += sum(len(a) + len(b) for a, b in zip(all_p, all_c))
            for k, v in {"loss": out.loss.detach(), **out.metrics}.items():
                sums[k] = sums.get(k, 0.0) + v.detach().float() / len(micro)
        norm = grad_norm(acc, model.parameters(), train.max_grad_norm)
        check_finite(step + 1, "gradient norm", norm, last_ckpt)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        if done % train.log_every == 0 or done == total:
            reduced = {k: acc.reduce(v.to(acc.device), reduction="mean").item() for k, v in sums.items()}
            step_s, step_tokens = time.time() - t0, tokens_total - tokens_before
            flops = (6 + 2 * ref_forward) * n_params * step_tokens
            known = {} if norm is None else {"grad_norm": float(norm)}  # DeepSpeed may not report one
            row = tracker.log(done, {**reduced, **known, "lr": schedule.get_last_lr()[0],
                                     "tokens": tokens_total, "step_s": step_s,
                                     **throughput(acc, step_tokens, step_s, flops, bf16)})
            history.append(row)
            bar.set_postfix(loss=f"{reduced['loss']:.4f}")
        bar.update(1)
        if train.checkpoint_every and done % train.checkpoint_every == 0 and done < total:
            ckpt.save_once(acc, done, acc.unwrap_model(model), optimizer, schedule, extra={"tokens": tokens_total})
            last_ckpt = done
    bar.close()
    if job.tracker is None:
        tracker.close()
    policy.model = acc.unwrap_model(model)
    return TrainResult(policy, history, {"data": report.as_dict(), "wall_s": time.time() - started,
                                         "tokens": tokens_total, "steps": total, "processes": acc.num_processes})
