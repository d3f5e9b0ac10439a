"""One decoding forward of a plain Llama-family decoder, written out as the tensor operations it runs.

At the sizes the toy worlds and the speed benchmarks use, a decoding forward (16 rows, one new token) is
bound by dispatch, not arithmetic: transformers' module calls, decorators, mask and cache bookkeeping cost
about a quarter of it. This runs the same tensor operations in the same order on the same weights, so its
logits are bitwise those of ``model(...)`` (``tests/test_decode_exact.py`` checks the whole sampler against
the plain loop on llama, mistral, qwen2 and qwen3; measured 1.3x faster per forward on the benchmark's
2-layer, 256-wide Llama, ``benchmarks/README.md``). Anything it does not recognise (other architectures,
eager attention, sliding windows, dynamic RoPE, LoRA or quantised layers, a wrapped model, forward hooks, a
forward under autocast) gets None, and the loop calls the model as before.

It mirrors transformers 5.x's ``LlamaModel``, ``LlamaAttention`` and ``sdpa_attention_forward`` for one
query token (q_length 1: no causal flag; grouped heads packed as transformers packs them).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")


def _hooked(model) -> bool:
    """Something runs inside the model's calls that these operations would skip: forward hooks on any of its
    modules (global ones too), or a forward replaced on the instance (accelerate's autocast for bf16 wraps it)."""
    from torch.nn.modules import module as nn_module

    if "forward" in vars(model) or nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def _recognised(model) -> bool:
    cfg = getattr(model, "config", None)
    inner = getattr(model, "model", None)
    if cfg is None or inner is None or getattr(cfg, "model_type", None) not in MODEL_TYPES:
        return False
    if getattr(cfg, "_attn_implementation", None) != "sdpa" or getattr(cfg, "hidden_act", None) != "silu":
        return False
    if getattr(cfg, "sliding_window", None) is not None or getattr(cfg, "attention_chunk_size", None) is not None:
        return False
    if any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or ()):
        return False
    rope = getattr(inner, "rotary_emb", None)
    rope_type = getattr(rope, "rope_type", None)
    if not isinstance(rope_type, str) or "dynamic" in rope_type or rope_type == "longrope":
        return False  # these update their frequencies inside the forward
    if type(getattr(model, "lm_head", None)) is not torch.nn.Linear or _hooked(model):
        return False
    for layer in getattr(inner, "layers", ()):
        attn, mlp = layer.self_attn, layer.mlp
        linears = [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj]
        if any(type(m) is not torch.nn.Linear for m in linears):  # LoRA, quantised or otherwise wrapped
            return False
    return True


def _rms(x: torch.Tensor, norm) -> torch.Tensor:
    """transformers' RMSNorm: in float32, then back to the input dtype before the weight."""
    dtype = x.dtype
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    return norm.weight * h.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def decode_step(model, cache) -> Callable | None:
    """``step(tokens [B, 1], position_ids [B, 1], mask) -> logits [B, V]`` for the decoding forwards after a
    prefill into ``cache`` (a DynamicCache), or None when the model is not one this file mirrors. ``mask``
    is what the loop would hand the model: None or the 4D boolean [B, 1, 1, kv] padding mask. The step
    keeps the keys and values itself (grown by torch.cat, as the cache grows them); ``cache`` is stale
    after the first step."""
    if not _recognised(model):
        return None
    inner = model.model
    layers = list(inner.layers)
    rope = inner.rotary_emb
    keys: list[torch.Tensor] = []
    values: list[torch.Tensor] = []

    def step(tokens: torch.Tensor, position_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if not keys:  # after the prefill
            keys.extend(layer.keys for layer in cache.layers)
            values.extend(layer.values for layer in cache.layers)
        h = F.embedding(tokens, inner.embed_tokens.weight)
        freqs = position_ids[..., None].float() * rope.inv_freq.to(device=h.device, dtype=torch.float)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = (emb.cos() * rope.attention_scaling).to(h.dtype).unsqueeze(1)
        sin = (emb.sin() * rope.attention_scaling).to(h.dtype).unsqueeze(1)
        B = tokens.shape[0]
        for i, layer in enumerate(layers):
            attn, mlp = layer.self_attn, layer.mlp
            x = _rms(h, layer.input_layernorm)
            shape = (B, 1, -1, attn.head_dim)
            q = F.linear(x, attn.q_proj.weight, attn.q_proj.bias).view(shape)
            k = F.linear(x, attn.k_proj.weight, attn.k_proj.bias).view(shape)
            if hasattr(attn, "q_norm"):  # qwen3: RMSNorm over each head before RoPE
                q, k = _rms(q, attn.q_norm), _rms(k, attn.k_norm)
            q, k = q.transpose(1, 2), k.transpose(1, 2)
            v = F.linear(x, attn.v_proj.weight, attn.v_proj.bias).view(shape).transpose(1, 2)
            q = (q * cos) + (_rotate_half(q) * sin)
            k = (k * cos) + (_rotate_half(k) * sin)
            keys[i] = torch.cat([keys[i], k], dim=-2)
            values[i] = torch.cat([values[i], v], dim=-2)
            groups, extra = attn.num_key_value_groups, {}
            if groups > 1:  # as transformers: GQA in sdpa without a mask, else the grouped heads as query rows
                if mask is None and k.shape[-1] <= 256:
                    extra["enable_gqa"] = True
                else:
                    q = q.reshape(B, q.shape[1] // groups, groups, q.shape[-1])
            o = F.scaled_dot_product_attention(q, keys[i], values[i], attn_mask=mask, dropout_p=0.0,
                                               scale=attn.scaling, is_causal=False, **extra)
            o = o.reshape(o.shape[0], -1, 1, v.shape[-1]).transpose(1, 2).contiguous()
            o = o.reshape(B, 1, -1).contiguous()
            h = h + F.linear(o, attn.o_proj.weight, attn.o_proj.bias)
            x = _rms(h, layer.post_attention_layernorm)
            up = F.silu(F.linear(x, mlp.gate_proj.weight, mlp.gate_proj.bias)) * F.linear(x, mlp.up_proj.weight,
                                                                                              mlp.up_proj.bias)
            h = h + F.linear(up, mlp.down_proj.weight, mlp.down_proj.bias)
        h = _rms(h, inner.norm)
        return F.linear(h, model.lm_head.weight, model.lm_head.bias)[:, -1]

    return step


__all__ = ["decode_step", "MODEL_TYPES"]
