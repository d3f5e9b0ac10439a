"""``share_prompts``: one forward per distinct prompt in the prefill, the reference and the training forward.
The same function as the full rows up to float rounding: log-probs within 1e-5, gradients within 1e-5
relative, the same greedy tokens, and GRPO / RLOO runs that log the same numbers within 1e-4. Rows that share
no prompt, or a model it does not handle, run the full rows (bitwise the old path)."""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
import torch

from prefzoo.config import from_dict, to_dict
from prefzoo.data.loaders import records_from_list
from prefzoo.engine import shared_prompts
from prefzoo.engine.rollout import Draws, response_logps, sample
from prefzoo.feedback.base import RuleFeedback
from prefzoo.job import Job
from prefzoo.models.policy import Policy
from prefzoo.models.tiny import tiny_llama, word_tokenizer, words_of
from prefzoo.recipe import TrainConfig
from prefzoo.registry import get
from prefzoo.testing import records_of, tiny_policy

PAIRS = Path(__file__).resolve().parents[1] / "recipes" / "data" / "tiny_pairs.jsonl"


@pytest.fixture(scope="module")
def policy_and_prompts():
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    tok = word_tokenizer(words_of(r[k] for r in rows for k in ("prompt", "chosen", "rejected")))
    policy = Policy(tiny_llama(len(tok), seed=0, hidden_size=64, intermediate_size=128), tok, max_length=96)
    return policy, [r["prompt"] for r in rows]


def _rollout(policy, prompts, k: int, do_sample=True, share=False):
    rows = [p for p in prompts for _ in range(k)]
    ids = [policy.encode_prompt(p) for p in rows]
    return sample(policy, rows, ids, max_new_tokens=10, do_sample=do_sample, draws=Draws(3, len(rows),
                  list(range(len(rows)))), share_prompts=share)


def test_distinct_rows():
    assert shared_prompts.distinct_rows([[1, 2], [3], [1, 2], [3], [4]]) == ([0, 1, 4], [0, 1, 0, 1, 2])


def test_logps_and_gradients_match_the_full_rows(policy_and_prompts):
    policy, prompts = policy_and_prompts
    ro = _rollout(policy, prompts[:5], 4)  # prompts of different lengths: left padding in the shared forward
    assert len(set(map(tuple, ro.prompt_ids))) == 5 and len(set(len(p) for p in ro.prompt_ids)) > 1
    model = policy.model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    full = response_logps(model, ro, 0.8)
    shared = shared_prompts.response_logps(model, ro, 0.8)
    assert shared is not None and shared.shape == full.shape
    torch.testing.assert_close(shared, full, atol=1e-5, rtol=0)
    assert torch.equal(shared == 0, full == 0)  # the same masked positions
    g_full = torch.autograd.grad((full * torch.arange(full.numel()).view_as(full).sin()).sum(), params)
    g_shared = torch.autograd.grad((shared * torch.arange(full.numel()).view_as(full).sin()).sum(), params)
    for a, b in zip(g_full, g_shared):
        assert a.abs().max() > 0 or b.abs().max() == 0
        torch.testing.assert_close(b, a, atol=1e-5 * float(a.abs().max()) + 1e-9, rtol=0)
    assert torch.equal(response_logps(model, ro, 0.8, share_prompts=True), shared)


def test_nothing_to_share_is_the_full_path(policy_and_prompts):
    policy, prompts = policy_and_prompts
    ro = _rollout(policy, prompts[:6], 1)  # six distinct prompts
    assert shared_prompts.response_logps(policy.model, ro) is None
    assert torch.equal(response_logps(policy.model, ro, share_prompts=True), response_logps(policy.model, ro))


def test_shared_prefill_samples_alike(policy_and_prompts):
    policy, prompts = policy_and_prompts
    for do_sample in (False, True):
        a = _rollout(policy, prompts[:4], 4, do_sample)
        b = _rollout(policy, prompts[:4], 4, do_sample, share=True)
        assert a.response_ids == b.response_ids
        torch.testing.assert_close(b.sampler_logps, a.sampler_logps, atol=1e-5, rtol=0)


def _train(name: str, share: bool):
    cls = get(name)
    cfg = from_dict(cls.Config, {**to_dict(cls.Config()), "reward": "judge", "steps": 3, "prompts_per_step": 4,
                                 "samples_per_prompt": 4, "max_new_tokens": 6, "beta": 0.04,
                                 "share_prompts": share})
    pairs, _ = records_from_list(records_of("pairs"), "pairs")
    torch.manual_seed(0)
    policy = tiny_policy(records_of("pairs"))
    blue = RuleFeedback(lambda p, r: r.split().count("blue") / max(1, len(r.split())), name="blue")
    with tempfile.TemporaryDirectory() as tmp:
        job = Job(policy=policy, train=TrainConfig(lr=3e-3, progress=False), out_dir=Path(tmp), seed=0,
                  data={"pairs": pairs}, feedback=blue)
        return cls(cfg).run(job)


@pytest.mark.parametrize("name", ["grpo", "rloo"])
def test_training_logs_the_same_numbers(name, monkeypatch):
    full = _train(name, False)
    used = []

    def counting(what, real):
        def call(*args):
            out = real(*args)
            used.append((what, out is not None))  # None: it fell back to the full rows
            return out
        return call

    monkeypatch.setattr(shared_prompts, "response_logps", counting("logps", shared_prompts.response_logps))
    monkeypatch.setattr(shared_prompts, "prefill", counting("prefill", shared_prompts.prefill))
    shared = _train(name, True)
    # each step shared: the prefill, the reference forward, the training forward (old log-probs: the sampler's)
    assert used.count(("prefill", True)) == 3 and used.count(("logps", True)) == 6, used
    assert len(full.history) == len(shared.history) == 3
    for a, b in zip(full.history, shared.history):
        assert a["response_length"] == b["response_length"]  # the same samples
        for key in ("loss", "kl", "reward_mean", "grad_norm"):
            if key in a and isinstance(a[key], float) and math.isfinite(a[key]):
                assert b[key] == pytest.approx(a[key], abs=1e-4), key
    assert full.history[-1]["grad_norm"] > 0  # the runs trained
