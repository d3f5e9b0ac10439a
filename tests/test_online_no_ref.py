"""GRPO's family at beta 0 with ``log_kl: false``: the online loop runs no reference forward (none is even
made), and trains exactly as with the reference computed for the logged kl: every logged number but kl
(NaN, "nan" in the log: not computed) and kl_k3 (no k3 term), and the final weights, bitwise the same."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import torch

from prefzoo.config import from_dict, to_dict
from prefzoo.data.loaders import records_from_list
from prefzoo.feedback.base import RuleFeedback
from prefzoo.job import Job
from prefzoo.recipe import TrainConfig
from prefzoo.registry import get
from prefzoo.testing import records_of, tiny_policy


def _train(name: str, **params):
    """Three steps of ``name`` on the tiny policy against the share of 'blue' words; (history, policy, the
    number of times the loop asked for the reference model)."""
    cls = get(name)
    cfg = from_dict(cls.Config, {**to_dict(cls.Config()), "reward": "judge", "steps": 3, "prompts_per_step": 4,
                                 "samples_per_prompt": 4, "max_new_tokens": 6, **params})
    pairs, _ = records_from_list(records_of("pairs"), "pairs")
    torch.manual_seed(0)
    policy = tiny_policy(records_of("pairs"))
    asked = []
    reference_model = policy.reference_model

    def counted():
        asked.append(1)
        return reference_model()

    policy.reference_model = counted
    blue = RuleFeedback(lambda p, r: r.split().count("blue") / max(1, len(r.split())), name="blue")
    with tempfile.TemporaryDirectory() as tmp:
        job = Job(policy=policy, train=TrainConfig(lr=3e-3, progress=False), out_dir=Path(tmp), seed=0,
                  data={"pairs": pairs}, feedback=blue)
        result = cls(cfg).run(job)
    return result.history, result.policy, len(asked)


@pytest.mark.parametrize("name", ["dapo", "dr-grpo", "gspo", "cispo"])
def test_beta_0_without_kl_log_skips_the_reference_and_trains_the_same(name):
    assert get(name).Config().beta == 0 and get(name)().needs_reference  # the default logs kl: reference on
    with_ref, policy_ref, asked_ref = _train(name)
    no_ref, policy_no, asked_no = _train(name, log_kl=False)
    assert asked_ref == 4 and asked_no == 0  # set-up + one forward per step; none at all
    assert policy_no._frozen_ref is None  # no copy of the weights made
    for a, b in zip(with_ref, no_ref):
        assert math.isfinite(a["kl"]) and b["kl"] == "nan"  # the tracker's spelling of a NaN: not computed
        assert "kl_k3" in a and "kl_k3" not in b
        skip = {"kl", "kl_k3"} | {k for k in a if k.endswith(("_s", "_share", "per_s")) or "flops" in k or "mfu" in k}
        assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}
    for p, q in zip(policy_ref.model.state_dict().values(), policy_no.model.state_dict().values()):
        assert torch.equal(p, q)


def test_log_kl_false_needs_beta_0_and_a_fixed_beta():
    with pytest.raises(ValueError, match="log_kl"):
        get("grpo").Config(log_kl=False)  # beta 0.04
    with pytest.raises(ValueError, match="log_kl"):
        get("dapo").Config(log_kl=False, target_kl=1.0)
    assert get("grpo")().needs_reference and not get("dapo")(get("dapo").Config(log_kl=False)).needs_reference


def test_beta_above_0_still_uses_the_reference():
    rows, _, asked = _train("grpo", steps=2)
    assert asked == 3 and all(math.isfinite(r["kl"]) and "kl_k3" in r for r in rows)

