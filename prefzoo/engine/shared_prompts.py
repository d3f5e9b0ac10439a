"""One forward per distinct prompt (``OnlineConfig.share_prompts``, opt-in).

GRPO, RLOO and the other group methods sample k completions of every prompt, so a rollout batch holds each
prompt k times, and the sampler's prefill, the reference forward and the training forward with its backward
all run every prompt's tokens k times. Here each distinct prompt runs once into a KV cache, the cache is
copied to the prompt's rows (``index_select``: autograd sums the copies' gradients back into the one prompt
forward), and only the completions run per row. The same function of the weights; the floats move by
rounding (~1e-6 on the log-probs, ~1e-6 relative on the gradients: other shapes accumulate differently),
which is why it is not the default (the committed results reproduce bitwise without it). Dense decoders
only (the ones ``decode_step`` mirrors, whose rows do not see each other), one process only (a DDP wrapper
expects one forward per backward); anything else runs the full rows as before.
"""
from __future__ import annotations

import inspect

import torch

from prefzoo.engine.decode_step import MODEL_TYPES
from prefzoo.models.policy import token_logps


def cache_kwarg(model) -> str:
    """transformers >= 5.2x names the cache argument ``cache``; older versions ``past_key_values``. Read from the
    inner model: a DDP/FSDP wrapper's forward takes **kwargs and would hide it, and PEFT's names only the old one
    (it passes **kwargs through), so a LoRA policy was handed the name transformers will drop in 5.40."""
    inner = getattr(model, "module", model)
    inner = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    fwd = getattr(inner, "forward", inner)
    return "cache" if "cache" in inspect.signature(fwd).parameters else "past_key_values"


def distinct_rows(prompt_rows: list[list[int]]) -> tuple[list[int], list[int]]:
    """(the first row of each distinct prompt, each row's index among the distinct prompts)."""
    first: dict[tuple, int] = {}
    rows, back = [], []
    for i, p in enumerate(prompt_rows):
        key = tuple(p)
        if key not in first:
            first[key] = len(rows)
            rows.append(i)
        back.append(first[key])
    return rows, back


def can_share(model) -> bool:
    import torch.distributed as td

    if hasattr(model, "module") or (td.is_available() and td.is_initialized() and td.get_world_size() > 1):
        return False
    return getattr(getattr(model, "config", None), "model_type", None) in MODEL_TYPES


def _shared_rows(model, prompt_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``distinct_rows`` of left-padded prompt rows (equal rows are equal prompts) as index tensors, or None when
    no prompt repeats or the model is not one to share for."""
    rows, back = distinct_rows(prompt_ids.tolist())
    if len(rows) == len(back) or not can_share(model):
        return None
    dev = prompt_ids.device
    return torch.as_tensor(rows, device=dev), torch.as_tensor(back, device=dev)


def prefill(model, ids, attn, pos, cache) -> torch.Tensor | None:
    """The sampler's prompt forward into ``cache``, once per distinct prompt row (left-padded rows: equal rows
    are equal prompts); the last position's logits [B, V]. None when there is nothing to share."""
    shared = _shared_rows(model, ids)
    if shared is None:
        return None
    rows, back = shared
    last = model(input_ids=ids[rows], attention_mask=attn[rows], position_ids=pos[rows], use_cache=True,
                 logits_to_keep=1, **{cache_kwarg(model): cache}).logits[:, -1]
    cache.reorder_cache(back)  # every row gets its prompt's keys and values
    return last[back]


def response_logps(model, ro, temperature: float = 1.0) -> torch.Tensor | None:
    """``rollout.response_logps`` with one prompt forward per distinct prompt, or None when nothing is shared.
    The prompt forward gives the logits at the last prompt position (the first response token's); the
    completions run on the copied cache, their position ids and the rows' full attention mask."""
    from transformers import DynamicCache

    P = ro.prompt_width
    ids, attn, pos = ro.input_ids, ro.attention_mask, ro.position_ids
    shared = _shared_rows(model, ids[:, :P])
    if shared is None:
        return None
    rows, back = shared
    cache, kw = DynamicCache(config=getattr(model, "config", None)), cache_kwarg(model)
    head = model(input_ids=ids[rows, :P], attention_mask=attn[rows, :P], position_ids=pos[rows, :P], use_cache=True,
                 logits_to_keep=1, **{kw: cache}).logits
    cache.reorder_cache(back)
    tail = model(input_ids=ids[:, P:], attention_mask=attn, position_ids=pos[:, P:], use_cache=True,
                 **{kw: cache}).logits
    logits = torch.cat([head[back], tail], 1)  # positions P-1 .. P+R-1, as the full forward's last R+1
    mask = torch.cat([torch.zeros_like(ro.response_mask[:, :1]), ro.response_mask], 1)
    return token_logps(logits, ids[:, P - 1:], mask, temperature)[:, 1:]


__all__ = ["cache_kwarg", "distinct_rows", "can_share", "prefill", "response_logps"]
