"""Rollouts: sampler log-probs agree with the training forward, padding and EOS handling."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from prefzoo.engine.rollout import (Draws, cut_at_eos, inverse_cdf, left_pad, position_ids_of, response_logps, sample,
                                    top_p_filter)
from prefzoo.models.policy import Policy
from prefzoo.models.tiny import words_of
from prefzoo.recipe import ModelConfig

PAIRS = Path(__file__).resolve().parents[1] / "recipes" / "data" / "tiny_pairs.jsonl"


@pytest.fixture(scope="module")
def policy_and_prompts():
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    vocab = words_of(r[k] for r in rows for k in ("prompt", "chosen", "rejected"))
    policy = Policy.load(ModelConfig(base="tiny"), vocab=vocab, seed=0)
    prompts = [r["prompt"] for r in rows[:12]]  # prompts of different lengths: real left padding
    ids = [policy.encode_prompt(p) for p in prompts]
    assert len({len(i) for i in ids}) > 1
    return policy, prompts, ids


@pytest.mark.parametrize("backend", ["generate", "loop"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampler_logps_match_training_forward(policy_and_prompts, backend, temperature):
    """Step 0: log-probs recomputed by one forward (logits / T, rollout position ids) equal the
    sampler's (generate's output_logits / T with top_p = 1 and no top-k, or the loop's) within 1e-4."""
    policy, prompts, ids = policy_and_prompts
    torch.manual_seed(0)
    ro = sample(policy, prompts, ids, max_new_tokens=10, temperature=temperature, top_p=1.0, backend=backend)
    with torch.no_grad():
        recomputed = response_logps(policy.model, ro, temperature)
    assert ro.sampler_logps.shape == recomputed.shape == ro.response_mask.shape
    assert (ro.sampler_logps * (1 - ro.response_mask)).abs().max() == 0
    torch.testing.assert_close(recomputed, ro.sampler_logps, atol=1e-4, rtol=0)
    # without the temperature the recomputation would be wrong: the test can fail
    if temperature != 1.0:
        with torch.no_grad():
            wrong = response_logps(policy.model, ro, 1.0)
        assert (wrong - ro.sampler_logps).abs().max() > 1e-2


def test_layout_padding_positions_and_eos(policy_and_prompts):
    policy, prompts, ids = policy_and_prompts
    eos = policy.tokenizer.eos_token_id
    torch.manual_seed(1)
    ro = sample(policy, prompts, ids, max_new_tokens=12)
    P = ro.prompt_width
    assert P == max(len(i) for i in ids)
    for i, (p, r) in enumerate(zip(ids, ro.response_ids)):
        # prompt left-padded to P, response from column P; position ids start at 0 on the first real token
        assert ro.input_ids[i, P - len(p):P].tolist() == p
        assert ro.attention_mask[i, : P - len(p)].sum() == 0
        assert ro.position_ids[i, P - len(p)] == 0 and ro.position_ids[i, P - 1] == len(p) - 1
        assert ro.input_ids[i, P:P + len(r)].tolist() == r
        assert int(ro.response_mask[i].sum()) == len(r)
        # cut at the first EOS (kept), flag set; no EOS only when the length limit was hit
        assert (eos in r) == bool(ro.eos[i])
        if eos in r:
            assert r.index(eos) == len(r) - 1
        else:
            assert len(r) == 12


def test_greedy_loop_equals_generate(policy_and_prompts):
    policy, prompts, ids = policy_and_prompts
    a = sample(policy, prompts, ids, max_new_tokens=8, do_sample=False, backend="loop")
    b = sample(policy, prompts, ids, max_new_tokens=8, do_sample=False, backend="generate")
    assert a.response_ids == b.response_ids
    torch.testing.assert_close(a.sampler_logps, b.sampler_logps, atol=1e-5, rtol=0)


def test_helpers_by_hand():
    ids, attn = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert position_ids_of(torch.cat([attn, torch.ones(2, 2, dtype=torch.long)], 1)).tolist() == \
        [[0, 1, 2, 3, 4], [0, 0, 0, 1, 2]]
    cut, ended = cut_at_eos([[4, 2, 5, 2], [4, 4, 4]], eos_id=2)
    assert cut == [[4, 2], [4, 4, 4]] and ended == [True, False]
    # top-p 0.6 over probs (0.5, 0.3, 0.2): 0.5 < 0.6 so the second token is needed, the third is not
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]]))
    kept = torch.isfinite(top_p_filter(logits, 0.6))
    assert kept.tolist() == [[False, True, True]]


def test_inverse_cdf_by_hand():
    """Cumulative mass [0.1, 0.1, 0.6, 1.0]: u=0.05 -> 0, u just past 0.1 -> 2 (token 1 has no mass and
    is never picked), u=0.59 -> 2, u=0.61 -> 3, u=0.999 -> 3; a massless first token is skipped at u=0."""
    probs = torch.tensor([[0.1, 0.0, 0.5, 0.4]]).expand(5, 4)
    u = torch.tensor([0.05, 0.1000001, 0.59, 0.61, 0.999], dtype=torch.float64)
    assert inverse_cdf(probs, u).tolist() == [0, 2, 2, 3, 3]
    assert inverse_cdf(torch.tensor([[0.0, 0.5, 0.5]]), torch.zeros(1, dtype=torch.float64)).tolist() == [1]
    # the sampled frequencies follow the probabilities (20000 draws: standard error < 0.004)
    g = torch.Generator().manual_seed(0)
    toks = inverse_cdf(probs[:1].expand(20000, 4), torch.rand(20000, generator=g, dtype=torch.float64))
    freq = torch.bincount(toks, minlength=4).double() / 20000
    torch.testing.assert_close(freq, probs[0].double(), atol=0.015, rtol=0)


def test_rows_sample_alike_however_the_batch_is_split(policy_and_prompts):
    """Draws keyed by global row: sampling the rows of two 'processes' separately (each its half,
    interleaved as the online loop splits prompts) gives the rows of one batch sampled whole."""
    policy, prompts, ids = policy_and_prompts
    n = len(prompts)
    whole = sample(policy, prompts, ids, max_new_tokens=10, draws=Draws(7, n, list(range(n))))
    for rank in (0, 1):
        rows = list(range(rank, n, 2))
        part = sample(policy, [prompts[i] for i in rows], [ids[i] for i in rows], max_new_tokens=10,
                      draws=Draws(7, n, rows))
        assert part.response_ids == [whole.response_ids[i] for i in rows]
    other = sample(policy, prompts, ids, max_new_tokens=10, draws=Draws(8, n, list(range(n))))
    assert other.response_ids != whole.response_ids  # another seed, other samples: the check can fail


def test_length_grouped_decoding_gives_the_same_rollout(policy_and_prompts):
    """``batch_size``: rows decoded in groups of similar prompt length (less padding), put back in order;
    with row-keyed draws every response, log-prob and flag is the one of the whole-batch decode."""
    policy, prompts, ids = policy_and_prompts
    n = len(prompts)
    whole = sample(policy, prompts, ids, max_new_tokens=10, draws=Draws(3, n, list(range(n))))
    grouped = sample(policy, prompts, ids, max_new_tokens=10, draws=Draws(3, n, list(range(n))), batch_size=5)
    assert grouped.response_ids == whole.response_ids and grouped.eos.tolist() == whole.eos.tolist()
    torch.testing.assert_close(grouped.sampler_logps, whole.sampler_logps, atol=1e-5, rtol=0)
    torch.testing.assert_close(grouped.entropy, whole.entropy, atol=1e-5, rtol=0)
    torch.testing.assert_close(grouped.input_ids, whole.input_ids)


def test_generate_groups_by_length_and_keeps_the_order(policy_and_prompts):
    """Policy.generate batches prompts of similar length; texts come back in the prompts' order
    (greedy, so the batching cannot change them)."""
    from prefzoo.models.policy import length_groups

    assert length_groups([5, 1, 3, 1, 9], 2) == [[1, 3], [2, 0], [4]]
    policy, prompts, _ = policy_and_prompts
    small = policy.generate(prompts, max_new_tokens=6, do_sample=False, batch_size=3)
    whole = policy.generate(prompts, max_new_tokens=6, do_sample=False, batch_size=64)
    one_by_one = [policy.generate([p], max_new_tokens=6, do_sample=False)[0] for p in prompts]
    assert small == whole == one_by_one
