"""Contract checks for algorithm authors: ``check_algorithm(cls)`` runs on a class defined anywhere.

    from prefzoo.testing import check_algorithm
    check_algorithm(MyLoss)            # raises AssertionError naming the broken contract

An ``Objective`` gets one batch of a tiny local Llama (built here, nothing downloaded), laid out by the
offline loop's own code (``offline_inputs``), and must return a finite scalar loss with detached
per-example values and metrics whose gradient reaches the weights; ``needs_reference`` must be true to
its word (a reference-free loss ignores the reference, one that needs it reads it). An
``OnlineAlgorithm`` trains two steps against a rule reward and must log finite metrics every step.
The built-ins run these same checks in ``tests/test_contract.py``.
"""
from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import torch

from prefzoo.api import PAIRS, PROMPTS, SFT, UNPAIRED, Algorithm, LossOutput, Objective, OnlineAlgorithm

TINY_PAIRS = [
    {"prompt": "color of the sea ?", "chosen": "the sea is blue .", "rejected": "i do not know ."},
    {"prompt": "color of the coal ?", "chosen": "the coal is black .", "rejected": "colors are a matter of taste ."},
    {"prompt": "color of the sun ?", "chosen": "the sun is yellow .", "rejected": "blue"},
    {"prompt": "is the sky blue ?", "chosen": "yes , the sky is blue .", "rejected": "no ."},
]


def records_of(kind: str, pairs: list[dict] | None = None) -> list[dict]:
    """``pairs`` (default: four tiny ones) as records of ``kind``."""
    pairs = pairs or TINY_PAIRS
    if kind == UNPAIRED:
        return [r for p in pairs for r in ({"prompt": p["prompt"], "completion": p["chosen"], "label": True},
                                           {"prompt": p["prompt"], "completion": p["rejected"], "label": False})]
    if kind == SFT:
        return [{"prompt": p["prompt"], "completion": p["chosen"]} for p in pairs]
    if kind == PROMPTS:
        return [{"prompt": p["prompt"]} for p in pairs]
    return [dict(p) for p in pairs]


def tiny_policy(records: list[dict], seed: int = 0, dtype: str = "float32", max_length: int = 64):
    """A prefzoo ``Policy``: a 2-layer tiny Llama over the words of ``records``."""
    from prefzoo.models.policy import Policy
    from prefzoo.models.tiny import words_of
    from prefzoo.recipe import ModelConfig

    vocab = words_of(v for r in records for k in ("prompt", "chosen", "rejected", "completion") if k in r
                     for v in [r[k]])
    return Policy.load(ModelConfig(base="tiny", dtype=dtype, max_length=max_length), vocab=vocab, seed=seed)


def perturbed_copy(model, scale: float = 0.05, seed: int = 1):
    """A frozen copy of ``model`` with Gaussian noise on every weight: a reference that differs."""
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return ref


def offline_inputs(policy, records: list[dict], kind: str, model=None):
    """The typed input an objective gets for ``records`` (one batch), built by the offline loop's code:
    encoding, the KTO mismatched completions, the [chosen; rejected] layout and the typed summary."""
    from prefzoo.engine import offline

    encoded, report = policy.encode(records, kind)
    if report.total_dropped:
        raise AssertionError(f"test records were dropped: {report.summary()}")
    mismatched = offline._mismatched(encoded, kind, lambda e: policy.max_length - len(e.prompt))
    prompts, comps = offline._completion_rows(encoded, kind, mismatched)
    seqs = policy.sequences(prompts, comps)
    tok = policy.forward_logps(seqs, model)
    soft = kind == PAIRS and any(e.label != 1.0 for e in encoded)
    return offline._typed(kind, tok.sum(-1), seqs.loss_mask.sum(-1).to(tok.dtype), encoded, soft)


def _check_attributes(cls: type) -> Algorithm:
    for attr in ("name", "family", "data_kind", "summary", "paper", "Config"):
        assert getattr(cls, attr, None) not in (None, ""), f"{cls.__qualname__}: class attribute {attr!r} is missing"
    return cls(cls.Config())  # the default Config must build (and pass its own checks)


def check_objective(obj: Objective) -> None:
    name = obj.name
    assert obj.data_kind in (PAIRS, UNPAIRED, SFT), f"{name}: data_kind {obj.data_kind!r}"
    if getattr(obj, "model_kind", "policy") != "policy":
        return  # a scalar-head objective (a reward model) is checked by its own tests
    records = records_of(obj.data_kind)
    torch.manual_seed(0)
    policy = tiny_policy(records)
    pol = offline_inputs(policy, records, obj.data_kind)
    with torch.no_grad():
        ref = offline_inputs(policy, records, obj.data_kind, perturbed_copy(policy.model, seed=1))
        other = offline_inputs(policy, records, obj.data_kind, perturbed_copy(policy.model, 0.3, seed=2))
    out = obj.loss(pol, ref if obj.needs_reference else None)
    assert isinstance(out, LossOutput), f"{name}: loss() returned {type(out).__name__}, not LossOutput"
    assert out.loss.dim() == 0 and torch.isfinite(out.loss), f"{name}: loss {out.loss} is not a finite scalar"
    rows = pol.chosen if hasattr(pol, "chosen") else pol.logps
    assert out.per_example.shape == rows.shape, f"{name}: per_example {tuple(out.per_example.shape)}"
    assert not out.per_example.requires_grad, f"{name}: per_example must be detached"
    for key, value in out.metrics.items():
        assert value.dim() == 0 and not value.requires_grad and torch.isfinite(value), f"{name}: metric {key}"
    out.loss.backward()
    grads = [p.grad for p in policy.model.parameters() if p.grad is not None]
    assert grads and max(g.abs().max().item() for g in grads) > 0, f"{name}: the loss does not reach the weights"
    with torch.no_grad():
        a, b = obj.loss(pol, ref).loss, obj.loss(pol, other).loss
    if obj.needs_reference:
        assert not torch.equal(a, b), f"{name}: needs_reference is true but the loss ignores the reference"
    else:
        assert torch.equal(a, b) and torch.equal(a, obj.loss(pol, None).loss.detach()), \
            f"{name}: reference-free, but the loss changes with the reference"


def check_online(algo: OnlineAlgorithm, params: dict | None = None) -> list[dict]:
    """Two steps of the online loop on a tiny policy against a rule reward (share of the words 'blue')."""
    from prefzoo.config import from_dict, to_dict
    from prefzoo.data.loaders import records_from_list
    from prefzoo.feedback.base import RuleFeedback
    from prefzoo.job import Job
    from prefzoo.recipe import TrainConfig

    cfg = from_dict(type(algo.config), {**to_dict(algo.config), "reward": "judge", "steps": 2,
                                        "prompts_per_step": 4, "max_new_tokens": 5, **(params or {})})
    algo = type(algo)(cfg)
    pairs, _ = records_from_list(records_of(PAIRS), PAIRS)
    torch.manual_seed(0)
    policy = tiny_policy(records_of(PAIRS))
    blue = RuleFeedback(lambda p, r: r.split().count("blue") / max(1, len(r.split())), name="blue")
    with tempfile.TemporaryDirectory() as tmp:
        job = Job(policy=policy, train=TrainConfig(lr=3e-3, progress=False), out_dir=Path(tmp), seed=0,
                  data={PAIRS: pairs}, feedback=blue)
        result = algo.run(job)
    rows = result.history
    assert [r["step"] for r in rows] == [1, 2], f"{algo.name}: logged steps {[r['step'] for r in rows]}"
    for r in rows:
        for key in ("loss", "kl", "response_length"):
            assert key in r and math.isfinite(r[key]), f"{algo.name}: metric {key!r} missing or not finite: {r}"
    return rows


def check_algorithm(cls: type, online_params: dict | None = None) -> None:
    """Every contract that applies to ``cls``; raises ``AssertionError`` naming the first one broken."""
    algo = _check_attributes(cls)
    if isinstance(algo, Objective):
        check_objective(algo)
    elif isinstance(algo, OnlineAlgorithm):
        check_online(algo, online_params)


__all__ = ["check_algorithm", "check_objective", "check_online", "offline_inputs", "records_of", "tiny_policy",
           "perturbed_copy", "TINY_PAIRS"]
