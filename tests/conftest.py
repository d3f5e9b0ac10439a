"""Shared fixtures: a tiny Llama with a word-level tokenizer built locally (nothing downloaded),
a few pair records, and a factory turning records into the typed log-prob inputs of an objective."""
from __future__ import annotations

import copy

import pytest
import torch

from prefzoo.models.policy import Policy
from prefzoo.testing import TINY_PAIRS, offline_inputs, perturbed_copy
from prefzoo.testing import records_of as records_of_kind
from prefzoo.testing import tiny_policy as tiny_policy_of

PAIRS = TINY_PAIRS  # four pairs, completions of different lengths (prefzoo.testing)


def to_unpaired(pairs: list[dict]) -> list[dict]:
    """Each pair as two unpaired records: chosen desirable (label 1), rejected undesirable (label 0)."""
    return records_of_kind("unpaired", pairs)


def to_sft(pairs: list[dict]) -> list[dict]:
    return records_of_kind("sft", pairs)


def build_policy(records: list[dict], *, seed: int = 0, dtype: str = "float32", max_length: int = 64) -> Policy:
    """A prefzoo Policy over the words of ``records`` (tiny Llama: 2 layers, width 64)."""
    return tiny_policy_of(records, seed=seed, dtype=dtype, max_length=max_length)


@pytest.fixture(autouse=True, scope="session")
def _cache_in_tmp(tmp_path_factory):
    """The default cache ($PREFZOO_CACHE, else ~/.cache/prefzoo) in a tmp folder: tests never write to the
    real home. Subprocesses inherit it."""
    import os

    before = os.environ.get("PREFZOO_CACHE")
    os.environ["PREFZOO_CACHE"] = str(tmp_path_factory.mktemp("prefzoo-cache"))
    yield
    if before is None:
        os.environ.pop("PREFZOO_CACHE", None)
    else:
        os.environ["PREFZOO_CACHE"] = before


@pytest.fixture
def tiny_pairs() -> list[dict]:
    """Four plain-text preference pairs (prompt, chosen, rejected); completions of different lengths."""
    return copy.deepcopy(PAIRS)


@pytest.fixture
def tiny_policy(tiny_pairs) -> Policy:
    """A fresh prefzoo Policy (tiny Llama, seed 0, float32) whose vocabulary covers ``tiny_pairs``."""
    torch.manual_seed(0)
    return build_policy(tiny_pairs, seed=0)


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
