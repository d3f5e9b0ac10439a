"""The offline loop: any ``Objective`` over a fixed record set, on accelerate.

Phases, top to bottom: ``encode`` (records -> tokens, drops counted) -> ``reference`` (log-probs once,
cached on disk) -> ``prepare`` (the trained model, optimizer, schedule; resume from a checkpoint) ->
``step`` per optimizer step (micro-batches -> one forward each -> objective.loss -> backward -> clip ->
step -> log / checkpoint). Branches on capabilities only: ``data_kind``, ``needs_reference`` and
``model_kind`` ("policy": the language model, inputs are summed log-probs; "scalar": a scalar-head
model made from the policy, e.g. a reward model, inputs are its values at each completion's EOS).
One process or many (``accelerate launch``): each process takes its share of the same global batch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from prefzoo.api import Objective, PairLogps, SeqLogps, UnpairedLogps
from prefzoo.data.records import PAIRS, UNPAIRED
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


@contextlib.contextmanager
def _sum_sq_probs_of(model, loss_mask: torch.Tensor, out: list):
    """While open, each forward of ``model`` appends to ``out`` the per-row sum over completion tokens of
    log sum_v pi(v | prefix)^2 (no grad), read from its logits as they come out, one row at a time so no
    second [B, T, V] tensor is held; positions aligned as ``Policy.forward_logps`` aligns them."""
    def hook(_module, _args, output):
        with torch.no_grad():
            logits = output.logits.detach()
            mask = loss_mask[:, loss_mask.shape[1] - logits.shape[1] + 1:]  # position t scores token t+1
            rows = [torch.logsumexp(2 * (x.float() if x.dtype in (torch.bfloat16, torch.float16) else x)
                                    .log_softmax(-1), -1) for x in logits[:, :-1]]
            out.append((torch.stack(rows) * mask).sum(-1))

    handle = model.register_forward_hook(hook)
    try:
        yield out
    finally:
        handle.remove()


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
                    batch_size: int = 32, write_cache: bool = True, precision: str = "fp32",
                    length_groups: int | None = None) -> dict[int, torch.Tensor]:
    """Reference sequence log-probs for every record, computed once; cached on disk under a key of
    (reference weights hash, tokenized data fingerprint, kind, and the precision when not fp32) so reruns
    and other arms reuse them. The caller runs it under the policy's autocast: a bf16 run's reference is
    scored in bf16 like its policy, so the implicit reward starts at 0 (step-0 DPO loss ln 2). ``length_groups``
    (``train.length_groups``): each batch in forwards of neighbouring lengths, keyed apart (floats differ by
    rounding)."""
    key = None
    if cache_dir:
        tag = "" if precision == "fp32" else f"|{precision}"  # fp32 keys as before: existing caches stay valid
        tag += f"|groups{length_groups}" if length_groups and length_groups > 1 else ""
        key = hashlib.blake2b(f"{policy.weights_hash()}|{_fingerprint(encoded, mismatched)}|{kind}{tag}".encode(),
                              digest_size=16).hexdigest()
        path = Path(cache_dir) / "reference" / f"{key}.pt"
        if path.exists():
            return torch.load(path, weights_only=True)
    table: dict[int, torch.Tensor] = {}
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start: start + batch_size]
        prompts, comps = _completion_rows(chunk, kind, mismatched)
        sums = policy.completion_logp_sums(prompts, comps, groups=length_groups, reference=True)[0].cpu()
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


# ----------------------------------------------------------------------------- phase 1: encode
@dataclass
class Encoding:
    """The tokenized records and what a forward needs to lay them out."""

    encoded: list[Encoded]
    report: Any                                  # prefzoo.data.records.DropReport
    kind: str
    mismatched: dict[int, list[int]] | None      # KTO's KL-baseline completions
    soft: bool                                   # pairs carry soft labels


def encode(job: Job, objective: Objective, acc, tokenized=None) -> Encoding:
    """Records of the objective's kind -> tokens, every drop counted. ``tokenized``: (encoded, report)
    made by a stage that tokenized and split the records itself (the reward model's held-out pairs)."""
    kind, policy = objective.data_kind, job.policy
    if objective.model_kind == "scalar" and (kind != PAIRS or objective.needs_reference):
        raise JobError(f"{objective.name or type(objective).__name__}: a scalar objective trains on pairs "
                       f"and has no reference (data_kind {kind!r}, needs_reference {objective.needs_reference})")
    if tokenized is None:
        encoded, report = policy.encode(job.records(kind), kind)
        if report.total_dropped and acc.is_main_process:
            print(f"[{job.label or objective.name}] data: {report.summary()}")
    else:
        encoded, report = tokenized
    if not encoded:
        raise JobError(f"no trainable rows: {report.summary()}. Raise model.max_length or shorten prompts.")
    mismatched = _mismatched(encoded, kind, lambda e: policy.max_length - len(e.prompt))
    soft = kind == PAIRS and any(e.label != 1.0 for e in encoded)
    return Encoding(encoded, report, kind, mismatched, soft)


# ----------------------------------------------------------------------------- phase 2: reference
def reference(job: Job, objective: Objective, data: Encoding, acc) -> dict[int, torch.Tensor] | None:
    """The reference's sequence log-probs, once (None: none needed, or computed live each step)."""
    if not objective.needs_reference:
        return None
    if job.train.precompute_reference:
        with acc.autocast():  # the precision of the policy's forward (a no-op in fp32)
            return reference_table(job.policy, data.encoded, data.kind, data.mismatched, job.train.cache_dir,
                                   write_cache=acc.is_main_process, precision=job.train.precision,
                                   length_groups=job.train.length_groups)
    with job.policy.reference_model():  # freeze the reference now, before a resume loads trained weights
        pass
    return None


# ----------------------------------------------------------------------------- the trained model
class PolicyForward:
    """model_kind "policy": the language model itself; the loss sees summed completion log-probs of the
    policy and of the reference (from the table, or a live forward each step)."""

    def __init__(self, policy: Policy, objective: Objective, ref_table, groups: int | None = None):
        self.policy, self.needs_reference, self.ref_table = policy, objective.needs_reference, ref_table
        self.groups = groups  # train.length_groups
        self.module = policy.model
        self.forward_only = self.needs_reference and ref_table is None  # an extra forward per step (FLOPs)
        self.sum_sq = objective.needs_sum_sq_probs
        if self.sum_sq and objective.data_kind != PAIRS:
            raise JobError(f"{objective.name}: needs_sum_sq_probs is for pairs, not {objective.data_kind!r}")

    def inputs(self, model, batch: list[Encoded], data: Encoding):
        prompts, comps = _completion_rows(batch, data.kind, data.mismatched)
        if self.sum_sq:  # its hook reads the one forward's logits
            seqs = self.policy.sequences(prompts, comps)
            sq: list[torch.Tensor] = []
            with _sum_sq_probs_of(model, seqs.loss_mask, sq):
                tok = self.policy.forward_logps(seqs, model)
            logp, lens = tok.sum(-1), seqs.loss_mask.sum(-1).to(tok.dtype)
        else:
            logp, lens = self.policy.completion_logp_sums(prompts, comps, model, groups=self.groups)
        pol = _typed(data.kind, logp, lens, batch, data.soft)
        if self.sum_sq:
            pol.log_sum_sq_probs = _typed(PAIRS, sq[0].to(logp), lens, batch, False)
        if not self.needs_reference:
            return pol, None
        if self.ref_table is not None:
            ref_sums = torch.cat([torch.stack([self.ref_table[e.index][k] for e in batch])
                                  for k in range(len(prompts) // len(batch))]).to(logp)
        else:
            ref_sums = self.policy.completion_logp_sums(prompts, comps, groups=self.groups, reference=True)[0]
        return pol, _typed(data.kind, ref_sums, lens, batch, data.soft)

    def finish(self, module) -> dict:
        self.policy.model = module
        return {}


class ScalarForward:
    """model_kind "scalar": a ``ScalarHeadModel`` (a copy of the policy's backbone + Linear(hidden, 1),
    the head drawn under ``seed`` without touching the global RNG); the policy is left untouched. The
    loss sees ``PairLogps`` whose chosen/rejected hold the values at each completion's EOS (Ouyang et
    al. 2022, sec. 3.5) and whose lengths are the completions' token counts."""

    forward_only = False

    def __init__(self, policy: Policy, seed: int):
        from prefzoo.feedback.reward_model import RewardModel  # a feedback type: loaded only when used

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.rm = RewardModel.from_policy(policy)
        self.module = self.rm.module

    def inputs(self, model, batch: list[Encoded], data: Encoding):
        prompts, comps = _completion_rows(batch, PAIRS, None)
        values = self.rm.values_of_ids(prompts, comps, module=model)
        lens = torch.tensor([len(c) for c in comps], dtype=values.dtype, device=values.device)
        return _typed(PAIRS, values, lens, batch, data.soft), None

    def finish(self, module) -> dict:
        self.rm.module = module
        return {"reward_model": self.rm}


# ----------------------------------------------------------------------------- phase 3: prepare
@dataclass
class Run:
    """Everything the step phase reads and updates."""

    model: Any
    optimizer: Any
    schedule: Any
    tracker: Any
    ckpt: Checkpoints
    total: int
    steps_per_epoch: int
    global_batch: int
    n_params: int                      # N of the MFU estimate (before any sharding)
    bf16: bool
    start_step: int = 0
    last_ckpt: int | None = None
    tokens: int = 0
    orders: dict[int, list[int]] = field(default_factory=dict)

    def order(self, epoch: int, n: int, seed: int, shuffle: bool) -> list[int]:
        """Epoch ``epoch``'s row order: a permutation keyed by (seed, epoch), so a resumed run and any
        number of processes see the same one."""
        if epoch not in self.orders:
            g = torch.Generator().manual_seed(seed * 100003 + epoch)
            self.orders[epoch] = torch.randperm(n, generator=g).tolist() if shuffle else list(range(n))
        return self.orders[epoch]


def prepare(job: Job, module, n_rows: int, acc) -> Run:
    """The optimizer and schedule over ``module``, wrapped by accelerate; resumed from the newest
    checkpoint when ``train.resume`` (weights, optimizer, schedule, RNG; metrics after it trimmed)."""
    train = job.train
    global_batch = train.batch_size * train.grad_accum
    steps_per_epoch = max(1, -(-n_rows // global_batch))
    total = train.max_steps or train.epochs * steps_per_epoch
    module.train()
    n_params = sum(p.numel() for p in module.parameters())
    bf16 = train.precision == "bf16" or next(module.parameters()).dtype == torch.bfloat16
    optimizer = make_optimizer(module, train)
    schedule = make_schedule(optimizer, train, total)
    model, optimizer = acc.prepare(module, optimizer)
    run = Run(model, optimizer, schedule, None, Checkpoints(job.out_dir), total, steps_per_epoch, global_batch,
              n_params, bf16)
    if train.resume and run.ckpt.latest() is not None:
        state = run.ckpt.load(acc.unwrap_model(model), optimizer, schedule)
        run.start_step = run.last_ckpt = state["step"]
        run.tokens = state["extra"].get("tokens", 0)
        if acc.is_main_process:
            trim_metrics(job.out_dir, run.start_step)
    run.tracker = job.tracker or Tracker(job.out_dir, "none", enabled=acc.is_main_process,
                                         resume=run.start_step > 0)
    return run


# ----------------------------------------------------------------------------- phase 4: step
def _local(batch_ids: list[int], acc) -> list[int]:
    """This process's share of a micro-batch; a process left without a row repeats the first one
    (every process must take part in the backward's gradient sync)."""
    return batch_ids[acc.process_index:: acc.num_processes] or batch_ids[:1]


def step(job: Job, objective: Objective, fwd, data: Encoding, run: Run, acc, step_i: int) -> dict | None:
    """One optimizer step (0-based ``step_i``): its micro-batches forward and backward, clip, step;
    returns the logged row (None when this step is not logged); checkpoints when due."""
    train, t0, tokens_before = job.train, time.time(), run.tokens
    epoch, pos = divmod(step_i, run.steps_per_epoch)
    idx = run.order(epoch, len(data.encoded), job.seed, train.shuffle)[pos * run.global_batch:
                                                                       (pos + 1) * run.global_batch]
    micro = [m for m in (idx[i * train.batch_size:(i + 1) * train.batch_size] for i in range(train.grad_accum)) if m]
    sums: dict[str, torch.Tensor] = {}
    for m_i, m in enumerate(micro):
        batch = [data.encoded[i] for i in _local(m, acc)]
        sync = contextlib.nullcontext() if m_i == len(micro) - 1 else acc.no_sync(run.model)
        with sync, acc.autocast():
            out = objective.loss(*fwd.inputs(run.model, batch, data))
            check_finite(step_i + 1, "loss", out.loss, run.last_ckpt)  # 1-based, as logged and checkpointed
            acc.backward(out.loss / len(micro))
        all_p, all_c = _completion_rows([data.encoded[i] for i in m], data.kind, data.mismatched)  # all processes
        run.tokens += sum(len(a) + len(b) for a, b in zip(all_p, all_c))
        for k, v in {"loss": out.loss.detach(), **out.metrics}.items():
            sums[k] = sums.get(k, 0.0) + v.detach().float() / len(micro)
    norm = grad_norm(acc, run.model.parameters(), train.max_grad_norm)
    check_finite(step_i + 1, "gradient norm", norm, run.last_ckpt)
    run.optimizer.step()
    run.schedule.step()
    run.optimizer.zero_grad(set_to_none=True)
    done, row = step_i + 1, None
    if done % train.log_every == 0 or done == run.total:
        reduced = {k: acc.reduce(v.to(acc.device), reduction="mean").item() for k, v in sums.items()}
        step_s, step_tokens = time.time() - t0, run.tokens - tokens_before
        flops = (6 + 2 * fwd.forward_only) * run.n_params * step_tokens
        known = {} if norm is None else {"grad_norm": float(norm)}  # DeepSpeed may not report one
        row = run.tracker.log(done, {**reduced, **known, "epoch": epoch, "lr": run.schedule.get_last_lr()[0],
                                     "tokens": run.tokens, "step_s": step_s,
                                     **throughput(acc, step_tokens, step_s, flops, run.bf16)})
    if (train.checkpoint_every and done % train.checkpoint_every == 0) or done == run.total:  # 0: only the end
        run.ckpt.save_once(acc, done, acc.unwrap_model(run.model), run.optimizer, run.schedule,
                           extra={"tokens": run.tokens})
        run.last_ckpt = done
    return row


# ----------------------------------------------------------------------------- the loop
def train_offline(job: Job, objective: Objective, tokenized=None) -> TrainResult:
    """Train with ``objective`` on ``job``'s records (or on ``tokenized`` = (encoded, report)).
    model_kind "policy" trains ``job.policy`` in place; "scalar" trains a scalar-head model made from it,
    returned as ``artifacts["reward_model"]`` (a ``RewardModel``, unnormalised)."""
    acc = accelerator_for(job.train)
    groups = job.train.length_groups
    if groups and groups > 1 and acc.num_processes > 1:  # DDP, FSDP and ZeRO expect one forward per backward
        raise JobError(f"train.length_groups={groups} runs several forwards before one backward, which "
                       f"distributed training over {acc.num_processes} processes does not allow: leave it unset")
    started = time.time()
    data = encode(job, objective, acc, tokenized)
    if objective.model_kind == "scalar":
        fwd = ScalarForward(job.policy, job.seed)
    else:
        fwd = PolicyForward(job.policy, objective, reference(job, objective, data, acc), groups)
    run = prepare(job, fwd.module, len(data.encoded), acc)
    history: list[dict] = []
    bar = tqdm(total=run.total, initial=run.start_step, desc=job.label or objective.name,
               disable=not (job.train.progress and acc.is_main_process), leave=False)
    for step_i in range(run.start_step, run.total):
        row = step(job, objective, fwd, data, run, acc, step_i)
        if row is not None:
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4f}")
        bar.update(1)
    bar.close()
    if job.tracker is None:
        run.tracker.close()
    artifacts = fwd.finish(acc.unwrap_model(run.model))
    return TrainResult(job.policy, history, {"data": data.report.as_dict(), "wall_s": time.time() - started,
                                             "tokens": run.tokens, "steps": run.total,
                                             "processes": acc.num_processes}, artifacts)
