"""``Policy.forward_logps`` runs the LM head only over the span that is scored (``logits_to_keep``) and
``token_logps`` takes its logsumexp in chunks; both must give exactly what one full forward and one
unchunked logsumexp give, in value and in gradient.

The oracle below is the computation as it was before: full logits, one log-softmax over all of them.
"""
from __future__ import annotations

import pytest
import torch

from prefzoo.models.policy import Policy, accepts_logits_to_keep, first_logit_position, token_logps

# Prompts of different lengths (3 to 12 words before the chat template), completions of different lengths.
RECORDS = [
    {"prompt": "sea color ?", "chosen": "the sea is blue .", "rejected": "i do not know ."},
    {"prompt": "what is the color of the coal that we burn at night ?", "chosen": "black .",
     "rejected": "colors are a matter of taste , and coal has none of them ."},
    {"prompt": "color of the sun ?", "chosen": "the sun is yellow .", "rejected": "blue"},
    {"prompt": "is the sky blue on a clear day ?", "chosen": "yes , the sky is blue .", "rejected": "no ."},
]


def oracle_token_logps(logits, input_ids, loss_mask, temperature: float = 1.0):
    """The unchunked formula: every position's log-softmax at once."""
    logits = logits[:, :-1].float() if logits.dtype in (torch.bfloat16, torch.float16) else logits[:, :-1]
    logits = logits / temperature
    picked = torch.gather(logits, -1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)
    out = torch.zeros(input_ids.shape, dtype=picked.dtype)
    out[:, 1:] = picked * loss_mask[:, 1:]
    return out


def full_logps(model, seqs):
    """Per-token log-probs from every position's logits (no ``logits_to_keep``)."""
    logits = model(input_ids=seqs.input_ids, attention_mask=seqs.attention_mask, use_cache=False).logits
    return oracle_token_logps(logits, seqs.input_ids, seqs.loss_mask)


def pair_batch(policy: Policy):
    """Pairs laid out as the offline loop does: [all chosen; all rejected]."""
    encoded, report = policy.encode(RECORDS, "pairs")
    assert report.total_dropped == 0
    prompts = [e.prompt for e in encoded] * 2
    comps = [e.completions[0] for e in encoded] + [e.completions[1] for e in encoded]
    return policy.sequences(prompts, comps)


def grads_of(model, logps, weights):
    """Gradients of a weighted sum of the log-probs w.r.t. every parameter (then cleared)."""
    (logps * weights).sum().backward()
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out


def assert_same(model, span_fn, full_fn, seqs, atol):
    weights = torch.randn(seqs.input_ids.shape, generator=torch.Generator().manual_seed(0)).to(torch.float64)
    span, full = span_fn(), full_fn()
    assert span.shape == full.shape == seqs.input_ids.shape
    torch.testing.assert_close(span, full, atol=atol, rtol=0)
    g_span = grads_of(model, span, weights.to(span.dtype))
    g_full = grads_of(model, full, weights.to(full.dtype))
    assert g_span.keys() == g_full.keys() and g_span
    for name in g_full:
        torch.testing.assert_close(g_span[name], g_full[name], atol=atol, rtol=0, msg=name)


def lm_head_positions(model, run) -> list[int]:
    """How many positions reached the LM head in each forward made by ``run()``."""
    seen = []
    handle = model.get_output_embeddings().register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    try:
        run()
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("dtype,atol", [("float32", 1e-6), ("float64", 1e-12)])
def test_span_forward_matches_full_forward(make_policy, dtype, atol):
    policy = make_policy(RECORDS, dtype=dtype)
    seqs = pair_batch(policy)
    prompt_lens = (seqs.loss_mask.argmax(1)).tolist()
    assert len(set(prompt_lens)) > 1  # the batch really mixes prompt lengths
    start = first_logit_position(seqs.loss_mask)
    assert start == min(prompt_lens) - 1 > 0
    T = seqs.input_ids.shape[1]
    assert lm_head_positions(policy.model, lambda: policy.forward_logps(seqs)) == [T - start]
    assert_same(policy.model, lambda: policy.forward_logps(seqs), lambda: full_logps(policy.model, seqs), seqs, atol)


def test_reference_logps_use_the_span(make_policy, make_reference):
    policy = make_policy(RECORDS, dtype="float64")
    seqs = pair_batch(policy)
    ref = make_reference(policy.model)
    with torch.no_grad():
        torch.testing.assert_close(policy.forward_logps(seqs, ref), full_logps(ref, seqs), atol=1e-12, rtol=0)
        policy._frozen_ref = ref
        torch.testing.assert_close(policy.reference_logps(seqs), full_logps(ref, seqs), atol=1e-12, rtol=0)


class NoKeepWrapper(torch.nn.Module):
    """A model whose forward has no ``logits_to_keep`` (and would reject it)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask, use_cache=False):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache)


class KwargsOnly(torch.nn.Module):
    """``**kwargs`` but no inner model to look through: the argument is not assumed to be honoured."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, **kwargs):
        kwargs.pop("logits_to_keep", None)
        return self.inner(**kwargs)


@pytest.mark.parametrize("wrapper", [NoKeepWrapper, KwargsOnly])
def test_models_without_logits_to_keep_fall_back(make_policy, wrapper):
    policy = make_policy(RECORDS, dtype="float64")
    seqs = pair_batch(policy)
    model = wrapper(policy.model)
    assert not accepts_logits_to_keep(model)
    T = seqs.input_ids.shape[1]
    assert lm_head_positions(policy.model, lambda: policy.forward_logps(seqs, model)) == [T]
    assert_same(model, lambda: policy.forward_logps(seqs, model), lambda: full_logps(policy.model, seqs), seqs,
                1e-12)


class IgnoresKeep(torch.nn.Module):
    """Takes ``logits_to_keep`` but returns every position anyway."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask, use_cache=False, logits_to_keep=0):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache)


def test_a_model_that_ignores_logits_to_keep_still_scores_right(make_policy):
    policy = make_policy(RECORDS, dtype="float64")
    seqs = pair_batch(policy)
    model = IgnoresKeep(policy.model)
    with torch.no_grad():
        torch.testing.assert_close(policy.forward_logps(seqs, model), full_logps(policy.model, seqs),
                                   atol=1e-12, rtol=0)


def test_lora_model_and_its_reference_use_the_span(make_policy):
    from peft import LoraConfig, get_peft_model

    policy = make_policy(RECORDS, dtype="float64")
    policy.model = get_peft_model(policy.model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                           init_lora_weights=False))
    assert policy.is_lora and accepts_logits_to_keep(policy.model)
    seqs = pair_batch(policy)
    T, start = seqs.input_ids.shape[1], first_logit_position(seqs.loss_mask)
    base = policy.model.get_base_model()
    assert lm_head_positions(base, lambda: policy.forward_logps(seqs)) == [T - start]
    assert_same(policy.model, lambda: policy.forward_logps(seqs), lambda: full_logps(policy.model, seqs), seqs,
                1e-12)
    with torch.no_grad(), policy.model.disable_adapter():
        expected = full_logps(policy.model, seqs)
    assert lm_head_positions(base, lambda: policy.reference_logps(seqs)) == [T - start]
    torch.testing.assert_close(policy.reference_logps(seqs), expected, atol=1e-12, rtol=0)


def test_ddp_wrapped_model_uses_the_span(make_policy, tmp_path):
    """Through a real (one-process, gloo) DDP wrapper: the forward goes through ``model(...)``, so DDP's
    gradient hooks fire, and the span is still taken."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if dist.is_initialized():
        pytest.skip("a process group already exists in this process")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        policy = make_policy(RECORDS, dtype="float64")
        seqs = pair_batch(policy)
        ddp = DistributedDataParallel(policy.model)
        assert accepts_logits_to_keep(ddp)
        T, start = seqs.input_ids.shape[1], first_logit_position(seqs.loss_mask)
        assert lm_head_positions(policy.model, lambda: policy.forward_logps(seqs, ddp)) == [T - start]
        assert_same(policy.model, lambda: policy.forward_logps(seqs, ddp), lambda: full_logps(policy.model, seqs),
                    seqs, 1e-12)
    finally:
        dist.destroy_process_group()


def test_first_logit_position():
    mask = torch.tensor([[0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 1]])
    assert first_logit_position(mask) == 2
    assert first_logit_position(torch.tensor([[1, 1, 0]])) == 0  # empty prompt: nothing to cut
    assert first_logit_position(torch.zeros(2, 3, dtype=torch.long)) == 0  # nothing scored


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("positions_per_chunk", [1, 3, 7, 1000])
def test_chunked_logsumexp_equals_unchunked(dtype, atol, temperature, positions_per_chunk):
    g = torch.Generator().manual_seed(0)
    B, T, V = 3, 7, 50
    logits = (3 * torch.randn(B, T, V, generator=g, dtype=dtype)).requires_grad_(True)
    ids = torch.randint(0, V, (B, T), generator=g)
    mask = (torch.rand(B, T, generator=g) > 0.3).long()
    weights = torch.randn(B, T, generator=g, dtype=dtype)

    got = token_logps(logits, ids, mask, temperature, chunk=positions_per_chunk * V)
    (grad_got,) = torch.autograd.grad((got * weights).sum(), logits)
    want = oracle_token_logps(logits, ids, mask, temperature)
    (grad_want,) = torch.autograd.grad((want * weights).sum(), logits)
    assert got.dtype == dtype
    torch.testing.assert_close(got, want, atol=atol, rtol=0)
    torch.testing.assert_close(grad_got, grad_want, atol=atol, rtol=0)


def test_chunked_logsumexp_upcasts_half_precision():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 40, generator=g).to(torch.bfloat16)
    ids = torch.randint(0, 40, (2, 5), generator=g)
    mask = torch.ones(2, 5, dtype=torch.long)
    got = token_logps(logits, ids, mask, chunk=2 * 40)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, oracle_token_logps(logits, ids, mask), atol=1e-6, rtol=0)
