"""The KV-cache decoder's shortcuts change no number: ``_sample_loop`` (one mask buffer, a ready 4D sdpa mask,
inference mode, the draws' row index built once) against a copy of the plain loop it replaced. Tokens, sampler
log-probs and entropies must be bitwise the same, and the global RNG left in the same state."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from prefzoo.engine import rollout
from prefzoo.engine.rollout import (Draws, assemble, cut_at_eos, inverse_cdf, left_pad, position_ids_of,
                                    response_logps, sample, top_p_filter)
from prefzoo.models.policy import Policy
from prefzoo.models.tiny import word_tokenizer, words_of

PAIRS = Path(__file__).resolve().parents[1] / "recipes" / "data" / "tiny_pairs.jsonl"


@torch.no_grad()
def reference_loop(policy, prompts, prompt_ids, max_new_tokens, temperature, top_p, do_sample, model,
                   draws=None) -> rollout.Rollout:
    """The decoder as it was before the shortcuts: a 2D mask grown by torch.cat, every row prefilled,
    no_grad, draws indexed by the row list."""
    from transformers import DynamicCache

    pad, eos_id = policy.tokenizer.pad_token_id, policy.tokenizer.eos_token_id
    ids, attn = left_pad(prompt_ids, pad)
    pos = position_ids_of(attn)
    cache = DynamicCache(config=model.config)
    was_training = model.training
    model.eval()
    B = ids.shape[0]
    done = torch.zeros(B, dtype=torch.bool)
    tokens, logps, ents = [], [], []
    gen = torch.Generator().manual_seed(draws.seed) if draws is not None else None
    try:
        out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True, logits_to_keep=1,
                    cache=cache)
        for _ in range(max_new_tokens):
            logits = out.logits[:, -1].float()
            if do_sample and temperature != 1.0:
                logits = logits / temperature
            logp_all = torch.log_softmax(logits, -1)
            if do_sample:
                u = (torch.rand(draws.total_rows, generator=gen, dtype=torch.float64)[draws.rows]
                     if draws is not None else torch.rand(B, dtype=torch.float64))
                tok = inverse_cdf(torch.softmax(top_p_filter(logits, top_p), -1), u)
            else:
                tok = logits.argmax(-1)
            tok = torch.where(done, torch.full_like(tok, pad), tok)
            tokens.append(tok)
            logps.append(logp_all.gather(-1, tok.unsqueeze(-1)).squeeze(-1))
            ents.append(-(logp_all.exp() * logp_all).sum(-1))
            done = done | (tok == eos_id)
            if len(tokens) == max_new_tokens or bool(done.all()):
                break
            attn = torch.cat([attn, torch.ones_like(attn[:, :1])], 1)
            pos = pos[:, -1:] + 1
            out = model(input_ids=tok.unsqueeze(-1), attention_mask=attn, position_ids=pos, use_cache=True,
                        cache=cache)
    finally:
        model.train(was_training)
    responses, ended = cut_at_eos(torch.stack(tokens, 1).tolist(), eos_id)
    ro = assemble(policy, prompts, prompt_ids, responses, ended)
    R = ro.response_mask.shape[1]
    ro.sampler_logps = torch.stack(logps, 1)[:, :R] * ro.response_mask
    ro.entropy = torch.stack(ents, 1)[:, :R] * ro.response_mask
    return ro


def _model(arch: str, vocab_size: int, hidden: int):
    """A random 2-layer decoder of ``arch`` (nothing downloaded); eager is llama with eager attention."""
    import transformers as tf

    common = dict(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=256, pad_token_id=0, eos_token_id=2)
    kinds = {"llama": (tf.LlamaConfig, tf.LlamaForCausalLM, dict(num_key_value_heads=4, tie_word_embeddings=True)),
             "eager": (tf.LlamaConfig, tf.LlamaForCausalLM, dict(num_key_value_heads=4)),
             "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM, dict(num_key_value_heads=2)),
             "qwen3": (tf.Qwen3Config, tf.Qwen3ForCausalLM, dict(num_key_value_heads=2, head_dim=16)),
             "mistral": (tf.MistralConfig, tf.MistralForCausalLM, dict(num_key_value_heads=2, sliding_window=None))}
    config_cls, model_cls, extra = kinds[arch]
    config = config_cls(**common, **extra)
    if arch == "eager":
        config._attn_implementation = "eager"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = model_cls(config)
        # EOS about 2.5 nats likelier than an average token, so that rows end at different steps and some
        # batches end before max_new_tokens (the early stop)
        h = model.model(input_ids=torch.arange(3, vocab_size)[None]).last_hidden_state.mean((0, 1)).detach()
        with torch.no_grad():
            model.get_output_embeddings().weight[2] += 2.5 * h / h.norm() ** 2
    return model.train()  # as the online loop hands it over


@pytest.fixture(scope="module")
def prompts_and_tokenizer():
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    tok = word_tokenizer(words_of(r[k] for r in rows for k in ("prompt", "chosen", "rejected")))
    return [r["prompt"] for r in rows], tok


def _policy(arch, tok, hidden=64):
    return Policy(_model(arch, len(tok), hidden), tok, max_length=96)


def _batches(policy, prompts, groups: bool):
    """Batches of the online loop's shape (4 prompts x 4 samples, group-major) or of distinct prompts: three
    with left padding of different lengths, one of prompts of one length (no padding: no mask at all); then
    for groups one and two prompts x 4, for distinct prompts batches of one and two rows (which end before
    max_new_tokens)."""
    size, k = (4, 4) if groups else (10, 1)
    lengths = [len(policy.encode_prompt(p)) for p in prompts]
    common = max(set(lengths), key=lengths.count)
    picks = [[i for i, n in enumerate(lengths) if n == common][:size]]
    g = torch.Generator().manual_seed(0)
    while len(picks) < 4:
        pick = torch.randperm(len(prompts), generator=g)[:size].tolist()
        if len({lengths[i] for i in pick}) > 1:
            picks.append(pick)
    out = []
    for pick in picks[1:] + picks[:1]:
        rows = [prompts[i] for i in pick for _ in range(k)]
        out.append((rows, [policy.encode_prompt(p) for p in rows]))
    out += [(rows[:n * k], ids[:n * k]) for rows, ids in out[:3] for n in (1, 2)]  # n prompts, k rows each
    return out


def _assert_same(new, old):
    assert new.response_ids == old.response_ids  # the tokens
    assert new.eos.tolist() == old.eos.tolist()
    assert torch.equal(new.input_ids, old.input_ids) and torch.equal(new.response_mask, old.response_mask)
    # bitwise, not within a tolerance: equal logits at every step are what keeps every token the same
    assert torch.equal(new.sampler_logps, old.sampler_logps) and torch.equal(new.entropy, old.entropy)


@pytest.mark.parametrize("arch", ["llama", "eager", "qwen2", "qwen3", "mistral"])
@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 1.0), (1.0, 0.8), (1.3, 0.9)])
@pytest.mark.parametrize("with_draws", [True, False])
def test_decoder_samples_what_the_plain_loop_samples(prompts_and_tokenizer, arch, temperature, top_p, with_draws):
    prompts, tok = prompts_and_tokenizer
    policy = _policy(arch, tok)
    assert rollout._plain_sdpa(policy.model) == (arch != "eager")  # both mask paths are covered
    ended_early = stopped_early = 0
    for groups in (True, False):
        for b, (rows, ids) in enumerate(_batches(policy, prompts, groups)):
            n, T = len(rows), 20
            draws = Draws(b, n + 3, list(range(3, n + 3))) if with_draws else None  # rows 3.. of a global batch
            torch.manual_seed(b)
            old = reference_loop(policy, rows, ids, T, temperature, top_p, True, policy.model, draws)
            state = torch.get_rng_state()
            torch.manual_seed(b)
            new = rollout._sample_loop(policy, rows, ids, T, temperature, top_p, True, policy.model, draws)
            assert torch.equal(torch.get_rng_state(), state)  # as many global draws (no Draws: one per step)
            _assert_same(new, old)
            assert policy.model.training
            ended_early += int((new.eos & (new.lengths < T)).sum())
            stopped_early += new.response_mask.shape[1] < T
    assert ended_early > 0 and stopped_early > 0, (ended_early, stopped_early)


@pytest.mark.parametrize("threads", [1, 2])
def test_greedy_wider_model_and_threads(prompts_and_tokenizer, threads):
    """Greedy decoding, and sampling on the benchmark's width (256), with 1 and 2 torch threads."""
    prompts, tok = prompts_and_tokenizer
    policy = _policy("llama", tok, hidden=256)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for b, (rows, ids) in enumerate(_batches(policy, prompts, groups=True)):
            n = len(rows)
            for do_sample in (True, False):
                old = reference_loop(policy, rows, ids, 12, 1.0, 1.0, do_sample, policy.model,
                                     Draws(b, n, list(range(n))))
                new = rollout._sample_loop(policy, rows, ids, 12, 1.0, 1.0, do_sample, policy.model,
                                           Draws(b, n, list(range(n))))
                _assert_same(new, old)
    finally:
        torch.set_num_threads(before)


def test_lora_model(prompts_and_tokenizer):
    """A LoRA-wrapped policy (PEFT: its forward takes ``past_key_values``), adapters not zero."""
    from prefzoo.recipe import LoraConfig

    prompts, tok = prompts_and_tokenizer
    policy = _policy("llama", tok)
    torch.manual_seed(0)
    policy.add_lora(LoraConfig(r=4, alpha=8))
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    assert policy.is_lora and rollout._plain_sdpa(policy.model)
    for b, (rows, ids) in enumerate(_batches(policy, prompts, groups=True)):
        n = len(rows)
        for top_p in (1.0, 0.8):
            old = reference_loop(policy, rows, ids, 12, 1.0, top_p, True, policy.model, Draws(b, n, list(range(n))))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                new = rollout._sample_loop(policy, rows, ids, 12, 1.0, top_p, True, policy.model,
                                           Draws(b, n, list(range(n))))
            _assert_same(new, old)
            # the loop names the cache as the model does now, not as PEFT's signature does (deprecated in 5.x)
            assert not [w for w in caught if "past_key_values" in str(w.message)], [str(w.message) for w in caught]


def test_rollout_tensors_train(prompts_and_tokenizer):
    """The rollout's tensors are normal tensors (the decode runs in inference mode) that the training
    forward and its backward can use."""
    prompts, tok = prompts_and_tokenizer
    policy = _policy("llama", tok)
    rows, ids = _batches(policy, prompts, groups=True)[0]
    n = len(rows)
    ro = sample(policy, rows, ids, max_new_tokens=10, draws=Draws(5, n, list(range(n))))
    for t in (ro.input_ids, ro.attention_mask, ro.sampler_logps, ro.entropy, ro.response_mask):
        assert not t.is_inference()
    logps = response_logps(policy.model, ro)
    ratio = torch.exp(logps - ro.sampler_logps) * ro.response_mask
    ratio.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.model.parameters())


@pytest.mark.parametrize("arch,mirrored", [("llama", True), ("qwen2", True), ("qwen3", True), ("mistral", True),
                                           ("eager", False)])
def test_decode_step_is_taken_where_it_mirrors_the_model(prompts_and_tokenizer, arch, mirrored, monkeypatch):
    """The comparisons above exercise ``decode_step`` (not the fallback) on every sdpa architecture, and a
    model it does not mirror (eager attention; LoRA below) decodes through the model itself."""
    from prefzoo.engine import decode_step as ds
    from prefzoo.recipe import LoraConfig

    prompts, tok = prompts_and_tokenizer
    policy = _policy(arch, tok)
    calls = []
    real = ds.decode_step

    def counting(model, cache):
        step = real(model, cache)
        calls.append(step is not None)
        return step

    monkeypatch.setattr(rollout, "decode_step", counting)
    rows, ids = _batches(policy, prompts, groups=True)[0]
    rollout._sample_loop(policy, rows, ids, 6, 1.0, 1.0, True, policy.model, Draws(0, len(rows), list(range(len(rows)))))
    assert calls == [mirrored]
    # what runs inside the model's own call and the operations would skip: a hook, an autocast-wrapped forward
    handle = policy.model.model.layers[0].register_forward_hook(lambda *a: None)
    assert real(policy.model, None) is None
    handle.remove()
    policy.model.forward = torch.autocast("cpu", dtype=torch.bfloat16)(policy.model.forward)
    assert real(policy.model, None) is None
    del policy.model.forward
    assert (real(policy.model, None) is not None) == mirrored
    torch.manual_seed(0)
    policy.add_lora(LoraConfig(r=4, alpha=8))
    assert real(policy.model, None) is None


def test_decode_step_logits_equal_the_models(prompts_and_tokenizer):
    """Step by step, with and without left padding, on a grouped-query model: the step's logits are the
    model's, bitwise, and its keys and values grow as the cache would."""
    from transformers import DynamicCache

    from prefzoo.engine.decode_step import decode_step

    prompts, tok = prompts_and_tokenizer
    model = _model("qwen2", len(tok), 64).eval()
    for rows in (prompts[:6], prompts[:1] * 3):
        ids, attn = left_pad([tok(p)["input_ids"] for p in rows], 0)
        pos = position_ids_of(attn)
        caches = [DynamicCache(config=model.config), DynamicCache(config=model.config)]
        with torch.inference_mode():
            first = [model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True, cache=c,
                           logits_to_keep=1).logits[:, -1] for c in caches]
            step = decode_step(model, caches[1])
            tok_ = first[0].argmax(-1, keepdim=True)
            full = torch.cat([attn, torch.ones(len(rows), 8, dtype=attn.dtype)], 1).bool()[:, None, None, :]
            for t in range(8):
                pos = pos[:, -1:] + 1
                m = None if bool(attn.all()) else full[..., :ids.shape[1] + t + 1]
                want = model(input_ids=tok_, attention_mask=m, position_ids=pos, use_cache=True,
                             cache=caches[0]).logits[:, -1]
                got = step(tok_, pos, m)
                assert torch.equal(got, want), (t, (got - want).abs().max())
                tok_ = want.argmax(-1, keepdim=True)
