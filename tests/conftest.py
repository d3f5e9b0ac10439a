"""Shared fixtures: a tiny Llama with a word-level tokenizer built locally (nothing downloaded),
a few pair records, and a factory turning records into the typed log-prob inputs of an objective."""
from __future__ import annotations

import copy

import pytest
import torch

from prefzoo.models.policy import Policy
from prefzoo.models.tiny import words_of
from prefzoo.recipe import ModelConfig
from prefzoo.testing import offline_inputs

PAIRS = [
    {"prompt": "color of the sea ?", "chosen": "the sea is blue .", "rejected": "i do not know ."},
    {"prompt": "color of the coal ?", "chosen": "the coal is black .", "rejected": "colors are a matter of taste ."},
    {"prompt": "color of the sun ?", "chosen": "the sun is yellow .", "rejected": "blue"},
    {"prompt": "is the sky blue ?", "chosen": "yes , the sky is blue .", "rejected": "no ."},
]


def to_unpaired(pairs: list[dict]) -> list[dict]:
    """Each pair as two unpaired records: chosen desirable (label 1), rejected undesirable (label 0)."""
    return [r for p in pairs for r in ({"prompt": p["prompt"], "completion": p["chosen"], "label": True},
                                       {"prompt": p["prompt"], "completion": p["rejected"], "label": False})]


def to_sft(pairs: list[dict]) -> list[dict]:
    return [{"prompt": p["prompt"], "completion": p["chosen"]} for p in pairs]


def build_policy(records: list[dict], *, seed: int = 0, dtype: str = "float32", max_length: int = 64) -> Policy:
    """A prefzoo Policy over the words of ``records`` (tiny Llama: 2 layers, width 64)."""
    vocab = words_of(v for r in records for k in ("prompt", "chosen", "rejected", "completion") if k in r
                     for v in [r[k]])
    return Policy.load(ModelConfig(base="tiny", dtype=dtype, max_length=max_length), vocab=vocab, seed=seed)


@pytest.fixture
def tiny_pairs() -> list[dict]:
    """Four plain-text preference pairs (prompt, chosen, rejected); completions of different lengths."""
    return copy.deepcopy(PAIRS)


@pytest.fixture
def tiny_policy(tiny_pairs) -> Policy:
    """A fresh prefzoo Policy (tiny Llama, seed 0, float32) whose vocabulary covers ``tiny_pairs``."""
    torch.manual_seed(0)
    return build_policy(tiny_pairs, seed=0)


def perturbed_copy(model, scale: float = 0.05, seed: int = 1):
    """A frozen copy of ``model`` with small Gaussian noise on every weight, to serve as a reference that
    differs from the policy (so log-ratios are non-zero)."""
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return ref


def typed_logps(policy: Policy, records: list[dict], kind: str, model=None):
    """Records -> the typed input of an objective (``PairLogps``/``UnpairedLogps``/``SeqLogps``) from one
    forward of ``model`` (default: the policy, with gradients), laid out by the offline loop's own code
    (``prefzoo.testing.offline_inputs``): pairs as [chosen; rejected]; unpaired rows followed by the
    completion of the next record with another prompt (KTO's KL baseline)."""
    return offline_inputs(policy, records, kind, model)


@pytest.fixture
def make_logps():
    """``make_logps(policy, records, kind, model=None)``: see ``typed_logps``."""
    return typed_logps


@pytest.fixture
def records_of(tiny_pairs):
    """``records_of(kind)``: ``tiny_pairs`` as records of ``kind`` ("pairs", "unpaired", "sft")."""
    return lambda kind: {"pairs": tiny_pairs, "unpaired": to_unpaired(tiny_pairs), "sft": to_sft(tiny_pairs)}[kind]


@pytest.fixture
def make_policy():
    """``make_policy(records, seed=0, dtype="float32", max_length=64)``: see ``build_policy``."""
    return build_policy


@pytest.fixture
def make_reference():
    """``make_reference(model, scale=0.05, seed=1)``: a frozen, perturbed copy (see ``perturbed_copy``)."""
    return perturbed_copy


# Tiny models run faster on one thread, and results do not depend on the machine's core count.
torch.set_num_threads(1)
