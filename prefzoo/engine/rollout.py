"""Rollouts: batched sampling with the KV cache, and the log-prob forward that must agree with it.

Layout of a ``Rollout`` batch (Huang et al. 2024, details on padding and position ids):

    [pad pad p0 p1 p2 | r0 r1 EOS pad]      prompts left-padded to width P, responses right-padded to R
    position ids      0   0  0  1  2 |  3  4   5   ...  (cumsum of the attention mask - 1, as generate)

so every response starts at column P and the response block ``[:, P:]`` lines up across rows.
Responses are cut after their first EOS (the EOS is kept as the last response token). Sampler
log-probs come from the logits generate saw, divided by the temperature; ``response_logps``
recomputes them from one forward of the full sequences with the same temperature and position ids.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, fields
from typing import Any

import torch

from prefzoo.engine import shared_prompts
from prefzoo.engine.decode_step import decode_step
from prefzoo.models.policy import Policy, length_groups, token_logps


@dataclass
class Rollout:
    prompts: list[Any]              # prompt records as given (what the reward sees)
    prompt_ids: list[list[int]]     # encoded prompts
    response_ids: list[list[int]]   # sampled tokens, cut after the first EOS (EOS kept)
    texts: list[str]                # decoded responses (special tokens skipped)
    input_ids: torch.Tensor         # [B, P+R] left-padded prompt + right-padded response
    attention_mask: torch.Tensor    # [B, P+R]
    position_ids: torch.Tensor      # [B, P+R] cumsum(attention_mask) - 1, 0 on left padding
    response_mask: torch.Tensor     # [B, R] float, 1 on response tokens (EOS included)
    eos: torch.Tensor               # [B] bool: the response ended with EOS (not cut by max_new_tokens)
    sampler_logps: torch.Tensor | None = None  # [B, R] log pi(token) under the sampler (logits / T)
    entropy: torch.Tensor | None = None        # [B, R] entropy of the sampler's distribution per token

    @property
    def prompt_width(self) -> int:
        return self.input_ids.shape[1] - self.response_mask.shape[1]

    @property
    def lengths(self) -> torch.Tensor:
        return self.response_mask.sum(-1)

    def __len__(self) -> int:
        return len(self.prompts)

    def select(self, idx: list[int]) -> "Rollout":
        """The rows ``idx`` (a minibatch); tensors indexed, lists picked."""
        t = torch.as_tensor(idx, dtype=torch.long)
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                out[f.name] = v[t.to(v.device)]
            elif isinstance(v, list):
                out[f.name] = [v[i] for i in idx]
            else:
                out[f.name] = v
        return Rollout(**out)


def left_pad(prompt_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    attn = torch.zeros_like(ids)
    for i, p in enumerate(prompt_ids):
        ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        attn[i, width - len(p):] = 1
    return ids, attn


def position_ids_of(attention_mask: torch.Tensor) -> torch.Tensor:
    """0 for the first attended token of each row and up; 0 on left padding (what generate uses)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def cut_at_eos(rows: list[list[int]], eos_id: int) -> tuple[list[list[int]], list[bool]]:
    out, ended = [], []
    for r in rows:
        if eos_id in r:
            out.append(r[: r.index(eos_id) + 1])
            ended.append(True)
        else:
            out.append(list(r))
            ended.append(False)
    return out, ended


def assemble(policy: Policy, prompts: list[Any], prompt_ids: list[list[int]], response_ids: list[list[int]],
             eos: list[bool]) -> Rollout:
    """The padded batch tensors of (prompt, response) rows, on the policy's device."""
    pad = policy.tokenizer.pad_token_id
    p_ids, p_attn = left_pad(prompt_ids, pad)
    width = max(1, max(len(r) for r in response_ids))
    r_ids = torch.full((len(response_ids), width), pad, dtype=torch.long)
    r_mask = torch.zeros((len(response_ids), width), dtype=torch.long)
    for i, r in enumerate(response_ids):
        r_ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        r_mask[i, : len(r)] = 1
    ids = torch.cat([p_ids, r_ids], 1)
    attn = torch.cat([p_attn, r_mask], 1)
    dev = policy.device
    return Rollout(list(prompts), [list(p) for p in prompt_ids], [list(r) for r in response_ids],
                   [policy.decode(r) for r in response_ids], ids.to(dev), attn.to(dev),
                   position_ids_of(attn).to(dev), r_mask.float().to(dev), torch.tensor(eos, device=dev))


@dataclass
class Draws:
    """Where the sampler's uniform draws come from, so that a row's tokens depend on (seed, the row's
    index in the global batch) and not on how rows are split over processes: at every decoding step
    one ``torch.rand(total_rows)`` is drawn from a generator seeded with ``seed`` and each process
    takes the entries of its own ``rows``. With one process ``rows`` is ``range(total_rows)``."""

    seed: int
    total_rows: int
    rows: list[int]

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def take(self, gen: torch.Generator) -> torch.Tensor:
        return torch.rand(self.total_rows, generator=gen, dtype=torch.float64)[self.index]

    @functools.cached_property
    def index(self) -> torch.Tensor:  # built once, not from the list at every decoding step
        return torch.as_tensor(self.rows, dtype=torch.long)


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The token whose cumulative-probability interval holds ``u`` (one uniform in [0, 1) per row), in
    float64. Zero-probability tokens (cut by top-p) are never picked: ``right=True`` returns the first
    index whose cumulative mass exceeds ``u * total``."""
    cdf = probs.double().cumsum(-1)
    target = (u.to(cdf) * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(max=probs.shape[-1] - 1)


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of tokens whose probability reaches ``top_p``."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(sorted_logits, -1)
    drop = probs.cumsum(-1) - probs > top_p  # mass before this token already reaches top_p
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


@torch.no_grad()
def sample(policy: Policy, prompts: list[Any], prompt_ids: list[list[int]], *, max_new_tokens: int,
           temperature: float = 1.0, top_p: float = 1.0, do_sample: bool = True, model=None,
           backend: str = "loop", draws: Draws | None = None, synced: bool = False,
           batch_size: int | None = None, share_prompts: bool = False) -> Rollout:
    """One response per row (KV cache, left padding with matching position ids, stop at EOS).

    ``backend="loop"``: a plain decoding loop over the model's KV cache (one prefill, then one token
    per step; no logits processors), the fast path. It samples by inverse CDF from ``draws`` (or from
    the global RNG when None), so a run's samples do not depend on the number of processes. With
    ``synced`` it keeps stepping until every process is done (sharded models, FSDP / ZeRO-3, run
    collectives in each forward, so all processes must make the same number of forwards).
    ``batch_size``: decode at most this many rows at a time, rows grouped by prompt length (less left
    padding; a group whose rows all ended stops early); with ``draws`` the samples do not change.
    ``share_prompts``: the prefill once per distinct prompt (``shared_prompts``; floats move by rounding).
    ``backend="generate"``: ``model.generate`` (its own sampler; ``synced_gpus`` when ``synced``).
    Sampler log-probs are log_softmax(logits / temperature) of the sampled tokens: with top_p = 1 that
    is exactly the distribution sampled from; with top_p < 1 it is the untruncated tempered
    distribution, the one the training forward recomputes (the convention of Huang et al. 2024 and TRL).
    """
    model = model if model is not None else policy.model
    if backend == "loop":
        if batch_size and batch_size < len(prompt_ids):
            return _sample_by_length(policy, prompts, prompt_ids, max_new_tokens, temperature, top_p, do_sample,
                                     model, draws, synced, batch_size, share_prompts)
        return _sample_loop(policy, prompts, prompt_ids, max_new_tokens, temperature, top_p, do_sample, model,
                            draws, synced, share_prompts)
    if backend != "generate":
        raise ValueError(f"unknown rollout backend {backend!r}: loop | generate")
    pad, eos_id = policy.tokenizer.pad_token_id, policy.tokenizer.eos_token_id
    ids, attn = left_pad(prompt_ids, pad)
    dev = policy.device
    kwargs = dict(do_sample=do_sample, max_new_tokens=max_new_tokens, pad_token_id=pad, eos_token_id=eos_id,
                  return_dict_in_generate=True, output_logits=True, top_p=1.0, temperature=1.0, synced_gpus=synced)
    if do_sample:
        kwargs.update(temperature=temperature, top_p=top_p)
    was_training = model.training
    model.eval()
    try:
        out = model.generate(input_ids=ids.to(dev), attention_mask=attn.to(dev), **kwargs)
    finally:
        model.train(was_training)
    gen = out.sequences[:, ids.shape[1]:]
    responses, ended = cut_at_eos(gen.tolist(), eos_id)
    ro = assemble(policy, prompts, prompt_ids, responses, ended)
    R = ro.response_mask.shape[1]
    logits = torch.stack(out.logits[:R], 1).float()
    if do_sample and temperature != 1.0:
        logits = logits / temperature
    logp_all = torch.log_softmax(logits, -1)
    picked = logp_all.gather(-1, ro.input_ids[:, ro.prompt_width:].unsqueeze(-1)).squeeze(-1)
    ro.sampler_logps = picked * ro.response_mask
    ro.entropy = -(logp_all.exp() * logp_all).sum(-1) * ro.response_mask
    return ro


def _all_done(done: torch.Tensor, synced: bool) -> bool:
    """This process's rows are all done; with ``synced``, every process's rows are."""
    if not synced:
        return bool(done.all())
    import torch.distributed as td

    flag = done.all().to(torch.int32).reshape(1)
    if td.is_available() and td.is_initialized():
        td.all_reduce(flag, op=td.ReduceOp.MIN)
    return bool(flag.item())


# The decoder's shortcuts below change no number: tests/test_decode_exact.py checks tokens, log-probs and
# entropies bitwise against the plain loop they replace.
PLAIN_SDPA_MODELS = ("llama", "mistral", "qwen2", "qwen3")  # decoders whose sdpa mask is causal & padding only


def _plain_sdpa(model) -> bool:
    """The model builds its decoding mask with transformers' ``create_causal_mask`` for sdpa and nothing
    else (no sliding window, no chunked attention), so a ready [B, 1, 1, kv] boolean mask is the one it
    would build from the 2D mask."""
    cfg = getattr(getattr(model, "module", model), "config", None)
    return (cfg is not None and getattr(cfg, "model_type", None) in PLAIN_SDPA_MODELS
            and getattr(cfg, "_attn_implementation", None) == "sdpa"
            and getattr(cfg, "sliding_window", None) is None and getattr(cfg, "attention_chunk_size", None) is None
            and all(t == "full_attention" for t in getattr(cfg, "layer_types", None) or ()))


def _step_masks(model, attn: torch.Tensor, max_new_tokens: int):
    """``mask(kv)``: the attention mask of a decoding forward over ``kv`` positions, cut from one buffer made
    once (no torch.cat per step). A plain sdpa model gets the 4D boolean mask transformers would make of the
    2D one at every forward (its padding rows; None without left padding, as transformers skips it then),
    which it passes through as given (6% of the tiny benchmark's decode); any other model gets the 2D mask."""
    B, P = attn.shape
    full = torch.ones(B, P + max_new_tokens, dtype=attn.dtype, device=attn.device)
    full[:, :P] = attn
    if not _plain_sdpa(model):
        return lambda kv: full[:, :kv]
    if bool(attn.all()):
        return lambda kv: None
    full4 = full.bool()[:, None, None, :]
    return lambda kv: full4[..., :kv]


def _no_autograd(model, synced: bool):
    """``torch.inference_mode`` for the decode (less autograd bookkeeping on each of its many small ops than
    no_grad: 8% of the tiny benchmark's decode), except for sharded models (FSDP, ZeRO-3), whose hooks gather
    and release parameters that training must see as normal tensors."""
    if synced or any(hasattr(p, "ds_id") for p in model.parameters()):
        return contextlib.nullcontext()
    return torch.inference_mode()


def _sample_loop(policy, prompts, prompt_ids, max_new_tokens, temperature, top_p, do_sample, model,
                 draws: Draws | None = None, synced: bool = False, share_prompts: bool = False) -> Rollout:
    from transformers import DynamicCache

    pad, eos_id = policy.tokenizer.pad_token_id, policy.tokenizer.eos_token_id
    dev = policy.device
    ids, attn = left_pad(prompt_ids, pad)
    ids, attn = ids.to(dev), attn.to(dev)
    pos = position_ids_of(attn)
    cache = DynamicCache(config=getattr(model, "config", None))
    cache_kw = shared_prompts.cache_kwarg(model)
    was_training = model.training
    model.eval()
    B, P = ids.shape
    mask = _step_masks(model, attn, max_new_tokens)
    # the decoding forwards as plain tensor operations where the model is one decode_step mirrors (None: the
    # model itself); a sharded model's forwards must run its hooks, so never then
    step = None if synced else decode_step(model, cache)
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    tokens, logps, neg_ents = [], [], []
    gen = draws.generator() if draws is not None else None
    try:
        with _no_autograd(model, synced):
            last = shared_prompts.prefill(model, ids, attn, pos, cache) if share_prompts else None
            if last is None:
                last = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True, logits_to_keep=1,
                             **{cache_kw: cache}).logits[:, -1]
            for _ in range(max_new_tokens):
                logits = last.float()
                if do_sample and temperature != 1.0:
                    logits = logits / temperature
                logp_all = torch.log_softmax(logits, -1)
                if do_sample:
                    u = draws.take(gen) if draws is not None else torch.rand(B, dtype=torch.float64)
                    tok = inverse_cdf(torch.softmax(top_p_filter(logits, top_p), -1), u.to(dev))
                else:
                    tok = logits.argmax(-1)
                tok = tok.masked_fill(done, pad)
                tokens.append(tok)
                logps.append(logp_all.gather(-1, tok.unsqueeze(-1)).squeeze(-1))
                neg_ents.append((logp_all.exp() * logp_all).sum(-1))  # negated once at the end (exact)
                done = done | (tok == eos_id)
                if len(tokens) == max_new_tokens or _all_done(done, synced):
                    break
                pos = pos[:, -1:] + 1
                if step is not None:
                    last = step(tok.unsqueeze(-1), pos, mask(P + len(tokens)))
                else:
                    last = model(input_ids=tok.unsqueeze(-1), attention_mask=mask(P + len(tokens)), position_ids=pos,
                                 use_cache=True, **{cache_kw: cache}).logits[:, -1]
    finally:
        model.train(was_training)
    responses, ended = cut_at_eos(torch.stack(tokens, 1).tolist(), eos_id)
    ro = assemble(policy, prompts, prompt_ids, responses, ended)
    R = ro.response_mask.shape[1]
    ro.sampler_logps = torch.stack(logps, 1)[:, :R] * ro.response_mask
    ro.entropy = -torch.stack(neg_ents, 1)[:, :R] * ro.response_mask
    return ro


def _sample_by_length(policy, prompts, prompt_ids, max_new_tokens, temperature, top_p, do_sample, model,
                      draws: Draws | None, synced: bool, batch_size: int, share_prompts: bool = False) -> Rollout:
    """``_sample_loop`` over groups of at most ``batch_size`` rows of similar prompt length, put back in
    the caller's order. Each row keeps its own draws (``draws.rows``), so grouping changes no sample."""
    groups = length_groups([len(p) for p in prompt_ids], batch_size)
    parts = []
    for idx in groups:
        sub = None if draws is None else Draws(draws.seed, draws.total_rows, [draws.rows[i] for i in idx])
        parts.append(_sample_loop(policy, [prompts[i] for i in idx], [prompt_ids[i] for i in idx], max_new_tokens,
                                  temperature, top_p, do_sample, model, sub, synced, share_prompts))
    responses, ended = [None] * len(prompt_ids), [None] * len(prompt_ids)
    for idx, part in zip(groups, parts):
        for j, i in enumerate(idx):
            responses[i], ended[i] = part.response_ids[j], bool(part.eos[j])
    ro = assemble(policy, prompts, prompt_ids, responses, ended)
    ro.sampler_logps = torch.zeros_like(ro.response_mask)
    ro.entropy = torch.zeros_like(ro.response_mask)
    for idx, part in zip(groups, parts):
        rows, width = torch.as_tensor(idx, device=ro.response_mask.device), part.response_mask.shape[1]
        ro.sampler_logps[rows, :width] = part.sampler_logps
        ro.entropy[rows, :width] = part.entropy
    return ro


def response_logps(model, ro: Rollout, temperature: float = 1.0, share_prompts: bool = False) -> torch.Tensor:
    """Per-token log-probs [B, R] of the response tokens from one forward of the full rows, logits
    divided by ``temperature`` (Huang et al. 2024), position ids as in generation. Only the R+1 last
    positions reach the LM head (``logits_to_keep``). ``share_prompts``: each distinct prompt's tokens run once
    (``shared_prompts.response_logps``; floats move by rounding)."""
    if share_prompts:
        shared = shared_prompts.response_logps(model, ro, temperature)
        if shared is not None:
            return shared
    P, R = ro.prompt_width, ro.response_mask.shape[1]
    logits = model(input_ids=ro.input_ids, attention_mask=ro.attention_mask, position_ids=ro.position_ids,
                   use_cache=False, logits_to_keep=R + 1).logits
    ids = ro.input_ids[:, P - 1:]
    mask = torch.cat([torch.zeros_like(ro.response_mask[:, :1]), ro.response_mask], 1)
    return token_logps(logits, ids, mask, temperature)[:, 1:]


__all__ = ["Rollout", "Draws", "inverse_cdf", "sample", "response_logps", "assemble", "left_pad", "position_ids_of", "cut_at_eos"]
