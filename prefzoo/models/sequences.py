"""Sequences for one forward: encoded records, right-padded batches, per-token log-probs, length groups,
and the LM head scored from its input (``head_token_logps``), which keeps that forward's memory down.

Model-agnostic helpers of :mod:`prefzoo.models.policy` (which re-exports them): torch only, no
tokenizer or model loading.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Any

import torch


def completion_text(completion: Any) -> str:
    """A completion as text: a string as is, a message list as its assistant contents."""
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] for m in completion if m.get("role", "assistant") == "assistant")


@dataclass
class Encoded:
    """One tokenized record. ``completions`` holds one list (sft/unpaired) or two (chosen, rejected)."""

    index: int
    prompt: list[int]
    completions: list[list[int]]
    label: float = 1.0          # unpaired: 1 desirable, 0 undesirable; pairs: p_chosen (1 if absent)


@dataclass
class SeqBatch:
    """Right-padded sequences for one forward: ``loss_mask`` marks completion tokens (labels)."""

    input_ids: torch.Tensor      # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    loss_mask: torch.Tensor      # [B, T], 1 where the token at t is a completion token

    def to(self, device) -> "SeqBatch":
        return SeqBatch(self.input_ids.to(device), self.attention_mask.to(device), self.loss_mask.to(device))


def pad_sequences(prompts: list[list[int]], completions: list[list[int]], pad_id: int) -> SeqBatch:
    """Concatenate prompt+completion per row and right-pad to the longest row."""
    rows = [p + c for p, c in zip(prompts, completions)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompts, rows)):
        ids[i, : len(r)] = torch.tensor(r)
        attn[i, : len(r)] = 1
        mask[i, len(p): len(r)] = 1
    return SeqBatch(ids, attn, mask)


# Positions x vocabulary entries per logsumexp chunk: 2**22 float32 values = 16 MiB of temporary
# memory, whatever the batch size or sequence length (V = 49152 -> 85 positions a chunk).
LOGSUMEXP_CHUNK = 2 ** 22


def token_logps(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor,
                temperature: float = 1.0, *, chunk: int = LOGSUMEXP_CHUNK) -> torch.Tensor:
    """Per-token log p(token_t | tokens_<t) for positions in ``loss_mask``, zero elsewhere. [B, T].

    The logsumexp over the vocabulary runs over ``chunk`` // V positions at a time (``chunk`` counts
    positions x vocabulary entries), so its temporaries never exceed one chunk instead of a second
    [B, T, V] tensor; values are those of one logsumexp over the whole tensor, and gradients flow
    through every chunk. (Under autograd a half-precision input's float32 upcast, or its division by
    ``temperature``, is still kept for the backward, chunk by chunk, as it was unchunked.)"""
    B, T, V = logits.shape
    flat = logits.reshape(B * T, V)  # a view: model outputs are contiguous
    # The target of position t is token t+1; the last position gets a dummy target (token 0 of its row,
    # a valid id) and is dropped below, which avoids slicing [:, :-1] before the split (that slice's
    # backward would allocate a second full-size gradient).
    targets = torch.roll(input_ids, -1, dims=1).reshape(B * T)
    per_chunk = max(1, chunk // V)
    parts = []
    for x, y in zip(flat.split(per_chunk), targets.split(per_chunk)):
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        if temperature != 1.0:
            x = x / temperature
        parts.append(x.gather(-1, y.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(x, dim=-1))
    picked = torch.cat(parts).view(B, T)[:, :-1]
    out = torch.zeros(input_ids.shape, dtype=picked.dtype, device=picked.device)
    out[:, 1:] = picked * loss_mask[:, 1:]
    return out


class _HeadLogps(torch.autograd.Function):
    """log softmax(h W^T + b)[target] per row of ``hidden`` [N, H], ``per_chunk`` rows at a time.

    d logp_i / d h_i = (onehot(target_i) - softmax_i) W needs no upstream value, so the forward forms it
    chunk by chunk and keeps only that [N, H] tensor: neither the [N, V] logits nor their gradient ever
    exist whole. The backward scales it by the upstream gradient (the autograd path multiplies before the
    matmul, this one after: equal up to float reassociation). The head itself gets no gradient."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, per_chunk):
        out = hidden.new_empty(hidden.shape[0])
        grad = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        for i in range(0, hidden.shape[0], per_chunk):
            x = torch.nn.functional.linear(hidden[i: i + per_chunk], weight, bias)
            y = targets[i: i + per_chunk].unsqueeze(-1)
            lse = torch.logsumexp(x, dim=-1, keepdim=True)
            out[i: i + per_chunk] = (x.gather(-1, y) - lse).squeeze(-1)
            if grad is not None:  # in place on the chunk's logits: onehot - softmax
                x = x.sub_(lse).exp_().neg_().scatter_add_(-1, y, torch.ones_like(y, dtype=x.dtype))
                torch.matmul(x, weight, out=grad[i: i + per_chunk])
        ctx.save_for_backward(grad)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return (None if grad is None else grad * grad_out.unsqueeze(-1)), None, None, None, None


def head_token_logps(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                     input_ids: torch.Tensor, loss_mask: torch.Tensor, *, chunk: int = LOGSUMEXP_CHUNK) -> torch.Tensor:
    """``token_logps(hidden @ weight.T + bias, input_ids, loss_mask)`` from the LM head's input ``hidden``
    [B, T, H], without keeping the logits for the backward (see ``_HeadLogps``; ``chunk`` as there).
    For a frozen head in float32/float64 only: the values match up to float reassociation."""
    if weight.requires_grad or (bias is not None and bias.requires_grad):
        raise ValueError("head_token_logps gives the head no gradient: use token_logps for a trained head")
    B, T, H = hidden.shape
    targets = torch.roll(input_ids, -1, dims=1).reshape(B * T)  # as token_logps: the last column is dropped
    picked = _HeadLogps.apply(hidden.reshape(B * T, H), weight, bias, targets,
                              max(1, chunk // weight.shape[0])).view(B, T)[:, :-1]
    out = torch.zeros(input_ids.shape, dtype=picked.dtype, device=picked.device)
    out[:, 1:] = picked * loss_mask[:, 1:]
    return out


def accepts_logits_to_keep(model) -> bool:
    """Whether ``model(...)`` honours ``logits_to_keep``. Wrappers that pass keyword arguments through
    (DDP/FSDP ``.module``, ``torch.compile``'s ``._orig_mod``, PEFT's base model) are looked through to
    the model that finally receives them; a forward that only has ``**kwargs`` does not count, since
    it may drop or reject the argument."""
    while model is not None:
        forward = getattr(model, "forward", model)
        try:
            params = inspect.signature(forward).parameters
        except (TypeError, ValueError):
            return False
        if "logits_to_keep" in params:
            return True
        if hasattr(model, "get_base_model"):  # PEFT
            inner = model.get_base_model()
        else:
            inner = getattr(model, "module", None)
            inner = inner if inner is not None else getattr(model, "_orig_mod", None)
        model = inner if inner is not model else None
    return False


# Causal LMs whose forward is ``logits = lm_head(hidden[:, -logits_to_keep:])`` and nothing after it (no
# soft-capping or scaling), so the head's input and weight give the same log-probs without the logits.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def _unwrapped(model):
    """The model under DDP and PEFT wrappers, or None when one of the layers has forward hooks (they may
    read the logits), is compiled (``_orig_mod``: the head cannot be swapped) or is another ``.module``
    wrapper (FSDP, DeepSpeed: outside their forward the head's weight may be a shard)."""
    from torch.nn.parallel import DistributedDataParallel

    while True:
        if getattr(model, "_forward_hooks", None) or getattr(model, "_forward_pre_hooks", None) \
                or hasattr(model, "_orig_mod"):
            return None
        if hasattr(model, "get_base_model"):  # PEFT
            inner = model.get_base_model()
        elif hasattr(model, "module"):
            if not isinstance(model, DistributedDataParallel):
                return None
            inner = model.module
        else:
            return model
        if inner is model:
            return model
        model = inner


def plain_frozen_head(model):
    """The LM head of ``model`` when ``forward_logps`` may compute log-probs from its input instead of
    its logits: a plain ``nn.Linear`` in float32/float64 that gets no gradient (LoRA, a frozen reference),
    in a model of ``PLAIN_HEAD_MODEL_TYPES``, with no hooks and no autocast in the way; else None."""
    inner = _unwrapped(model)
    config = getattr(inner, "config", None)
    if config is None or getattr(config, "model_type", None) not in PLAIN_HEAD_MODEL_TYPES:
        return None
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    if type(head) is not torch.nn.Linear or head._forward_hooks or head._forward_pre_hooks:
        return None
    if any(p.requires_grad for p in head.parameters()) or head.weight.dtype not in (torch.float32, torch.float64):
        return None
    if type(head.weight.data) is not torch.Tensor or hasattr(head.weight, "ds_id"):  # a DTensor or ZeRO-3 shard
        return None
    if torch.is_autocast_enabled(head.weight.device.type):  # reduced-precision logits: keep the autograd path
        return None
    return head


@contextlib.contextmanager
def head_returns_input(head):
    """While open, ``head(x)`` returns ``x``: the model's "logits" are the head's input."""
    head.forward = lambda x: x  # an instance attribute shadows the class's forward
    try:
        yield
    finally:
        del head.forward


def first_logit_position(loss_mask: torch.Tensor) -> int:
    """The first position whose logits any row needs: one before the earliest completion token
    (position t's logits predict token t+1). 0 when no row has a completion token."""
    columns = loss_mask.any(0).nonzero()
    return max(int(columns[0]) - 1, 0) if len(columns) else 0


def length_groups(lengths: list[int], size: int) -> list[list[int]]:
    """Row indices in groups of at most ``size``, by increasing length: a batch of similar prompt
    lengths wastes less compute on left padding (and its rows tend to finish together)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i: i + size] for i in range(0, len(order), size)]


def sum_logps(token_logps_: torch.Tensor, loss_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequence log-prob sums [B] and completion lengths [B]."""
    return token_logps_.sum(-1), loss_mask.sum(-1).to(token_logps_.dtype)


__all__ = ["Encoded", "SeqBatch", "pad_sequences", "token_logps", "head_token_logps", "sum_logps",
           "completion_text", "accepts_logits_to_keep", "first_logit_position", "LOGSUMEXP_CHUNK", "length_groups",
           "plain_frozen_head", "head_returns_input", "PLAIN_HEAD_MODEL_TYPES"]
