"""The memory switches of issue #17 change memory, not numbers.

* ``head_token_logps`` (``Policy.fused_lm_head``): log-probs from the LM head's input, the logits never
  kept; value and gradient equal to ``token_logps`` over the logits (float64 to 1e-12, float32 to 1e-6).
* micro-batching through the offline loop's ``train.batch_size`` x ``train.grad_accum``: the DPO loss and
  gradient norm of a step of 8 pairs are the same as 8x1, 4x2 and 2x4.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from prefzoo.models.policy import Policy, head_token_logps, plain_frozen_head, token_logps

from test_logps_span import RECORDS, full_logps, pair_batch

ROOT = Path(__file__).resolve().parents[1]


def _logit_batch(dtype, B=3, T=7, H=5, V=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(B, T, H, generator=g, dtype=dtype, requires_grad=True)
    weight, bias = torch.randn(V, H, generator=g, dtype=dtype), torch.randn(V, generator=g, dtype=dtype)
    ids = torch.randint(0, V, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.long)
    mask[0, 3:], mask[1, 1:5], mask[2, 6:] = 1, 1, 1  # different spans, one of a single token
    upstream = torch.randn(B, T, generator=g, dtype=dtype)
    return hidden, weight, bias, ids, mask, upstream


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("rows_per_chunk", [1, 4, 1000])
@pytest.mark.parametrize("with_bias", [False, True])
def test_head_token_logps_equals_token_logps_in_value_and_gradient(dtype, atol, rows_per_chunk, with_bias):
    hidden, weight, bias, ids, mask, upstream = _logit_batch(dtype)
    bias = bias if with_bias else None
    V = weight.shape[0]
    fused = head_token_logps(hidden, weight, bias, ids, mask, chunk=rows_per_chunk * V)
    (g_fused,) = torch.autograd.grad((fused * upstream).sum(), hidden)
    plain = token_logps(torch.nn.functional.linear(hidden, weight, bias), ids, mask)
    (g_plain,) = torch.autograd.grad((plain * upstream).sum(), hidden)
    assert fused.dtype == plain.dtype == dtype
    torch.testing.assert_close(fused, plain, atol=atol, rtol=0)
    torch.testing.assert_close(g_fused, g_plain, atol=atol, rtol=0)
    # unscored tokens have no value; hidden states that predict none (position t predicts token t+1) no grad
    assert (fused[mask == 0] == 0).all() and (g_fused[2, :5] == 0).all() and (g_fused[:, -1] == 0).all()


def test_head_token_logps_refuses_a_trained_head():
    hidden, weight, _, ids, mask, _ = _logit_batch(torch.float64)
    with pytest.raises(ValueError, match="no gradient"):
        head_token_logps(hidden, weight.requires_grad_(), None, ids, mask)


def test_head_token_logps_without_grad_keeps_nothing():
    hidden, weight, _, ids, mask, _ = _logit_batch(torch.float64)
    with torch.no_grad():
        out = head_token_logps(hidden, weight, None, ids, mask)
    assert out.grad_fn is None
    torch.testing.assert_close(out, token_logps(hidden.detach() @ weight.T, ids, mask), atol=1e-12, rtol=0)


def _lora_policy(make_policy, dtype):
    from peft import LoraConfig, get_peft_model

    policy = make_policy(RECORDS, dtype=dtype)
    policy.model = get_peft_model(policy.model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                           init_lora_weights=False))
    return policy


def _dpo_loss_and_grads(policy, seqs, fused: bool, ref):
    """DPO loss (beta 0.1) of the pairs and the LoRA gradients, with the fused head on or off."""
    old, Policy.fused_lm_head = Policy.fused_lm_head, fused
    try:
        sums = policy.forward_logps(seqs).sum(-1)
        b = len(sums) // 2
        loss = -torch.nn.functional.logsigmoid(0.1 * ((sums[:b] - ref[:b]) - (sums[b:] - ref[b:]))).mean()
        loss.backward()
    finally:
        Policy.fused_lm_head = old
    grads = {n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None}
    policy.model.zero_grad(set_to_none=True)
    return loss.detach(), grads


@pytest.mark.parametrize("dtype,atol", [("float64", 1e-12), ("float32", 1e-6)])
def test_lora_policy_loss_and_grads_are_the_same_with_the_fused_head(make_policy, dtype, atol):
    policy = _lora_policy(make_policy, dtype)
    head = plain_frozen_head(policy.model)
    assert head is policy.model.get_base_model().lm_head  # the fused path is the one taken
    seqs = pair_batch(policy)
    ref = policy.reference_logps(seqs).sum(-1)
    with torch.no_grad(), policy.model.disable_adapter():
        expected_ref = full_logps(policy.model, seqs).sum(-1)
    torch.testing.assert_close(ref, expected_ref, atol=atol, rtol=0)  # the reference forward, fused, no grad
    loss_f, grads_f = _dpo_loss_and_grads(policy, seqs, True, ref)
    loss_p, grads_p = _dpo_loss_and_grads(policy, seqs, False, ref)
    assert grads_f.keys() == grads_p.keys() and len(grads_f) > 10 and all("lora_" in n for n in grads_f)
    torch.testing.assert_close(loss_f, loss_p, atol=atol, rtol=0)
    for name in grads_p:
        torch.testing.assert_close(grads_f[name], grads_p[name], atol=atol, rtol=0, msg=name)


def test_the_fused_head_steps_aside_where_it_cannot_apply(make_policy):
    policy = make_policy(RECORDS, dtype="float32")
    assert plain_frozen_head(policy.model) is None  # full fine-tuning: the (tied) head is trained
    policy = _lora_policy(make_policy, "float32")
    assert plain_frozen_head(policy.model) is not None
    handle = policy.model.register_forward_hook(lambda *a: None)  # a hook may read the logits
    assert plain_frozen_head(policy.model) is None
    handle.remove()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # reduced-precision logits
        assert plain_frozen_head(policy.model) is None
    assert plain_frozen_head(ModuleWrapper(policy.model)) is None  # FSDP/DeepSpeed-like: the head may be a shard
    assert plain_frozen_head(policy.model.to(torch.bfloat16)) is None


class ModuleWrapper(torch.nn.Module):
    """A ``.module`` wrapper that is not DDP (as FSDP and DeepSpeed's engine are)."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, **kwargs):
        return self.module(**kwargs)


def test_the_fused_head_goes_through_a_ddp_wrapper(make_policy, tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if dist.is_initialized():
        pytest.skip("a process group already exists in this process")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        policy = _lora_policy(make_policy, "float64")
        ddp = DistributedDataParallel(policy.model)
        assert plain_frozen_head(ddp) is policy.model.get_base_model().lm_head
        seqs = pair_batch(policy)
        weights = torch.randn(seqs.input_ids.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        grads = []
        for fused in (True, False):
            Policy.fused_lm_head = fused
            try:
                (policy.forward_logps(seqs, ddp) * weights).sum().backward()
            finally:
                Policy.fused_lm_head = True
            grads.append({n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None})
            policy.model.zero_grad(set_to_none=True)
        assert grads[0].keys() == grads[1].keys() and grads[0]
        for name in grads[1]:
            torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-12, rtol=0, msg=name)
    finally:
        dist.destroy_process_group()


def _first_step(tmp_path, batch: int, accum: int) -> dict:
    from prefzoo.engine.tracking import read_metrics
    from prefzoo.recipe import load_train_recipe
    from prefzoo.runner import run_recipe

    out = tmp_path / f"{batch}x{accum}"
    recipe = load_train_recipe(ROOT / "recipes" / "tiny-dpo.yaml", [
        "model.dtype=float64", f"train.batch_size={batch}", f"train.grad_accum={accum}", "train.max_steps=1",
        "train.progress=false", "train.shuffle=false", f"train.cache_dir={tmp_path / 'cache'}", "params.beta=0.5"])
    run_recipe(recipe, out, recipe_dir=ROOT / "recipes")
    row = read_metrics(out)[0]
    assert json.loads((out / "result.json").read_text())["info"]["steps"] == 1
    return row


def test_micro_batches_give_the_same_step(tmp_path):
    """8 pairs per optimizer step as 8x1, 4x2 and 2x4 (``train.batch_size`` x ``train.grad_accum``): the
    same loss and gradient norm (float64), so a smaller micro-batch is a memory choice, not a numbers one."""
    rows = {f"{b}x{a}": _first_step(tmp_path, b, a) for b, a in ((8, 1), (4, 2), (2, 4))}
    for name, row in rows.items():
        assert row["loss"] == pytest.approx(rows["8x1"]["loss"], abs=1e-12), name
        assert row["grad_norm"] == pytest.approx(rows["8x1"]["grad_norm"], abs=1e-12), name
        assert row["grad_norm"] > 0
