"""The online loop: one loop for every on-policy algorithm (ppo, rloo, grpo, remax, online-dpo, ...).

Per step, four phases (CleanRL's shape), each calling the algorithm's hook (``prefzoo.api.OnlineAlgorithm``):

    collect    this process's prompts of the step, k samples each (KV-cache decoder, seeded draws)
    feedback   algo.feedback: scores of the responses (or preferences, or a baseline decode); where
               algo.keep_groups drops groups (DAPO's dynamic sampling), more collect + feedback rounds
               of fresh prompts refill the batch, at most algo.max_sampling_rounds (``collect_groups``)
    prepare    reference and old log-probs, critic values, KL per token; algo.rewards; algo.advantages
    update     epochs x minibatches of whole prompt groups (a permutation keyed by seed, step, epoch);
               algo.loss per minibatch, one optimizer step each

then the KL controller, the log row and the checkpoint. The only capability the loop asks about is
``uses_critic`` (it must build the value model). ``Scores.train_rows`` (rows left out of the loss) and
the minibatch's row count (``OnlineBatch.row_norm``, for the per-sequence loss aggregations) are
generic, and so is ``extra_rows`` (responses the loss needs beyond the minibatch, XPO's reference samples: run
in the minibatch's one forward of the prepared model, ``OnlineBatch.extra_logps``, with the minibatch's
``OnlineBatch.rows``): the loop never branches on an algorithm's name.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from prefzoo.api import AdvantageInput, Advantages, FeedbackInput, OnlineAlgorithm, OnlineBatch, Scores, kl_k1
from prefzoo.data.records import PROMPTS
from prefzoo.engine.loop import (Checkpoints, accelerator_for, check_finite, generation_model, grad_norm,
                                 make_optimizer, make_schedule, sharding, trim_metrics)
from prefzoo.engine.online_parts import (PROMPT_OVER_LIMIT, REFILL_SEED_STRIDE, KLController, StepClock, _draw_seed,
                                         _prompt_order, _refill_order, _rows_of, apply_no_eos_penalty, assemble_groups,
                                         critic_values, encode_prompts, loss_mask, make_critic, minibatch_logps,
                                         minibatch_rows,
                                         rollout_engine, step_row)
from prefzoo.engine.rollout import Draws, Rollout, response_logps, sample
from prefzoo.engine.tracking import Tracker
from prefzoo.job import Job, JobError, TrainResult


@dataclass
class OnlineRun:
    """What the phases share: the prepared models, the prompts and the reward, for one training run."""

    algo: OnlineAlgorithm
    job: Job
    acc: Any
    model: Any                        # the prepared policy network
    critic: Any                       # the prepared value model, or None
    optimizer: Any
    schedule: Any
    reward: Any                       # the Feedback the responses are scored by
    prompts: list
    prompt_ids: list[list[int]]
    backend: str
    vllm_engine: Any = None

    @property
    def cfg(self):
        return self.algo.config


@dataclass
class Prepared:
    ref_logps: torch.Tensor | None    # [B, R]; None where the algorithm needs no reference (needs_reference)
    old_logps: torch.Tensor           # [B, R]
    old_values: torch.Tensor | None   # [B, R], critic algorithms only
    kl_seq: torch.Tensor              # [B] sum of k1 over the response (NaN without a reference: not computed)
    adv: Advantages
    recomputed: bool = False          # old_logps came from a forward of the full rows, not the sampler


# ----------------------------------------------------------------------------- the phases
def collect(run: OnlineRun, step: int, clock: StepClock, round_: int = 0) -> tuple[Rollout, list[int]]:
    """This process's prompts of ``step`` (every P-th of a seeded order), each repeated k times (group-major).
    ``round_`` > 0: a refill round of dynamic sampling, with its own seeded prompts and draws."""
    cfg, acc, k, P = run.cfg, run.acc, run.algo.samples_per_prompt, run.acc.num_processes
    order = (_prompt_order(len(run.prompts), run.job.seed, step, cfg.prompts_per_step) if round_ == 0 else
             _refill_order(len(run.prompts), run.job.seed, step, round_, cfg.prompts_per_step))
    idx = order[acc.process_index::P]
    rows_p = [run.prompts[i] for i in idx for _ in range(k)]
    rows_ids = [run.prompt_ids[i] for i in idx for _ in range(k)]
    draws = Draws(_draw_seed(run.job.seed, step) + REFILL_SEED_STRIDE * round_, cfg.prompts_per_step * k,
                  _rows_of(acc.process_index, P, len(idx), k))
    with clock.timed("generate"):
        if run.vllm_engine is not None:
            ro = run.vllm_engine.sample(run.job.policy, rows_p, rows_ids, max_new_tokens=cfg.max_new_tokens,
                                        temperature=cfg.temperature, top_p=cfg.top_p)
        else:
            with generation_model(acc, run.model) as (gen_model, synced):
                ro = sample(run.job.policy, rows_p, rows_ids, max_new_tokens=cfg.max_new_tokens,
                            temperature=cfg.temperature, top_p=cfg.top_p, model=gen_model, backend=run.backend,
                            draws=draws, synced=synced, batch_size=cfg.rollout_batch_size,
                            share_prompts=cfg.share_prompts)
    clock.tokens += sum(len(p) for p in ro.prompt_ids) + float(ro.lengths.sum())  # prompt + response
    return ro, idx


def collect_groups(run: OnlineRun, step: int, clock: StepClock) -> tuple[Rollout, list[int], Scores, dict]:
    """collect + feedback; where the algorithm's ``keep_groups`` drops groups (DAPO's dynamic sampling),
    refill rounds: each round samples fresh prompts for every slot (a prompt position of the step), and
    a slot takes the first of its groups that is kept, or its round-0 group when ``max_sampling_rounds``
    run out (counted). A slot's candidates depend on (seed, step, round, position) only, so the batch is
    the same on any number of processes. Returns the batch and the logged counts."""
    k = run.algo.samples_per_prompt
    ro, idx = collect(run, step, clock)
    fb = feedback(run, ro, idx, clock)
    keep = run.algo.keep_groups(fb, k)
    if keep is None:
        return ro, idx, fb, {}
    parts = [(ro, fb, keep.cpu())]
    device = ro.response_mask.device
    while len(parts) < run.algo.max_sampling_rounds:
        open_slots = torch.stack([p[2] for p in parts]).any(0).logical_not().sum().float().to(device)
        if float(run.acc.reduce(open_slots, reduction="sum")) == 0:  # the same decision on every process
            break
        more, more_idx = collect(run, step, clock, round_=len(parts))
        more_fb = feedback(run, more, more_idx, clock)
        parts.append((more, more_fb, run.algo.keep_groups(more_fb, k).cpu()))
    ro, fb, counts = assemble_groups(parts, k)
    sampled, kept, filled = run.acc.reduce(torch.tensor(counts, dtype=torch.float32, device=device),
                                           reduction="sum").tolist()
    return ro, idx, fb, {"sampling_rounds": float(len(parts)), "groups_kept_fraction": kept / max(sampled, 1.0),
                         "groups_filled": filled}


def feedback(run: OnlineRun, ro: Rollout, idx: list[int], clock: StepClock) -> Scores:
    """The algorithm's feedback hook; a greedy decode it asks for is timed as generation, not scoring."""
    cfg = run.cfg
    greedy_s = []

    def decode_greedy() -> Rollout:
        t = time.time()
        with generation_model(run.acc, run.model) as (gen_model, synced):
            greedy = sample(run.job.policy, [run.prompts[i] for i in idx], [run.prompt_ids[i] for i in idx],
                            max_new_tokens=cfg.max_new_tokens, do_sample=False, model=gen_model,
                            backend=run.backend if run.backend != "vllm" else "loop", synced=synced,
                            batch_size=cfg.rollout_batch_size)
        clock.greedy_tokens += sum(len(p) for p in greedy.prompt_ids) + float(greedy.lengths.sum())
        greedy_s.append(time.time() - t)
        return greedy

    t = time.time()
    fb = run.algo.feedback(FeedbackInput(ro, run.reward, run.algo.samples_per_prompt, cfg.no_eos_penalty,
                                         decode_greedy))
    clock.generate_s += sum(greedy_s)
    clock.score_s += time.time() - t - sum(greedy_s)
    return fb


@torch.no_grad()
def prepare(run: OnlineRun, ro: Rollout, fb: Scores, beta: float, reduce_sum) -> Prepared:
    """Reference and old log-probs, critic values, k1 per token; the algorithm's rewards and advantages.
    An algorithm that needs no reference (``needs_reference`` false: GRPO's family at beta 0 with
    ``log_kl`` false) gets no reference forward: ref_logps None, k1 zero for its rewards (which weigh it
    by beta 0) and kl NaN in the log (not computed)."""
    cfg, mask = run.cfg, ro.response_mask
    ref_logps = None
    # Under the training forward's autocast (a no-op in fp32). The prepared policy autocasts on its own (so
    # do the sampler's log-probs), but the reference copy and the unwrapped critic do not: in bf16 an fp32
    # reference put the tiny GRPO's step-0 kl at 5e-4 and kl_k3 at 5e-7 where both are 0 (tests/test_engine.py).
    with run.acc.autocast():
        if run.algo.needs_reference:
            with run.job.policy.reference_model() as ref:
                ref_logps = response_logps(ref, ro, cfg.temperature, cfg.share_prompts)
        recomputed = cfg.recompute_logps or ro.sampler_logps is None
        old_logps = (response_logps(run.model, ro, cfg.temperature, cfg.share_prompts) if recomputed
                     else ro.sampler_logps)
        old_values = critic_values(run.acc.unwrap_model(run.critic), ro) if run.critic is not None else None
    kl_tok = kl_k1(old_logps, ref_logps) * mask if ref_logps is not None else torch.zeros_like(mask)
    seq_rewards, token_rewards = run.algo.rewards(fb.scores, kl_tok, ro.lengths, beta)
    adv = run.algo.advantages(AdvantageInput(seq_rewards, token_rewards, mask, run.algo.samples_per_prompt,
                                             old_values, fb.baseline, reduce_sum))
    kl_seq = kl_tok.sum(-1) if ref_logps is not None else torch.full_like(mask[:, 0], float("nan"))
    return Prepared(ref_logps, old_logps, old_values, kl_seq, adv, recomputed)


def update(run: OnlineRun, ro: Rollout, fb: Scores, prep: Prepared, beta: float, step: int, params: list,
           last_ckpt: int | None) -> tuple[dict, int]:
    """``epochs`` passes of ``minibatches`` optimizer steps over whole prompt groups. Returns the summed
    metrics and the number of updates."""
    cfg, acc, k, P = run.cfg, run.acc, run.algo.samples_per_prompt, run.acc.num_processes
    device = ro.response_mask.device
    sums: dict[str, torch.Tensor] = {}
    n_updates = 0
    for epoch in range(cfg.epochs):
        for rows in minibatch_rows(cfg.prompts_per_step, k, cfg.minibatches, run.job.seed, step, epoch,
                                   acc.process_index, P):
            # a process with no group in this minibatch still joins the collective backward, with weight 0
            weight = 1.0 if rows else 0.0
            rows = rows or list(range(k))
            mb, r = ro.select(rows), torch.as_tensor(rows, device=device)
            # every process's tokens / processes: DDP averages gradients, so each process divides its
            # token sum by this and the average is one mean over the whole minibatch
            mask, trains = loss_mask(mb.response_mask, fb.train_rows, r)
            norm = acc.reduce(mask.sum() * weight, reduction="sum") / P
            row_norm = acc.reduce(trains * weight, reduction="sum") / P  # rows, for the seq-mean aggregations
            groups = torch.as_tensor(rows[::k], device=device) // k
            with acc.autocast():
                logps, extra_logps = minibatch_logps(run.model, mb, run.algo.extra_rows(rows), cfg.temperature,
                                                     cfg.share_prompts)
                batch = OnlineBatch(logps, prep.old_logps[r],
                                    mask, prep.adv.advantages[r], None if prep.ref_logps is None else prep.ref_logps[r],
                                    critic_values(run.critic, mb) if run.critic is not None else None,
                                    None if prep.old_values is None else prep.old_values[r],
                                    None if prep.adv.returns is None else prep.adv.returns[r],
                                    None if fb.labels is None else fb.labels[groups], beta, norm, row_norm,
                                    r, extra_logps)
                out = run.algo.loss(batch)
            check_finite(step, "loss", out.loss, last_ckpt)
            acc.backward(out.loss * weight if weight != 1.0 else out.loss)
            gnorm = grad_norm(acc, params, run.job.train.max_grad_norm)
            check_finite(step, "gradient norm", gnorm, last_ckpt)
            run.optimizer.step()
            run.schedule.step()
            run.optimizer.zero_grad(set_to_none=True)
            n_updates += 1
            known = {} if gnorm is None else {"grad_norm": gnorm}  # DeepSpeed may not report one
            for key, v in {"loss": out.loss.detach() * weight, **known,
                           **{m: x * weight for m, x in out.metrics.items()}}.items():
                sums[key] = sums.get(key, 0.0) + v.detach().float()
    return sums, n_updates


# ----------------------------------------------------------------------------- set-up and the loop
def setup(job: Job, algo: OnlineAlgorithm) -> tuple[OnlineRun, dict]:
    """Prompts (over-long ones dropped and counted), the reward, the backend, the models (reference fixed
    before anything trains or loads), the critic and one optimizer over both."""
    from prefzoo.feedback.spec import build_feedback

    cfg, acc, policy = algo.config, accelerator_for(job.train), job.policy
    P = acc.num_processes
    if cfg.prompts_per_step % P:
        raise JobError(f"prompts_per_step={cfg.prompts_per_step} does not split evenly over {P} processes: "
                       f"set it to a multiple of {P} (each process samples prompts_per_step / {P} prompts)")
    prompts, prompt_ids, report = encode_prompts(policy, job.records(PROMPTS), cfg.max_prompt_length)
    if report.total_dropped and acc.is_main_process:
        print(f"[{job.label or algo.name}] prompts: {report.summary()}")
    if len(prompts) < cfg.prompts_per_step:
        raise JobError(f"{len(prompts)} usable prompts, fewer than prompts_per_step={cfg.prompts_per_step} "
                       f"({report.summary()})")
    reward = build_feedback(cfg.reward, job, role="reward", reward_model=cfg.reward_model)
    backend, vllm_engine, note = rollout_engine(cfg, policy, sharding(acc))
    if acc.is_main_process:
        print(f"[{job.label or algo.name}] rollout backend: {backend}" + (f" ({note})" if note else ""))
    if algo.needs_reference:  # else none is made (no copy of the weights), as the offline loop does
        with policy.reference_model():
            pass
    model = policy.model
    model.train()
    critic = make_critic(policy, reward) if algo.uses_critic else None
    sizes = {"n_policy": sum(p.numel() for p in model.parameters()),  # N of the MFU estimate, before sharding
             "n_critic": sum(p.numel() for p in critic.parameters()) if critic is not None else 0,
             "bf16": job.train.precision == "bf16" or next(model.parameters()).dtype == torch.bfloat16}
    trainable = torch.nn.ModuleList([model, critic]) if critic is not None else model
    optimizer = make_optimizer(trainable, job.train)
    schedule = make_schedule(optimizer, job.train, cfg.steps * cfg.epochs * cfg.minibatches)
    if critic is not None:
        model, critic, optimizer = acc.prepare(model, critic, optimizer)
    else:
        model, optimizer = acc.prepare(model, optimizer)
    run = OnlineRun(algo, job, acc, model, critic, optimizer, schedule, reward, prompts, prompt_ids, backend,
                    vllm_engine)
    return run, {"report": report, "trainable": trainable, "backend_note": note, **sizes}


def train_online(job: Job, algo: OnlineAlgorithm) -> TrainResult:
    started, cfg = time.time(), algo.config
    run, extra = setup(job, algo)
    acc, trainable = run.acc, extra["trainable"]
    kl_ctl = KLController(cfg.beta, cfg.target_kl, cfg.kl_horizon)
    ckpt, start, last_ckpt = Checkpoints(job.out_dir), 0, None
    if job.train.resume and ckpt.latest() is not None:
        state = ckpt.load(trainable, run.optimizer, run.schedule)
        start = last_ckpt = state["step"]
        kl_ctl.value = state["extra"].get("beta", kl_ctl.value)
        if acc.is_main_process:
            trim_metrics(job.out_dir, start)
    tracker = job.tracker or Tracker(job.out_dir, "none", enabled=acc.is_main_process, resume=start > 0)
    params = [p for p in trainable.parameters() if p.requires_grad]

    def reduce_sum(t: torch.Tensor) -> torch.Tensor:  # a sum over every process's rows (batch statistics)
        return acc.reduce(t, reduction="sum")

    history, gen_total = [], 0.0
    bar = tqdm(total=cfg.steps, initial=start, desc=job.label or algo.name,
               disable=not (job.train.progress and acc.is_main_process), leave=False)
    for step in range(start, cfg.steps):
        clock, beta = StepClock(), kl_ctl.value
        ro, idx, fb, sampling = collect_groups(run, step, clock)
        prep = prepare(run, ro, fb, beta, reduce_sum)
        with clock.timed("train"):
            sums, n_updates = update(run, ro, fb, prep, beta, step, params, last_ckpt)
            if run.vllm_engine is not None:  # the next rollout samples from the updated weights
                run.vllm_engine.sync(run.model)
        kl_ctl.update(float(acc.reduce(prep.kl_seq.mean().detach(), reduction="mean")), len(ro) * acc.num_processes)
        done = step + 1
        gen_total += clock.generate_s
        if done % job.train.log_every == 0 or done == cfg.steps:
            row = step_row(acc, cfg, clock, sums, n_updates, ro, fb, prep.adv, prep.kl_seq, prep.old_values,
                           reduce_sum, extra["n_policy"], extra["n_critic"], extra["bf16"],
                           reference=prep.ref_logps is not None, recomputed=prep.recomputed)
            row = tracker.log(done, {**row, **sampling, "beta": beta, "lr": run.schedule.get_last_lr()[0],
                                     "prompts_dropped": extra["report"].total_dropped})
            history.append(row)
            # float(): the tracker logs a NaN kl (not computed, no reference) as "nan"
            bar.set_postfix(reward=f"{row.get('reward_mean', float('nan')):.3f}", kl=f"{float(row['kl']):.2f}")
        bar.update(1)
        if done == cfg.steps or (job.train.checkpoint_every and done % job.train.checkpoint_every == 0):
            ckpt.save_once(acc, done, trainable, run.optimizer, run.schedule, extra={"beta": kl_ctl.value})
            last_ckpt = done
    bar.close()
    if job.tracker is None:
        tracker.close()
    return finish(run, extra, history, started, gen_total, kl_ctl.value)


def finish(run: OnlineRun, extra: dict, history: list[dict], started: float, gen_total: float,
           beta: float) -> TrainResult:
    job, acc, report, note = run.job, run.acc, extra["report"], extra["backend_note"]
    job.policy.model = acc.unwrap_model(run.model)
    info = {"data": report.as_dict(), "prompts_dropped": report.total_dropped, "wall_s": time.time() - started,
            "generate_s": gen_total, "steps": run.cfg.steps, "final_beta": beta, "processes": acc.num_processes,
            "rollout_backend": run.backend + (f" ({note})" if note else "")}
    artifacts = {"reward": run.reward}
    if getattr(run.reward, "training_info", None):  # a reward model trained for this run: its accuracy
        info["reward_model"] = run.reward.training_info
    if run.critic is not None:
        artifacts["critic"] = acc.unwrap_model(run.critic)
    return TrainResult(job.policy, history, info, artifacts)


__all__ = ["OnlineRun", "train_online", "collect", "collect_groups", "feedback", "prepare", "update", "setup", "KLController",
           "encode_prompts", "critic_values", "make_critic", "apply_no_eos_penalty", "PROMPT_OVER_LIMIT"]
