"""Stage: sample from a geometric mixture of the policy and the reference (nash-md), or from the
reference alone (xpo's exploration samples).

Nash-MD (Munos et al. 2023, arXiv 2312.00886, sec. 6) plays the policy against the regularised
opponent pi_mix(y|x) proportional to pi(y|x)^(1-alpha) pi_ref(y|x)^alpha, approximated token by token:

    logits_mix = (1 - alpha) * logits_pi + alpha * logits_ref       (TRL's GeometricMixtureWrapper)

so log_softmax(logits_mix) = (1 - alpha) log pi + alpha log pi_ref - log Z per token. alpha = 1 is the
reference itself (its forward alone is run). Sampling is plain ancestral sampling at ``temperature``
with a seeded generator; each step runs the full forward (no KV cache: short responses and small
models; the loop backend's cached decoder in ``prefzoo.engine.rollout`` samples the policy itself).
"""
from __future__ import annotations

import torch

from prefzoo.engine.rollout import Rollout, assemble, cut_at_eos, left_pad, position_ids_of


def mixture_logits(policy_logits: torch.Tensor | None, ref_logits: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1 - alpha) * policy_logits + alpha * ref_logits ([..., V]); ``policy_logits`` None: alpha = 1."""
    if policy_logits is None or alpha == 1.0:
        return ref_logits
    return (1.0 - alpha) * policy_logits + alpha * ref_logits


def _last_logits(model, ids: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    out = model(input_ids=ids, attention_mask=attn, position_ids=position_ids_of(attn), use_cache=False)
    return out.logits[:, -1].float()


@torch.no_grad()
def sample_mixture(policy, model, ref_model, prompts: list, prompt_ids: list[list[int]], *, alpha: float,
                   max_new_tokens: int, temperature: float = 1.0, seed: int = 0) -> Rollout:
    """One sample per prompt from the token-level geometric mixture of ``model`` (weight 1 - alpha)
    and ``ref_model`` (weight alpha). Returns a ``Rollout`` (texts, response ids cut after EOS, eos)."""
    pad, eos_id, dev = policy.tokenizer.pad_token_id, policy.tokenizer.eos_token_id, policy.device
    ids, attn = left_pad(prompt_ids, pad)
    ids, attn = ids.to(dev), attn.to(dev)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=dev)
    tokens = []
    was = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            ref_l = _last_logits(ref_model, ids, attn)
            pol_l = _last_logits(model, ids, attn) if alpha != 1.0 else None
            probs = torch.softmax(mixture_logits(pol_l, ref_l, alpha) / temperature, -1)
            tok = torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(-1).to(dev)
            tok = torch.where(done, torch.full_like(tok, pad), tok)
            tokens.append(tok)
            done = done | (tok == eos_id)
            if bool(done.all()):
                break
            ids = torch.cat([ids, tok.unsqueeze(-1)], 1)
            attn = torch.cat([attn, (~done | (tok == eos_id)).long().unsqueeze(-1)], 1)
    finally:
        model.train(was)
    responses, ended = cut_at_eos(torch.stack(tokens, 1).tolist(), eos_id)
    return assemble(policy, prompts, prompt_ids, responses, ended)


def completion_logps(policy, model, ro: Rollout) -> torch.Tensor:
    """Summed log-probs [B] of ``ro``'s responses under ``model`` (with grad when ``model`` trains)."""
    comps = [r or [policy.tokenizer.eos_token_id] for r in ro.response_ids]
    return policy.forward_logps(policy.sequences(ro.prompt_ids, comps), model).sum(-1)


__all__ = ["mixture_logits", "sample_mixture", "completion_logps"]
