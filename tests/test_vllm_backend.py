"""The vLLM rollout glue (prefzoo/engine/vllm_backend.py) against a fake ``vllm`` module.

No GPU and no vLLM here: the unavailable-reason path runs for real; everything else runs against
``FakeLLM``, which loads the saved policy with transformers, "generates" greedily from it (or from a
script), applies stop ids the way vLLM V1 does, and records ``load_weights`` calls under HF names.
"""
from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
import types
from types import SimpleNamespace

import pytest
import torch

from prefzoo.engine.rollout import assemble, sample
from prefzoo.engine.vllm_backend import VLLMRollout, hf_weights, vllm_unavailable_reason
from prefzoo.recipe import LoraConfig

ROLLOUT_TENSORS = ("input_ids", "attention_mask", "position_ids", "response_mask", "eos")


class FakeSamplingParams:
    def __init__(self, **kw):
        self.kw = kw
        self.__dict__.update(kw)


class FakeModel:
    """Stands for the model inside vLLM's worker: ``load_weights`` takes (HF name, tensor) pairs."""

    def __init__(self, llm):
        self.llm = llm

    def load_weights(self, weights):
        params = dict(self.llm.hf.named_parameters())
        for name, t in weights:
            params[name].data.copy_(t)  # KeyError on a name the checkpoint does not have
            self.llm.loaded.append((name, t.detach().clone()))
        return {n for n, _ in self.llm.loaded}


class FakeLLM:
    strip_stop = False  # True: an engine that leaves the stop token out of token_ids
    script = None       # {prompt ids: continuation}, used instead of the model's greedy tokens
    instances: list = []

    def __init__(self, model, **kwargs):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir, self.kwargs = model, kwargs
        self.hf = AutoModelForCausalLM.from_pretrained(model).eval()
        self.tok = AutoTokenizer.from_pretrained(kwargs.get("tokenizer", model))
        self.loaded, self.calls, self.prefix_resets = [], [], 0
        FakeLLM.instances.append(self)

    @torch.no_grad()
    def _continuation(self, ids, n):
        if self.script is not None:
            return list(self.script[tuple(ids)])
        seq = list(ids)
        for _ in range(n):
            seq.append(int(self.hf(input_ids=torch.tensor([seq])).logits[0, -1].argmax()))
        return seq[len(ids):]

    def generate(self, prompts, sampling_params=None, *, use_tqdm=True):
        self.calls.append(SimpleNamespace(prompts=prompts, params=sampling_params, use_tqdm=use_tqdm))
        outs = []
        for p in prompts:
            ids = p["prompt_token_ids"]
            toks, reason, stop_reason = [], "length", None
            for t in self._continuation(ids, sampling_params.max_tokens)[: sampling_params.max_tokens]:
                toks.append(t)
                if t in sampling_params.stop_token_ids:  # V1: EOS stop -> stop_reason None, token kept
                    reason, stop_reason = "stop", None if t == self.tok.eos_token_id else t
                    if self.strip_stop:
                        toks.pop()
                    break
            outs.append(SimpleNamespace(prompt_token_ids=list(ids), outputs=[
                SimpleNamespace(token_ids=tuple(toks), finish_reason=reason, stop_reason=stop_reason)]))
        return outs

    def apply_model(self, fn):
        return [fn(FakeModel(self))]

    def reset_prefix_cache(self):
        self.prefix_resets += 1


@pytest.fixture
def fake_vllm(monkeypatch):
    fake = types.ModuleType("vllm")
    fake.LLM = type("LLM", (FakeLLM,), {"instances": []})
    fake.SamplingParams = FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)  # restored (removed) after the test
    return fake


@pytest.fixture
def prompts_and_ids(tiny_policy):
    prompts = ["color of the sea ?", "the sky", "is the coal black , blue ?", "sun"]
    ids = [tiny_policy.encode_prompt(p) for p in prompts]
    assert len({len(i) for i in ids}) > 1  # real left padding
    return prompts, ids


def assert_same_rollout(a, b):
    assert a.response_ids == b.response_ids and a.texts == b.texts and a.prompt_ids == b.prompt_ids
    for name in ROLLOUT_TENSORS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name


# ---------------------------------------------------------------- availability (real)
def test_unavailable_reason_here_for_real():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed on this machine")
    assert vllm_unavailable_reason() == "vllm is not installed: pip install 'prefzoo[vllm]'"


def test_unavailable_reason_paths(monkeypatch, tiny_policy):
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert vllm_unavailable_reason() == "vLLM needs a CUDA GPU; none is visible"
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        VLLMRollout(tiny_policy)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert vllm_unavailable_reason() is None


def test_importing_prefzoo_does_not_import_vllm(tmp_path):
    """A ``vllm`` that explodes on import sits on the path; importing the backend must not touch it."""
    (tmp_path / "vllm").mkdir()
    (tmp_path / "vllm" / "__init__.py").write_text("raise RuntimeError('vllm was imported')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()]), "OMP_NUM_THREADS": "1"}
    code = "import sys, prefzoo.algos, prefzoo.engine.vllm_backend; assert 'vllm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


# ---------------------------------------------------------------- engine options
def test_llm_options_and_saved_weights(fake_vllm, tiny_policy):
    vr = VLLMRollout(tiny_policy, max_model_len=128, max_num_seqs=8)
    llm = vr.llm
    kw = llm.kwargs
    assert kw["dtype"] == "float32" and kw["gpu_memory_utilization"] == 0.3 and kw["max_model_len"] == 128
    assert kw["distributed_executor_backend"] == "external_launcher" and kw["generation_config"] == "vllm"
    assert kw["seed"] == 0 and kw["enable_prefix_caching"] is True and kw["max_num_seqs"] == 8
    assert os.environ["WORLD_SIZE"] == "1" and os.environ["RANK"] == "0" and os.environ["MASTER_PORT"].isdigit()
    # the engine was built from the policy's current weights and tokenizer
    mine = dict(tiny_policy.model.named_parameters())
    for name, p in llm.hf.named_parameters():
        assert torch.equal(p, mine[name]), name
    assert llm.tok.eos_token_id == tiny_policy.tokenizer.eos_token_id


def test_dtype_follows_the_policy(fake_vllm, make_policy, tiny_pairs):
    policy = make_policy(tiny_pairs, dtype="bfloat16")
    assert VLLMRollout(policy).llm.kwargs["dtype"] == "bfloat16"


# ---------------------------------------------------------------- sampling
def test_sampling_params_and_token_prompts(fake_vllm, tiny_policy, prompts_and_ids):
    prompts, ids = prompts_and_ids
    vr = VLLMRollout(tiny_policy)
    eos = tiny_policy.tokenizer.eos_token_id
    vr.sample(tiny_policy, prompts, ids, max_new_tokens=5, temperature=0.7, top_p=0.9)
    call = vr.llm.calls[-1]
    assert call.prompts == [{"prompt_token_ids": i} for i in ids] and call.use_tqdm is False
    assert call.params.kw == dict(n=1, temperature=0.7, top_p=0.9, max_tokens=5, stop_token_ids=[eos])
    vr.sample(tiny_policy, prompts, ids, max_new_tokens=3, temperature=0.7, top_p=0.9, do_sample=False)
    assert vr.llm.calls[-1].params.kw == dict(n=1, temperature=0.0, top_p=1.0, max_tokens=3, stop_token_ids=[eos])


@pytest.mark.parametrize("strip_stop", [False, True])
def test_eos_handling_matches_assemble(fake_vllm, tiny_policy, prompts_and_ids, strip_stop):
    """EOS kept as the last token and flagged, whether or not the engine left it in token_ids;
    rows without EOS cut at max_new_tokens; the Rollout equals ``assemble`` of the expected rows."""
    prompts, ids = prompts_and_ids
    eos = tiny_policy.tokenizer.eos_token_id
    fake_vllm.LLM.strip_stop = strip_stop
    fake_vllm.LLM.script = {tuple(ids[0]): [7, 8, eos, 9, 10], tuple(ids[1]): [7, 8, 9, 10, 11, 12, eos],
                            tuple(ids[2]): [eos, 7], tuple(ids[3]): [9, 9, 9, 9, eos]}
    vr = VLLMRollout(tiny_policy)
    ro = vr.sample(tiny_policy, prompts, ids, max_new_tokens=5)
    expected = [[7, 8, eos], [7, 8, 9, 10, 11], [eos], [9, 9, 9, 9, eos]]
    assert ro.response_ids == expected
    assert ro.eos.tolist() == [True, False, True, True]
    assert ro.sampler_logps is None and ro.entropy is None
    assert_same_rollout(ro, assemble(tiny_policy, prompts, ids, expected, [True, False, True, True]))


def test_greedy_rollout_equals_loop_backend(fake_vllm, tiny_policy, prompts_and_ids):
    prompts, ids = prompts_and_ids
    vr = VLLMRollout(tiny_policy)
    ro = vr.sample(tiny_policy, prompts, ids, max_new_tokens=6, do_sample=False)
    ref = sample(tiny_policy, prompts, ids, max_new_tokens=6, do_sample=False, backend="loop")
    assert_same_rollout(ro, ref)


# ---------------------------------------------------------------- weight sync
class FakeDDP(torch.nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module


@pytest.mark.parametrize("wrap", [False, True])
def test_sync_sends_current_weights_under_hf_names(fake_vllm, tiny_policy, prompts_and_ids, wrap):
    prompts, ids = prompts_and_ids
    vr = VLLMRollout(tiny_policy)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in tiny_policy.model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g))
    mine = dict(tiny_policy.model.named_parameters())
    name0 = next(iter(mine))
    assert not torch.equal(dict(vr.llm.hf.named_parameters())[name0], mine[name0])

    vr.sync(FakeDDP(tiny_policy.model) if wrap else tiny_policy.model)
    assert [n for n, _ in vr.llm.loaded] == list(mine)  # every parameter, HF names, no "module." prefix
    for name, t in vr.llm.loaded:
        assert torch.equal(t, mine[name]), name
    assert vr.llm.prefix_resets == 1
    # the engine now generates from the updated weights
    ro = vr.sample(tiny_policy, prompts, ids, max_new_tokens=6, do_sample=False)
    assert_same_rollout(ro, sample(tiny_policy, prompts, ids, max_new_tokens=6, do_sample=False, backend="loop"))


def test_sync_under_lora_sends_merged_base_weights(fake_vllm, make_policy, tiny_pairs):
    policy = make_policy(tiny_pairs)
    policy.add_lora(LoraConfig(r=4, alpha=8))
    vr = VLLMRollout(policy)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:  # B starts at zero: make the adapters matter
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    merged = dict(copy.deepcopy(policy.model).merge_and_unload().named_parameters())

    vr.sync(FakeDDP(policy.model))
    sent = dict(vr.llm.loaded)
    assert list(sent) == list(merged)
    assert any(not torch.equal(sent[n], before["base_model.model." + n.replace(".weight", ".base_layer.weight")])
               for n in sent if "q_proj" in n)  # the deltas were folded in
    for name, t in sent.items():
        torch.testing.assert_close(t, merged[name], atol=1e-6, rtol=0)
    # the training model is untouched: adapters still separate, weights as before
    assert policy.is_lora and all(torch.equal(before[k], v) for k, v in policy.model.state_dict().items())


def test_hf_weights_is_lazy_and_unwraps_compile(tiny_policy):
    compiled = torch.nn.Module()
    compiled._orig_mod = tiny_policy.model  # what torch.compile's OptimizedModule holds
    it = hf_weights(FakeDDP(compiled))
    assert iter(it) is it  # a generator: merged LoRA tensors are made one at a time
    assert [n for n, _ in it] == [n for n, _ in tiny_policy.model.named_parameters()]
