"""Sequences for one forward: encoded records, right-padded batches, per-token log-probs, length groups.

Model-agnostic helpers of :mod:`prefzoo.models.policy` (which re-exports them): torch only, no
tokenizer or model loading.
"""
from __future__ import annotations

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


__all__ = ["Encoded", "SeqBatch", "pad_sequences", "token_logps", "sum_logps", "completion_text",
           "accepts_logits_to_keep", "first_logit_position", "LOGSUMEXP_CHUNK", "length_groups"]
