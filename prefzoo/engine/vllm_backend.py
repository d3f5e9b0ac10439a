"""Optional vLLM rollouts for the online loop, colocated in the training process.

Mode: **colocated** (TRL's ``vllm_mode="colocate"``). Every training process builds its own
``vllm.LLM`` on its own GPU, beside the training model, with ``distributed_executor_backend=
"external_launcher"`` (vLLM then keeps its engine core and its one worker inside this process:
``VLLM_ENABLE_V1_MULTIPROCESSING=0``). The engine starts from the policy's weights and tokenizer
written with ``save_pretrained`` to a temporary directory (LoRA merged), and takes
``gpu_memory_utilization`` (default 0.3) of the GPU for its weights and KV cache.

Weight-sync contract: after the optimizer updates and before the next ``sample`` (the online loop:
once per step), on **every** process, call ``sync(model)`` with the training model (a DDP/accelerate
wrapper is unwrapped via ``.module``). It pushes every parameter under its Hugging Face name (LoRA:
``W + scale * B @ A`` per adapted layer, computed on the side; the training model is not touched)
through ``LLM.apply_model(lambda m: m.load_weights(...))``, then resets vLLM's prefix cache (its KV
blocks were computed with the old weights). Sharded parameters (ZeRO-3, FSDP) are not gathered: use
DDP or ZeRO-1/2.

Rollouts carry ``sampler_logps=None`` and ``entropy=None``: vLLM's numerics differ from the training
forward, so the loop recomputes the old log-probs with its own forward.

API checked by reading, not running: vLLM V1 source and docs (0.16-0.25, the range TRL's colocate mode
supports with the same calls, and the 0.3x docs): ``LLM.generate(prompts, sampling_params=,
use_tqdm=)`` with ``{"prompt_token_ids": [...]}`` prompts (``TokensPrompt``); ``SamplingParams(n,
temperature, top_p, max_tokens, stop_token_ids)``, temperature 0 = greedy; ``LLM.apply_model`` (the
worker calls ``fn(model)`` in this process); the model's ``load_weights(iterable of (HF name,
tensor))``; ``LLM.reset_prefix_cache``; ``CompletionOutput.token_ids/finish_reason/stop_reason``.
vLLM V1 keeps the stop token in ``token_ids`` (only the text drops it); ``sample`` puts EOS back if an
engine leaves it out.

NOT RUN FOR REAL in this project: there is no GPU here and vLLM is not installed. What is tested
(``tests/test_vllm_backend.py``) is the glue, against a fake ``vllm`` module: the unavailable-reason
path (for real), the LLM options, token-id prompts, sampling params, EOS handling, Rollout tensors
equal to ``assemble`` and to the loop backend's greedy rollout, and ``sync`` sending every parameter
under its HF name with its current value (plain, DDP-wrapped, LoRA-merged).
"""
from __future__ import annotations

import importlib.util
import os
import re
import socket
import sys
import tempfile
from typing import Any, Iterator

import torch

from prefzoo.engine.rollout import Rollout, assemble, cut_at_eos

INSTALL_HINT = "pip install 'prefzoo[vllm]'"


def vllm_unavailable_reason() -> str | None:
    """None when vLLM can run here (it imports and a CUDA GPU is visible), else a one-line reason."""
    if "vllm" not in sys.modules and importlib.util.find_spec("vllm") is None:
        return f"vllm is not installed: {INSTALL_HINT}"
    if not torch.cuda.is_available():
        return "vLLM needs a CUDA GPU; none is visible"
    try:
        import vllm  # noqa: F401
    except Exception as e:  # a broken install (torch/CUDA mismatch) must not stop a run: fall back
        return f"vllm failed to import ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hf_weights(model) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of the model's current weights under their Hugging Face names, one at a time.

    DDP/accelerate (``.module``) and torch.compile (``._orig_mod``) wrappers are unwrapped. Under PEFT
    LoRA each adapted weight is yielded merged, ``W + delta`` (peft's ``get_delta_weight`` of the
    active adapters), without merging into the model; adapter tensors themselves are not sent."""
    while True:
        inner = getattr(model, "module", None)
        inner = inner if inner is not None else getattr(model, "_orig_mod", None)
        if not isinstance(inner, torch.nn.Module):
            break
        model = inner
    if not hasattr(model, "peft_config"):
        for name, p in model.named_parameters():
            yield name, p.detach()
        return
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    layers = {name: m for name, m in base.named_modules() if isinstance(m, LoraLayer)}
    for name, p in base.named_parameters():
        if ".lora_" in name or ".original_module." in name:
            continue
        w = p.detach()
        owner = name.rsplit(".base_layer.", 1)[0] if ".base_layer." in name else None
        layer = layers.get(owner)
        if layer is not None and name.endswith(".base_layer.weight") and not layer.merged:
            for adapter in layer.active_adapters:
                if layer.use_dora.get(adapter, False):
                    raise NotImplementedError("vLLM weight sync does not support DoRA adapters")
                if adapter in layer.lora_A or adapter in getattr(layer, "lora_embedding_A", {}):
                    w = w + layer.get_delta_weight(adapter).to(w.dtype)
        yield re.sub(r"\.modules_to_save\.[^.]+\.", ".", name.replace(".base_layer.", ".")), w


class VLLMRollout:
    """A colocated ``vllm.LLM`` holding a copy of the policy; ``sample`` -> ``Rollout``, ``sync`` after
    each update. Extra keyword arguments go to ``vllm.LLM`` as they are (e.g. ``max_num_seqs``)."""

    def __init__(self, policy, *, gpu_memory_utilization: float = 0.3, max_model_len: int | None = None,
                 seed: int = 0, enable_prefix_caching: bool = True, enforce_eager: bool = False,
                 dtype: str | None = None, **llm_kwargs: Any):
        why = vllm_unavailable_reason()
        if why:
            raise RuntimeError(why)
        from vllm import LLM, SamplingParams

        self._SamplingParams = SamplingParams
        self._dir = tempfile.TemporaryDirectory(prefix="prefzoo-vllm-")
        policy.save(self._dir.name, merge_lora=True)  # weights + tokenizer, as vLLM loads a checkpoint
        # external_launcher initialises torch.distributed from env://; under accelerate/torchrun these
        # are set already, a single plain process gets a world of one
        for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")):
            os.environ.setdefault(key, value)
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        if dtype is None:
            dtype = str(next(policy.model.parameters()).dtype).removeprefix("torch.")
        options = dict(model=self._dir.name, tokenizer=self._dir.name, dtype=dtype,
                       gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                       seed=seed + int(os.environ["RANK"]),  # ranks draw different samples
                       enable_prefix_caching=enable_prefix_caching, enforce_eager=enforce_eager,
                       distributed_executor_backend="external_launcher",
                       generation_config="vllm")  # no defaults/extra stop ids from generation_config.json
        options.update(llm_kwargs)
        self.llm = LLM(**options)

    def sample(self, policy, prompts: list[Any], prompt_ids: list[list[int]], *, max_new_tokens: int,
               temperature: float = 1.0, top_p: float = 1.0, do_sample: bool = True) -> Rollout:
        """One response per row from the token ids as given; cut after the first EOS (kept), as
        ``cut_at_eos``; padded by ``assemble``. Greedy (temperature 0) when ``do_sample`` is False."""
        eos = policy.tokenizer.eos_token_id
        params = self._SamplingParams(n=1, temperature=temperature if do_sample else 0.0,
                                      top_p=top_p if do_sample else 1.0, max_tokens=max_new_tokens,
                                      stop_token_ids=[eos])
        outs = self.llm.generate([{"prompt_token_ids": list(p)} for p in prompt_ids], sampling_params=params,
                                 use_tqdm=False)
        rows = []
        for out in outs:
            c = out.outputs[0]
            ids = list(c.token_ids)
            # stopped on EOS but the engine left it out of token_ids: put it back (V1 keeps it)
            if eos not in ids and c.finish_reason == "stop" and getattr(c, "stop_reason", None) in (None, eos):
                ids.append(eos)
            rows.append(ids)
        responses, ended = cut_at_eos(rows, eos)
        ro = assemble(policy, prompts, prompt_ids, responses, ended)
        ro.sampler_logps, ro.entropy = None, None  # the loop recomputes old log-probs with its own forward
        return ro

    @torch.no_grad()
    def sync(self, model) -> None:
        """Push the training model's current weights into the engine (see the module docstring)."""
        weights = hf_weights(model)
        self.llm.apply_model(lambda vllm_model: vllm_model.load_weights(weights))
        self.llm.reset_prefix_cache()


__all__ = ["VLLMRollout", "vllm_unavailable_reason", "hf_weights", "INSTALL_HINT"]
