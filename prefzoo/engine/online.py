"""The online loop: one loop for every on-policy algorithm (ppo, rloo, grpo, remax, online-dpo, ...).

Top to bottom, per step: prompts -> rollout (k samples each, KV cache) -> feedback (scores, or
preferences) -> reference log-probs (and critic values) -> KL per token -> the algorithm's
advantages -> ``epochs`` passes of minibatch updates with the algorithm's loss -> KL controller ->
log -> checkpoint. The loop branches on capabilities only:

    uses_critic            a value model (PPO): values at rollout, value loss, GAE
    kl_in_reward           k1 per token folded into the reward (-beta * (log pi - log pi_ref))
    kl_in_loss             k3 per token added to the loss (beta * mean k3)
    needs_greedy_baseline  also decode greedily and score that (ReMax)
    feedback_kind          "score" (pointwise reward) or "prefer" (pairs labelled by prefer())

A new online algorithm is a subclass of ``OnlineAlgorithm`` with a ``Config`` (subclass of
``OnlineConfig``), these flags, and ``advantages()`` (an estimator from ``engine.advantages``) and
optionally ``loss()`` (default: the clipped policy-gradient surrogate, plus value/KL terms by flag).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from prefzoo.algos.base import Algorithm, LossOutput
from prefzoo.data.records import PROMPTS, DropReport
from prefzoo.engine.advantages import (AdvantageInput, Advantages, kl_k1, kl_k3, local_sum, masked_mean,
                                       masked_var)
from prefzoo.engine.loop import (Checkpoints, accelerator_for, check_finite, generation_model, grad_norm,
                                 make_optimizer, make_schedule, sharding, throughput, trim_metrics)
from prefzoo.engine.rollout import Draws, Rollout, response_logps, sample
from prefzoo.engine.tracking import Tracker
from prefzoo.feedback.base import Feedback, FeedbackError
from prefzoo.job import Job, JobError, TrainResult

PROMPT_OVER_LIMIT = "prompt longer than max_prompt_length"
ROLLOUT_BACKENDS = ("loop", "generate", "vllm")


@dataclass
class OnlineConfig:
    reward: str = "judge"             # reward source: rule:FILE.py:FUNC | world | judge | reward-model[:PATH]
    steps: int = 100                  # rollout batches (outer iterations)
    prompts_per_step: int = 16        # distinct prompts per rollout batch (all processes together)
    samples_per_prompt: int = 1       # k responses per prompt (group size for rloo/grpo)
    max_new_tokens: int = 32          # response length limit; longer responses count as "no EOS"
    temperature: float = 1.0          # sampling temperature; log-probs are recomputed with it too
    top_p: float = 1.0                # nucleus sampling; 1 samples the full tempered distribution
    max_prompt_length: int = 128      # prompts with more tokens are dropped and counted, never cut
    no_eos_penalty: float | None = None  # score given to a response with no EOS (Huang et al.: -1); None: off
    beta: float = 0.05                # KL coefficient (initial value when target_kl is set)
    target_kl: float | None = None    # adaptive KL controller target (nats per sequence); None: fixed beta
    kl_horizon: int = 10000           # adaptive controller horizon in rollouts (Ziegler et al. 2019)
    clip_eps: float = 0.2             # clip range of the probability ratio
    epochs: int = 1                   # passes over each rollout batch
    minibatches: int = 1              # minibatches per pass (each holds whole prompt groups)
    recompute_logps: bool = False     # old log-probs from a training forward instead of the sampler's
    reward_model: dict = field(default_factory=dict)  # RewardModelConfig params, when reward is "reward-model"
    rollout_backend: str = "loop"     # loop (own KV-cache decoder) | generate (HF generate) | vllm (falls back to loop)
    rollout_batch_size: int | None = None  # loop backend: decode at most this many rows at once, grouped by
                                      # prompt length (None: all of a process's rows of the step at once)
    vllm: dict = field(default_factory=dict)          # VLLMRollout options (gpu_memory_utilization, ...)

    def __post_init__(self):
        if self.steps < 1 or self.prompts_per_step < 1 or self.samples_per_prompt < 1:
            raise ValueError("steps, prompts_per_step and samples_per_prompt must be >= 1")
        if self.minibatches < 1 or self.minibatches > self.prompts_per_step:
            raise ValueError(f"minibatches must be in 1..prompts_per_step ({self.prompts_per_step})")
        if not 0 < self.top_p <= 1 or self.temperature <= 0:
            raise ValueError("need 0 < top_p <= 1 and temperature > 0")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ValueError("target_kl must be > 0 (or null for a fixed beta)")
        if self.rollout_backend not in ROLLOUT_BACKENDS:
            raise ValueError(f"rollout_backend must be one of {', '.join(ROLLOUT_BACKENDS)}, not {self.rollout_backend!r}")


@dataclass
class OnlineBatch:
    """One minibatch as the loss sees it. Token tensors are [B, R] over the response block."""

    logps: torch.Tensor                   # current policy log-probs (with grad)
    old_logps: torch.Tensor               # sampler's (or recomputed) log-probs, no grad
    mask: torch.Tensor                    # response tokens
    advantages: torch.Tensor              # from the algorithm's estimator
    ref_logps: torch.Tensor | None = None
    values: torch.Tensor | None = None    # critic values (with grad), uses_critic only
    old_values: torch.Tensor | None = None
    returns: torch.Tensor | None = None
    labels: torch.Tensor | None = None    # [B/2] P(row 2i better than row 2i+1), feedback_kind "prefer"
    beta: float = 0.0
    token_norm: torch.Tensor | None = None  # response tokens of this minibatch on all processes / processes

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """Token-level mean over the minibatch of every process (see ``masked_mean``'s ``denom``)."""
        return masked_mean(x, self.mask, denom=self.token_norm)


def apply_no_eos_penalty(scores: torch.Tensor, eos: torch.Tensor, penalty: float | None) -> torch.Tensor:
    """A response cut before EOS gets the fixed ``penalty`` as its score (Huang et al. 2024, detail 4);
    responses that ended properly keep theirs. ``eos``: [B] bool, True where the response has its EOS."""
    if penalty is None:
        return scores
    return torch.where(eos.to(scores.device), scores, torch.full_like(scores, penalty))


class KLController:
    """Fixed beta, or the adaptive controller of Ziegler et al. 2019 (sec. 2.2):
    e = clip(KL / target - 1, -0.2, 0.2); beta <- beta * (1 + e * n / horizon)."""

    def __init__(self, beta: float, target: float | None = None, horizon: int = 10000):
        self.value, self.target, self.horizon = beta, target, horizon

    def update(self, kl: float, n: int) -> None:
        if self.target is not None:
            err = min(max(kl / self.target - 1.0, -0.2), 0.2)
            self.value *= 1.0 + err * n / self.horizon


# ----------------------------------------------------------------------------- losses (pure)
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


# ----------------------------------------------------------------------------- the algorithm base
class OnlineAlgorithm(Algorithm):
    """An on-policy algorithm run by ``train_online``. Subclasses set the capability flags, a Config
    derived from ``OnlineConfig``, ``advantages`` and, if the surrogate differs, ``loss``."""

    family = "online"
    data_kind = PROMPTS
    needs_reference = True
    uses_critic: ClassVar[bool] = False
    kl_in_reward: ClassVar[bool] = True
    kl_in_loss: ClassVar[bool] = False
    needs_greedy_baseline: ClassVar[bool] = False
    feedback_kind: ClassVar[str] = "score"
    Config = OnlineConfig

    @property
    def samples_per_prompt(self) -> int:
        return self.config.samples_per_prompt

    def advantages(self, inp: AdvantageInput) -> Advantages:
        raise NotImplementedError

    def loss(self, b: OnlineBatch) -> LossOutput:
        """Clipped policy-gradient surrogate; + beta * mean k3 when kl_in_loss; + value loss when uses_critic."""
        pg, clip_frac, ratio = clipped_policy_loss(b.logps, b.old_logps, b.advantages, b.mask, self.config.clip_eps,
                                                   b.token_norm)
        total, metrics = pg, {"policy_loss": pg.detach(), "clip_fraction": clip_frac, "ratio_mean": ratio}
        if self.kl_in_loss:
            k3 = b.mean(kl_k3(b.logps, b.ref_logps))
            total = total + b.beta * k3
            metrics["kl_k3"] = k3.detach()
        if self.uses_critic:
            vf, vclip = clipped_value_loss(b.values, b.old_values, b.returns, b.mask, self.config.value_clip_eps,
                                           b.token_norm)
            total = total + self.config.vf_coef * vf
            metrics.update(value_loss=vf.detach(), value_clip_fraction=vclip)
        return LossOutput(total, (b.logps * b.mask).sum(-1).detach(), metrics)

    def run(self, job):
        return train_online(job, self)


# ----------------------------------------------------------------------------- helpers
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


def make_critic(policy, reward: Feedback):
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


def checked_prefer(feedback: Feedback, prompts, a, b) -> torch.Tensor:
    try:
        p = torch.as_tensor(feedback.prefer(prompts, a, b), dtype=torch.float32)
    except Exception as e:
        raise FeedbackError(f"feedback {feedback.name} raised {type(e).__name__}: {e} "
                            f"(batch starting with prompt {prompts[0]!r})") from e
    bad = (~torch.isfinite(p)).nonzero().flatten().tolist()
    if bad:
        raise FeedbackError(f"feedback {feedback.name} returned {p[bad[0]].item()} for prompt {prompts[bad[0]]!r}")
    return p.clamp(0.0, 1.0)


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


# ----------------------------------------------------------------------------- the loop
def train_online(job: Job, algo: OnlineAlgorithm) -> TrainResult:
    from prefzoo.feedback.resolve import resolve_reward

    cfg, train, policy = algo.config, job.train, job.policy
    acc = accelerator_for(train)
    started = time.time()
    k, P = algo.samples_per_prompt, acc.num_processes
    if cfg.prompts_per_step % P:
        raise JobError(f"prompts_per_step={cfg.prompts_per_step} does not split evenly over {P} processes: "
                       f"set it to a multiple of {P} (each process samples prompts_per_step / {P} prompts)")

    # 1. prompts (over-long ones dropped and counted) and the reward source
    prompts, prompt_ids, report = encode_prompts(policy, job.records(PROMPTS), cfg.max_prompt_length)
    if report.total_dropped and acc.is_main_process:
        print(f"[{job.label or algo.name}] prompts: {report.summary()}")
    if len(prompts) < cfg.prompts_per_step:
        raise JobError(f"{len(prompts)} usable prompts, fewer than prompts_per_step={cfg.prompts_per_step} "
                       f"({report.summary()})")
    reward = resolve_reward(cfg.reward, job, cfg.reward_model)
    backend, vllm_engine, backend_note = rollout_engine(cfg, policy, sharding(acc))
    if acc.is_main_process:
        print(f"[{job.label or algo.name}] rollout backend: {backend}" + (f" ({backend_note})" if backend_note else ""))

    # 2. models: reference fixed before anything trains (or loads), critic, optimizer over both
    with policy.reference_model():
        pass
    model = policy.model
    model.train()
    critic = make_critic(policy, reward) if algo.uses_critic else None
    # N of the MFU estimate (total parameters, counted before any sharding), and the compute dtype
    n_policy = sum(p.numel() for p in model.parameters())
    n_critic = sum(p.numel() for p in critic.parameters()) if critic is not None else 0
    bf16 = train.precision == "bf16" or next(model.parameters()).dtype == torch.bfloat16
    trainable = torch.nn.ModuleList([model, critic]) if critic is not None else model
    optimizer = make_optimizer(trainable, train)
    total_updates = cfg.steps * cfg.epochs * cfg.minibatches
    schedule = make_schedule(optimizer, train, total_updates)
    if critic is not None:
        model, critic, optimizer = acc.prepare(model, critic, optimizer)
    else:
        model, optimizer = acc.prepare(model, optimizer)
    kl_ctl = KLController(cfg.beta, cfg.target_kl, cfg.kl_horizon)
    ckpt = Checkpoints(job.out_dir)
    start, last_ckpt = 0, None
    if train.resume and ckpt.latest() is not None:
        state = ckpt.load(trainable, optimizer, schedule)
        start = last_ckpt = state["step"]
        kl_ctl.value = state["extra"].get("beta", kl_ctl.value)
        if acc.is_main_process:
            trim_metrics(job.out_dir, start)
    tracker = job.tracker or Tracker(job.out_dir, "none", enabled=acc.is_main_process, resume=start > 0)
    params = [p for p in trainable.parameters() if p.requires_grad]

    def reduce_sum(t: torch.Tensor) -> torch.Tensor:  # a sum over every process's rows (batch statistics)
        return acc.reduce(t, reduction="sum")

    history: list[dict] = []
    gen_total = 0.0
    bar = tqdm(total=cfg.steps, initial=start, desc=job.label or algo.name,
               disable=not (train.progress and acc.is_main_process), leave=False)

    for step in range(start, cfg.steps):
        t0 = time.time()
        # 3. rollout: this process's prompts, each repeated k times (rows group-major)
        idx = _prompt_order(len(prompts), job.seed, step, cfg.prompts_per_step)[acc.process_index::P]
        rows_p = [prompts[i] for i in idx for _ in range(k)]
        rows_ids = [prompt_ids[i] for i in idx for _ in range(k)]
        draws = Draws(_draw_seed(job.seed, step), cfg.prompts_per_step * k, _rows_of(acc.process_index, P, len(idx), k))
        if vllm_engine is not None:
            ro = vllm_engine.sample(policy, rows_p, rows_ids, max_new_tokens=cfg.max_new_tokens,
                                    temperature=cfg.temperature, top_p=cfg.top_p)
        else:
            with generation_model(acc, model) as (gen_model, synced):
                ro = sample(policy, rows_p, rows_ids, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                            top_p=cfg.top_p, model=gen_model, backend=backend, draws=draws, synced=synced,
                            batch_size=cfg.rollout_batch_size)
        gen_s = time.time() - t0
        mask = ro.response_mask
        seq_tokens = sum(len(p) for p in ro.prompt_ids) + float(ro.lengths.sum())  # prompt + response
        greedy_tokens = 0.0

        # 4. feedback
        t_feedback, gen_before = time.time(), gen_s
        labels, baseline = None, None
        if algo.feedback_kind == "prefer":
            labels = checked_prefer(reward, ro.prompts[0::2], ro.texts[0::2], ro.texts[1::2]).to(mask.device)
            scores = torch.zeros(len(ro), device=mask.device)
        else:
            scores = reward.checked_score(ro.prompts, ro.texts).to(mask.device)
        scores = apply_no_eos_penalty(scores, ro.eos, cfg.no_eos_penalty)
        if algo.needs_greedy_baseline:
            t1 = time.time()
            with generation_model(acc, model) as (gen_model, synced):
                greedy = sample(policy, [prompts[i] for i in idx], [prompt_ids[i] for i in idx],
                                max_new_tokens=cfg.max_new_tokens, do_sample=False, model=gen_model,
                                backend=backend if backend != "vllm" else "loop", synced=synced,
                                batch_size=cfg.rollout_batch_size)
            gen_s += time.time() - t1
            greedy_tokens = sum(len(p) for p in greedy.prompt_ids) + float(greedy.lengths.sum())
            base = reward.checked_score(greedy.prompts, greedy.texts).to(mask.device)
            if cfg.no_eos_penalty is not None:
                base = torch.where(greedy.eos, torch.full_like(base, cfg.no_eos_penalty), base)
            baseline = base.repeat_interleave(k)
        score_s = time.time() - t_feedback - (gen_s - gen_before)  # the greedy decode counts as generation

        # 5. reference log-probs, old log-probs, values; KL per token (k1)
        with torch.no_grad():
            with policy.reference_model() as ref:
                ref_logps = response_logps(ref, ro, cfg.temperature)
            old_logps = (response_logps(model, ro, cfg.temperature) if cfg.recompute_logps or ro.sampler_logps is None
                         else ro.sampler_logps)
            old_values = critic_values(acc.unwrap_model(critic), ro) if critic is not None else None
        kl_tok = kl_k1(old_logps, ref_logps) * mask
        kl_seq = kl_tok.sum(-1)
        beta = kl_ctl.value
        token_rewards = -beta * kl_tok if algo.kl_in_reward else torch.zeros_like(kl_tok)
        last = (ro.lengths.long() - 1).clamp(min=0)
        token_rewards = token_rewards.scatter_add(1, last.unsqueeze(1), scores.unsqueeze(1).to(kl_tok.dtype))
        seq_rewards = scores - beta * kl_seq if algo.kl_in_reward else scores
        adv = algo.advantages(AdvantageInput(seq_rewards, token_rewards, mask, k, old_values, baseline, reduce_sum))

        # 6. K epochs of minibatch updates over whole prompt groups
        t_train = time.time()
        sums: dict[str, torch.Tensor] = {}
        n_groups = len(ro) // k
        n_updates = 0
        for _ in range(cfg.epochs):
            perm = torch.randperm(n_groups).tolist()
            chunks = [perm[i::cfg.minibatches] for i in range(cfg.minibatches)]
            for chunk in chunks:
                if not chunk:
                    continue
                rows = [g * k + j for g in sorted(chunk) for j in range(k)]
                mb = ro.select(rows)
                r = torch.as_tensor(rows, device=mask.device)
                # every process's tokens / processes: DDP averages gradients, so each process divides its
                # token sum by this and the average is one mean over the whole minibatch
                norm = acc.reduce(mb.response_mask.sum(), reduction="sum") / P
                with acc.autocast():
                    logps = response_logps(model, mb, cfg.temperature)
                    values = critic_values(critic, mb) if critic is not None else None
                    lab = None
                    if labels is not None:
                        lab = labels[torch.as_tensor(sorted(chunk), device=mask.device)]
                    batch = OnlineBatch(logps, old_logps[r], mb.response_mask, adv.advantages[r], ref_logps[r],
                                        values, None if old_values is None else old_values[r],
                                        None if adv.returns is None else adv.returns[r], lab, beta, norm)
                    out = algo.loss(batch)
                check_finite(step, "loss", out.loss, last_ckpt)
                acc.backward(out.loss)
                gnorm = grad_norm(acc, params, train.max_grad_norm)
                check_finite(step, "gradient norm", gnorm, last_ckpt)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                n_updates += 1
                known = {} if gnorm is None else {"grad_norm": gnorm}  # DeepSpeed may not report one
                for key, v in {"loss": out.loss.detach(), **known, **out.metrics}.items():
                    sums[key] = sums.get(key, 0.0) + v.detach().float()
        if vllm_engine is not None:  # the next rollout samples from the updated weights
            vllm_engine.sync(model)
        train_s = time.time() - t_train
        kl_ctl.update(float(acc.reduce(kl_seq.mean().detach(), reduction="mean")), len(ro) * acc.num_processes)

        # 7. log
        done = step + 1
        gen_total += gen_s
        if done % train.log_every == 0 or done == cfg.steps:
            step_metrics = {key: v / max(1, n_updates) for key, v in sums.items()}
            if labels is None:
                all_scores = acc.gather(scores.float())
                step_metrics.update(reward_mean=all_scores.mean(), reward_std=all_scores.std(correction=0))
            tokens_all = acc.reduce(mask.sum(), reduction="sum") / P  # token means over every process's rows
            step_metrics.update(
                kl=kl_seq.mean(), response_length=ro.lengths.mean(), eos_fraction=ro.eos.float().mean(),
                advantage_mean=masked_mean(adv.advantages, mask, denom=tokens_all))
            if ro.entropy is not None:  # not reported by the vLLM backend
                step_metrics["entropy"] = masked_mean(ro.entropy, mask, denom=tokens_all)
            if labels is not None:
                step_metrics["preference_mean"] = labels.mean()
            if baseline is not None:
                step_metrics["baseline_reward_mean"] = baseline.mean()
            if old_values is not None and adv.returns is not None:
                step_metrics["explained_variance"] = explained_variance(old_values, adv.returns, mask, reduce_sum)
            reduced = {key: acc.reduce(torch.as_tensor(v, dtype=torch.float32, device=mask.device).reshape(()),
                                       reduction="mean").item() for key, v in step_metrics.items()}
            # throughput: tokens of the rollout rows (prompt + response, all processes) per second of
            # step; model FLOPs: policy forward for generation (+ greedy), reference and recomputed
            # old log-probs, 6 N per trained token per epoch; the critic likewise (reward model not counted)
            counts = torch.tensor([seq_tokens, greedy_tokens], dtype=torch.float64, device=mask.device)
            tok, greedy_tok = acc.reduce(counts, reduction="sum").tolist()
            recomputed = cfg.recompute_logps or ro.sampler_logps is None
            flops = (n_policy * (6 * cfg.epochs * tok + 2 * ((2 + recomputed) * tok + greedy_tok))
                     + n_critic * (6 * cfg.epochs + 2) * tok)
            step_s = time.time() - t0
            row = tracker.log(done, {**reduced, "beta": beta, "lr": schedule.get_last_lr()[0],
                                     "step_s": step_s, "generate_s": gen_s, "score_s": score_s, "train_s": train_s,
                                     "generate_share": gen_s / step_s, "score_share": score_s / step_s,
                                     "train_share": train_s / step_s, **throughput(acc, tok, step_s, flops, bf16),
                                     "prompts_dropped": report.total_dropped})
            history.append(row)
            bar.set_postfix(reward=f"{reduced.get('reward_mean', float('nan')):.3f}", kl=f"{reduced['kl']:.2f}")
        bar.update(1)
        # 8. checkpoint (the last step too, so a longer run can continue from it)
        if train.checkpoint_every and (done % train.checkpoint_every == 0 or done == cfg.steps):
            ckpt.save_once(acc, done, trainable, optimizer, schedule, extra={"beta": kl_ctl.value})
            last_ckpt = done
    bar.close()
    if job.tracker is None:
        tracker.close()
    policy.model = acc.unwrap_model(model)
    info = {"data": report.as_dict(), "prompts_dropped": report.total_dropped, "wall_s": time.time() - started,
            "generate_s": gen_total, "steps": cfg.steps, "final_beta": kl_ctl.value, "processes": P,
            "rollout_backend": backend + (f" ({backend_note})" if backend_note else "")}
    artifacts = {"reward": reward}
    if getattr(reward, "training_info", None):  # a reward model trained for this run: its accuracy
        info["reward_model"] = reward.training_info
    if critic is not None:
        artifacts["critic"] = acc.unwrap_model(critic)
    return TrainResult(policy, history, info, artifacts)


__all__ = ["OnlineConfig", "OnlineAlgorithm", "OnlineBatch", "KLController", "train_online", "clipped_policy_loss",
           "clipped_value_loss", "explained_variance", "encode_prompts", "critic_values", "make_critic",
           "PROMPT_OVER_LIMIT"]
