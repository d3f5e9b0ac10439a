"""The algorithm author's interface: everything a new algorithm needs, and nothing that runs it.

A leaf: it imports torch, ``prefzoo.registry`` and ``prefzoo.ops`` only, so a plug-in that imports it
loads a handful of modules, not the package. ``prefzoo.engine`` (the loops) and ``prefzoo.algos`` (the
built-ins) both import this module and never each other.

- ``register(name)``: make a class available to recipes under ``name``.
- ``Objective``: an offline loss over typed log-prob summaries (``PairLogps``, ``SeqLogps``,
  ``UnpairedLogps``) -> ``LossOutput``; run by the offline loop. Capabilities: ``data_kind``,
  ``needs_reference``.
- ``OnlineAlgorithm``: an on-policy algorithm run by the online loop in four phases, each with a hook
  that has a default: ``feedback`` (scores or preferences of the rollouts) -> ``rewards`` (sequence and
  per-token rewards: by default the KL penalty folded in) -> ``advantages`` (an estimator, required) ->
  ``loss`` (per minibatch: by default PPO's clipped surrogate, plus the value loss with a critic).
  The one flag, ``uses_critic``, asks the engine to build a value model.
- ``Algorithm``: anything else (composite pipelines), with its own ``run(job)``.
- The shared tensor operations and estimators of ``prefzoo.ops``, re-exported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch

from prefzoo.ops import (LOSS_AGGS, SCALE_REWARDS, AdvantageInput, Advantages, aggregate_loss, bt_loss,
                         cispo_loss_tokens, clipped_policy_loss, clipped_surrogate, clipped_value_loss,
                         explained_variance, gae, group_advantages, group_normalized, kl_k1, kl_k2, kl_k3, local_sum,
                         logratio, masked_mean, masked_var, pair_metrics, remax, rloo, sequence_advantages,
                         sequence_log_ratio, soft_overlong_penalty, soft_sigmoid_loss, varying_groups, whiten)
from prefzoo.registry import register

PAIRS, UNPAIRED, SFT, PROMPTS = "pairs", "unpaired", "sft", "prompts"  # the record kinds (prefzoo.data.records)
ROLLOUT_BACKENDS = ("loop", "generate", "vllm")


# ----------------------------------------------------------------------------- offline inputs and outputs
@dataclass
class PairLogps:
    """Summed completion log-probs of a batch of pairs. All tensors [B]."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    chosen_len: torch.Tensor
    rejected_len: torch.Tensor
    p_chosen: torch.Tensor | None = None  # soft label P(chosen better); None means hard labels (1)
    # per completion, sum over its tokens of log sum_v pi(v | x, y_<t)^2 (the policy's log collision
    # probability, detached; WPO's weight alignment), laid out as the log-probs; filled by the offline
    # loop only for an objective whose ``needs_sum_sq_probs`` is true, else None
    log_sum_sq_probs: PairLogps | None = None


@dataclass
class SeqLogps:
    """Summed completion log-probs of single completions (SFT). Tensors [B]."""

    logps: torch.Tensor
    length: torch.Tensor


@dataclass
class UnpairedLogps:
    """Unpaired completions (KTO). ``mismatched``: log-probs of a completion for another prompt, the
    batch's estimate of the KL term's baseline (Ethayarajh et al. 2024, sec. 4.1). Tensors [B]."""

    logps: torch.Tensor
    length: torch.Tensor
    label: torch.Tensor           # 1.0 desirable, 0.0 undesirable
    mismatched: torch.Tensor


@dataclass
class LossOutput:
    loss: torch.Tensor                    # scalar to minimise
    per_example: torch.Tensor             # [B], detached
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # scalars, detached


@dataclass
class NoParams:
    pass


# ----------------------------------------------------------------------------- the base classes
class Algorithm:
    """Everything the registry holds. ``run(job)`` trains ``job.policy`` and returns a ``TrainResult``."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    data_kind: ClassVar[str] = ""       # "pairs" | "unpaired" | "sft" | "prompts"
    needs_reference: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    Config: ClassVar[type] = NoParams

    def __init__(self, config=None):
        self.config = config if config is not None else self.Config()

    def run(self, job):
        raise NotImplementedError


class Objective(Algorithm):
    """An offline loss, run by the offline loop (``prefzoo.engine.offline``). ``model_kind``: what the
    loop trains and feeds to ``loss``: "policy" (typed log-prob summaries of the language model) or
    "scalar" (a scalar-head model over the policy's backbone, e.g. a reward model: the inputs are
    ``PairLogps`` whose fields hold the scalar values, not log-probs)."""

    family = "offline"
    data_kind = PAIRS
    needs_reference = True
    model_kind: ClassVar[str] = "policy"
    needs_sum_sq_probs: ClassVar[bool] = False  # pairs only: fill ``PairLogps.log_sum_sq_probs`` (WPO)

    def loss(self, policy, reference) -> LossOutput:
        raise NotImplementedError

    def run(self, job):
        from prefzoo.engine.offline import train_offline  # resolved at call time: the leaf loads no engine

        return train_offline(job, self)


# ----------------------------------------------------------------------------- online: config and phase types
@dataclass
class OnlineConfig:
    reward: str = "judge"             # reward source (prefzoo.feedback.spec): rule:FILE.py:FUNC | world | judge |
                                      # reward-model[:PATH] | local[:MODEL] | http:URL
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
    epsilon_low: float | None = None  # asymmetric clip: ratio >= 1 - epsilon_low (None: clip_eps)
    epsilon_high: float | None = None  # ratio <= 1 + epsilon_high (None: clip_eps; DAPO's clip-higher: 0.28)
    loss_agg: str = "token-mean"      # how the per-token policy loss becomes one number (ops.aggregate_loss):
                                      # token-mean (over the global minibatch's tokens) | seq-mean-token-mean
                                      # (GRPO's paper) | seq-mean-token-sum | seq-mean-token-sum-norm (Dr. GRPO)
    loss_agg_norm: float | None = None  # the constant of seq-mean-token-sum-norm (None: max_new_tokens)
    epochs: int = 1                   # passes over each rollout batch
    minibatches: int = 1              # minibatches per pass (each holds whole prompt groups)
    recompute_logps: bool = False     # old log-probs from a training forward instead of the sampler's
    reward_model: dict = field(default_factory=dict)  # RewardModelConfig params, when reward is "reward-model"
    rollout_backend: str = "loop"     # loop (own KV-cache decoder) | generate (HF generate) | vllm (falls back to loop)
    rollout_batch_size: int | None = None  # loop backend: decode at most this many rows at once, grouped by
                                      # prompt length (None: all of a process's rows of the step at once)
    share_prompts: bool = False       # one forward per distinct prompt (its k samples share its KV cache) in the
                                      # prefill, reference and training forwards: less work for group methods,
                                      # floats move by rounding (engine/shared_prompts.py); one process only
    vllm: dict = field(default_factory=dict)          # VLLMRollout options (gpu_memory_utilization, ...)

    def __post_init__(self):
        if self.steps < 1 or self.prompts_per_step < 1 or self.samples_per_prompt < 1 or self.max_new_tokens < 1:
            raise ValueError("steps, prompts_per_step, samples_per_prompt and max_new_tokens must be >= 1")
        if self.minibatches < 1 or self.minibatches > self.prompts_per_step:
            raise ValueError(f"minibatches must be in 1..prompts_per_step ({self.prompts_per_step})")
        if not 0 < self.top_p <= 1 or self.temperature <= 0:
            raise ValueError("need 0 < top_p <= 1 and temperature > 0")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ValueError("target_kl must be > 0 (or null for a fixed beta)")
        if self.loss_agg not in LOSS_AGGS:
            raise ValueError(f"loss_agg must be one of {', '.join(LOSS_AGGS)}, not {self.loss_agg!r}")
        if min(self.clip_range) < 0 or (self.loss_agg_norm is not None and self.loss_agg_norm <= 0):
            raise ValueError("epsilon_low, epsilon_high must be >= 0 and loss_agg_norm > 0")
        if self.rollout_backend not in ROLLOUT_BACKENDS:
            raise ValueError(f"rollout_backend must be one of {', '.join(ROLLOUT_BACKENDS)}, not {self.rollout_backend!r}")

    @property
    def clip_range(self) -> tuple[float, float]:
        """(epsilon_low, epsilon_high): the ratio is clipped to [1 - low, 1 + high]."""
        low = self.clip_eps if self.epsilon_low is None else self.epsilon_low
        return low, self.clip_eps if self.epsilon_high is None else self.epsilon_high


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
    labels: torch.Tensor | None = None    # [B/2] P(row 2i better than row 2i+1), preference learners
    beta: float = 0.0
    token_norm: torch.Tensor | None = None  # response tokens of this minibatch on all processes / processes
    row_norm: torch.Tensor | None = None    # rows of this minibatch on all processes / processes
    rows: torch.Tensor | None = None        # [B] the minibatch's row indices in this process's rollout of the step
    extra_logps: torch.Tensor | None = None  # [B', R'] log-probs (with grad) of ``extra_rows``' responses, or None

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """Token-level mean over the minibatch of every process (see ``masked_mean``'s ``denom``)."""
        return masked_mean(x, self.mask, denom=self.token_norm)

    def aggregate(self, x: torch.Tensor, mode: str = "token-mean", norm: float = 1.0) -> torch.Tensor:
        """``x`` [B, R] (or [B, 1], broadcast over the tokens) to one number over the minibatch of every
        process, by ``mode`` (``ops.aggregate_loss``); token-mean is ``mean``."""
        if x.shape[-1] != self.mask.shape[-1]:
            x = x.expand_as(self.mask)
        return aggregate_loss(x, self.mask, mode, self.token_norm, self.row_norm, norm)


@dataclass
class Scores:
    """What the feedback phase returns for one rollout batch of B rows."""

    scores: torch.Tensor                   # [B] pointwise reward (zeros when the feedback is preferences)
    labels: torch.Tensor | None = None     # [B/2] P(row 2i better than row 2i+1), for preference learners
    baseline: torch.Tensor | None = None   # [B] a per-row baseline score (ReMax: the greedy response's)
    train_rows: torch.Tensor | None = None  # [B] bool: False leaves a row out of the loss and its token and row
                                           # counts (DAPO's overlong filter); None: every row trains


@dataclass
class FeedbackInput:
    """What the feedback hook may use. ``rollout`` is the engine's ``Rollout`` (``prompts``, ``texts``,
    ``eos``, ``lengths``, ``response_mask``); ``reward`` a ``Feedback`` (``checked_score``,
    ``checked_prefer``); ``decode_greedy()`` decodes one greedy response per prompt of the step with the
    current policy (timed as generation)."""

    rollout: Any
    reward: Any
    group_size: int
    no_eos_penalty: float | None
    decode_greedy: Callable[[], Any]

    def penalised(self, scores: torch.Tensor, eos: torch.Tensor) -> torch.Tensor:
        """A response cut before EOS gets ``no_eos_penalty`` as its score (Huang et al. 2024, detail 4)."""
        if self.no_eos_penalty is None:
            return scores
        return torch.where(eos.to(scores.device), scores, torch.full_like(scores, self.no_eos_penalty))

    def score(self, rollout) -> torch.Tensor:
        """The reward of each response of ``rollout`` (this batch, or a greedy one), penalty applied."""
        device = self.rollout.response_mask.device
        scores = self.reward.checked_score(rollout.prompts, rollout.texts).to(device)
        return self.penalised(scores, rollout.eos)


def shaped_rewards(scores: torch.Tensor, kl_tok: torch.Tensor, lengths: torch.Tensor,
                   beta: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(sequence rewards [B], per-token rewards [B, R]). With ``beta``: the KL penalty folded in,
    r_t = -beta * k1_t plus the score at the last token, R = score - beta * sum_t k1_t (Ziegler et al.
    2019); ``beta`` None: the score alone, at the last token."""
    token = -beta * kl_tok if beta is not None else torch.zeros_like(kl_tok)
    last = (lengths.long() - 1).clamp(min=0)
    token = token.scatter_add(1, last.unsqueeze(1), scores.unsqueeze(1).to(kl_tok.dtype))
    seq = scores - beta * kl_tok.sum(-1) if beta is not None else scores
    return seq, token


class OnlineAlgorithm(Algorithm):
    """An on-policy algorithm run by the online loop (``prefzoo.engine.online``). Subclasses give a
    Config derived from ``OnlineConfig`` and ``advantages``; the other phase hooks have defaults.
    ``uses_critic``: the engine builds a value model, and ``loss`` adds its clipped value loss."""

    family = "online"
    data_kind = PROMPTS
    needs_reference = True
    uses_critic: ClassVar[bool] = False
    Config = OnlineConfig

    @property
    def samples_per_prompt(self) -> int:
        return self.config.samples_per_prompt

    def feedback(self, inp: FeedbackInput) -> Scores:
        """Phase 2: the reward of every response (default: ``reward.score``, no-EOS penalty applied)."""
        return Scores(inp.score(inp.rollout))

    def keep_groups(self, fb: Scores, group_size: int) -> torch.Tensor | None:
        """Phase 2b, optional: [B/k] bool, the prompt groups worth training on (DAPO: rewards that vary).
        The engine then samples fresh prompt groups, up to ``max_sampling_rounds`` rounds in all, until
        every process holds its share of kept groups, and logs the rounds. None (default): keep all."""
        return None

    @property
    def max_sampling_rounds(self) -> int:
        """The cap on collect rounds per step when ``keep_groups`` drops groups."""
        return 1

    def rewards(self, scores: torch.Tensor, kl_tok: torch.Tensor, lengths: torch.Tensor,
                beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Phase 3a: (sequence, per-token) rewards; default: the KL penalty folded into the reward."""
        return shaped_rewards(scores, kl_tok, lengths, beta)

    def advantages(self, inp: AdvantageInput) -> Advantages:
        """Phase 3b: an estimator (``gae``, ``rloo``, ``group_normalized``, ...)."""
        raise NotImplementedError

    def aggregate(self, b: OnlineBatch, x: torch.Tensor) -> torch.Tensor:
        """A per-token loss to one number by the config's ``loss_agg`` (``ops.aggregate_loss``)."""
        cfg = self.config
        return b.aggregate(x, cfg.loss_agg, cfg.loss_agg_norm or cfg.max_new_tokens)

    def policy_loss(self, b: OnlineBatch) -> tuple[torch.Tensor, dict]:
        """The policy term and its metrics: PPO's clipped surrogate, clip range ``config.clip_range``,
        aggregated by ``loss_agg``. GSPO and CISPO override it."""
        per_token, clipped, ratio = clipped_surrogate(b.logps, b.old_logps, b.advantages, *self.config.clip_range)
        pg = self.aggregate(b, per_token)
        return pg, {"policy_loss": pg.detach(), "clip_fraction": b.mean(clipped.float()).detach(),
                    "ratio_mean": b.mean(ratio).detach()}

    def loss(self, b: OnlineBatch) -> LossOutput:
        """Phase 4, per minibatch: ``policy_loss`` (+ ``extra_loss``); + the clipped value loss with a critic."""
        total, metrics = self.policy_loss(b)
        total, metrics = self.extra_loss(b, total, metrics)
        if self.uses_critic:
            vf, vclip = clipped_value_loss(b.values, b.old_values, b.returns, b.mask, self.config.value_clip_eps,
                                           b.token_norm)
            total = total + self.config.vf_coef * vf
            metrics.update(value_loss=vf.detach(), value_clip_fraction=vclip)
        return LossOutput(total, (b.logps * b.mask).sum(-1).detach(), metrics)

    def extra_rows(self, rows: list[int]):
        """Phase 4, optional: a rollout of more responses whose log-probs the loss of the minibatch with
        this process's rows ``rows`` needs (XPO: the reference's samples of those prompts). The engine runs
        them in the same forward of the prepared (DDP / FSDP / DeepSpeed) model as the minibatch and
        hands their per-token log-probs to ``loss`` as ``OnlineBatch.extra_logps``. None (default): none."""
        return None

    def extra_loss(self, b: OnlineBatch, total: torch.Tensor, metrics: dict) -> tuple[torch.Tensor, dict]:
        """Terms added to the policy loss before the value loss (GRPO: its k3 KL); default none."""
        return total, metrics

    def run(self, job):
        from prefzoo.engine.online import train_online  # resolved at call time: the leaf loads no engine

        return train_online(job, self)


__all__ = ["register", "Algorithm", "Objective", "OnlineAlgorithm", "OnlineConfig", "OnlineBatch", "NoParams",
           "PairLogps", "SeqLogps", "UnpairedLogps", "LossOutput", "Scores", "FeedbackInput", "AdvantageInput",
           "Advantages", "shaped_rewards", "bt_loss", "soft_sigmoid_loss", "logratio", "pair_metrics", "masked_mean",
           "masked_var", "whiten", "local_sum", "kl_k1", "kl_k3", "clipped_policy_loss", "clipped_value_loss",
           "explained_variance", "gae", "rloo", "group_normalized", "remax", "sequence_advantages",
           "PAIRS", "UNPAIRED", "SFT", "PROMPTS", "ROLLOUT_BACKENDS", "LOSS_AGGS", "SCALE_REWARDS", "aggregate_loss",
           "clipped_surrogate", "cispo_loss_tokens", "sequence_log_ratio", "group_advantages", "varying_groups",
           "soft_overlong_penalty", "kl_k2"]
