"""The GRPO family (grpo, dapo, dr-grpo, gspo, cispo, reinforce-pp): the losses against TRL 1.16's
GRPOTrainer loss on the same per-token log-probs and advantages (float64, loss and gradient), the loss
aggregations and reward scalings by hand, DAPO's group filter, refill and overlong shaping, and (slow)
each tiny recipe learning its rule reward."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from prefzoo.api import (OnlineBatch, Scores, aggregate_loss, group_advantages, soft_overlong_penalty,
                         varying_groups)
from prefzoo.runner import build_algorithm

ROOT = Path(__file__).resolve().parents[1]
ATOL = 1e-6
B, T, L_MAX = 6, 5, 7  # rows (3 groups of 2), response width, TRL's max_completion_length


# ----------------------------------------------------------------------------- aggregations, by hand
def test_loss_aggregations_by_hand():
    """x = [[1, 2, 3], [4, 0, 0]] with mask [[1, 1, 1], [1, 0, 0]] (lengths 3 and 1):
    token-mean                 (1+2+3+4) / 4             = 2.5
    seq-mean-token-mean        ((6/3) + (4/1)) / 2        = 3.0
    seq-mean-token-sum         (6 + 4) / 2                = 5.0
    seq-mean-token-sum-norm    (6/10 + 4/10) / 2, norm 10 = 0.5
    With a global count (token_denom 8, row_denom 4, as another process holding as many): halved."""
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]], dtype=torch.float64)
    m = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.float64)
    want = {"token-mean": 2.5, "seq-mean-token-mean": 3.0, "seq-mean-token-sum": 5.0, "seq-mean-token-sum-norm": 0.5}
    for mode, v in want.items():
        assert abs(aggregate_loss(x, m, mode, norm=10.0).item() - v) < ATOL, mode
        glob = aggregate_loss(x, m, mode, torch.tensor(8.0, dtype=torch.float64),
                              torch.tensor(4.0, dtype=torch.float64), norm=10.0)
        assert abs(glob.item() - v / 2) < ATOL, mode
    with pytest.raises(ValueError, match="loss_agg must be one of"):
        aggregate_loss(x, m, "seq-sum")


def test_reward_scalings_by_hand():
    """Two groups of 2: R = (1, 0 | 3, 3). Centred: (0.5, -0.5 | 0, 0).
    group: the group std (sample) is 0.7071 and 0 -> (0.5/(0.7071+1e-4), ..., 0, 0);
    batch: std of (1, 0, 3, 3) = sqrt(((1-1.75)^2 + 1.75^2 + 2*1.25^2)/3) = sqrt(7.0/3... ) = 1.5;
    none: the centred values."""
    r = torch.tensor([1.0, 0.0, 3.0, 3.0], dtype=torch.float64)
    g = 0.5 / (math.sqrt(0.5) + 1e-4)
    torch.testing.assert_close(group_advantages(r, 2, "group"), torch.tensor([g, -g, 0, 0], dtype=torch.float64))
    std = math.sqrt((0.75 ** 2 + 1.75 ** 2 + 2 * 1.25 ** 2) / 3)
    assert abs(std - 1.5) < ATOL
    b = 0.5 / (1.5 + 1e-4)
    torch.testing.assert_close(group_advantages(r, 2, "batch"), torch.tensor([b, -b, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(group_advantages(r, 2, "none"), torch.tensor([0.5, -0.5, 0, 0], dtype=torch.float64))


def test_dynamic_sampling_filter_and_overlong_penalty_by_hand():
    """Groups (0, 1), (1, 1), (0.5, 0.5), (0, 0.25): only the first and the last vary.
    Soft punishment, L_max 10, L_cache 4: lengths 6 -> 0, 7 -> -0.25, 10 -> -1, 12 -> -1 (capped)."""
    s = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.25])
    assert varying_groups(s, 2).tolist() == [True, False, False, True]
    pen = soft_overlong_penalty(torch.tensor([6.0, 7.0, 10.0, 12.0]), 10, 4, factor=1.0)
    torch.testing.assert_close(pen, torch.tensor([0.0, -0.25, -1.0, -1.0]))


def test_presets_carry_their_papers_defaults():
    cfg = {n: build_algorithm(n, {}).config for n in ("grpo", "dapo", "dr-grpo", "gspo", "cispo", "reinforce-pp")}
    assert (cfg["grpo"].loss_agg, cfg["grpo"].clip_range, cfg["grpo"].scale_rewards) == ("token-mean", (0.2, 0.2),
                                                                                          "group")
    assert cfg["dapo"].clip_range == (0.2, 0.28) and cfg["dapo"].beta == 0 and cfg["dapo"].samples_per_prompt == 16
    assert (cfg["dr-grpo"].scale_rewards, cfg["dr-grpo"].loss_agg) == ("none", "seq-mean-token-sum-norm")
    assert cfg["gspo"].clip_range == (3e-4, 4e-4) and cfg["gspo"].loss_agg == "seq-mean-token-mean"
    assert cfg["cispo"].clip_range == (1.0, 4.0)
    with pytest.raises(ValueError, match="scale_rewards"):
        build_algorithm("grpo", {"scale_rewards": "prompt"})
    with pytest.raises(ValueError, match="loss_agg"):
        build_algorithm("rloo", {"loss_agg": "sum"})


# ----------------------------------------------------------------------------- parity with TRL 1.16
trl = pytest.importorskip("trl")


def _inputs(seed: int = 0, scale: float = 0.3):
    """Per-token log-probs (a leaf with grad), old and reference log-probs, a ragged mask, advantages [B]."""
    g = torch.Generator().manual_seed(seed)
    logps = (-torch.rand(B, T, generator=g, dtype=torch.float64) * 2 - 0.1).requires_grad_(True)
    old = logps.detach() + scale * torch.randn(B, T, generator=g, dtype=torch.float64)
    ref = logps.detach() + 0.2 * torch.randn(B, T, generator=g, dtype=torch.float64)
    lengths = [5, 3, 1, 4, 2, 5]
    mask = torch.tensor([[1.0] * n + [0.0] * (T - n) for n in lengths], dtype=torch.float64)
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    return logps, old, ref, mask, adv


class _Acc:
    num_processes = 1

    def reduce(self, t, reduction="sum"):
        return t

    def gather(self, t):
        return t


def trl_loss(logps, old, ref, mask, adv, loss_type, beta, eps_low, eps_high, level="token"):
    """TRL's ``GRPOTrainer._compute_loss`` on a stand-in trainer whose forward returns ``logps``: one
    process, no accumulation, no vLLM, no entropy mask or bonus (the attributes the method reads)."""
    from trl import GRPOTrainer

    stub = SimpleNamespace(
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level=level, beta=beta,
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1),
        loss_type=loss_type, epsilon_low=eps_low, epsilon_high=eps_high, use_vllm=False,
        vllm_importance_sampling_correction=False, model=SimpleNamespace(training=True),
        current_gradient_accumulation_steps=1, max_completion_length=L_MAX, accelerator=_Acc(),
        _entropy_bonus_enabled=False, aux_loss_enabled=False, _metrics={"train": defaultdict(list)},
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, torch.zeros_like(logps), None))
    inputs = {"prompt_ids": torch.zeros(B, 2, dtype=torch.long), "prompt_mask": torch.ones(B, 2, dtype=torch.long),
              "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
              "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref,
              "num_items_in_batch": mask.sum()}
    return GRPOTrainer._compute_loss(stub, None, inputs)


def ours(name, params, logps, old, ref, mask, adv, beta):
    algo = build_algorithm(name, {"max_new_tokens": L_MAX, **params})
    b = OnlineBatch(logps, old, mask, adv.unsqueeze(-1) * mask, ref, beta=beta)
    return algo.loss(b).loss


# (TRL loss_type, TRL epsilon_low / epsilon_high, importance_sampling_level, prefzoo name, prefzoo params)
PARITY = [
    ("grpo", 0.2, 0.2, "token", "grpo", {"loss_agg": "seq-mean-token-mean"}),  # the paper's aggregation
    ("bnpo", 0.2, 0.2, "token", "grpo", {}),                                    # prefzoo's default: token-mean
    ("dapo", 0.2, 0.28, "token", "dapo", {}),
    ("dr_grpo", 0.2, 0.2, "token", "dr-grpo", {}),
    ("cispo", 1.0, 5.0, "token", "cispo", {}),           # TRL's cispo epsilon_high is the cap 1 + 4
    ("grpo", 3e-4, 4e-4, "sequence", "gspo", {}),         # TRL's recommended GSPO setup
]


@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("loss_type,lo,hi,level,name,params", PARITY,
                         ids=[f"{p[0]}-{p[3]}-{p[4]}" for p in PARITY])
def test_loss_and_gradient_match_trl_grpo_trainer(loss_type, lo, hi, level, name, params, beta):
    """Same log-probs, old and reference log-probs, mask and advantages; loss and d loss / d logps within
    1e-6 in float64. Old log-probs differ from the current ones (ratios up to ~e^0.9), so clipping binds
    on some tokens; the GSPO case uses ratios near 1 (scale 6e-4) so its tiny range binds on some rows."""
    scale = 6e-4 if level == "sequence" else 0.3
    for seed in range(3):
        logps, old, ref, mask, adv = _inputs(seed, scale)
        want = trl_loss(logps, old, ref, mask, adv, loss_type, beta, lo, hi, level)
        (want_grad,) = torch.autograd.grad(want, logps)
        got = ours(name, {**params, "beta": beta}, logps, old, ref, mask, adv, beta)
        (got_grad,) = torch.autograd.grad(got, logps)
        assert abs(got.item() - want.item()) < ATOL, (seed, got.item(), want.item())
        torch.testing.assert_close(got_grad, want_grad, atol=ATOL, rtol=0)


def test_gspo_clipping_binds_in_the_parity_inputs():
    """Guard against a vacuous GSPO parity: some rows' sequence ratios leave [1 - 3e-4, 1 + 4e-4]."""
    logps, old, _, mask, _ = _inputs(0, 6e-4)
    s = torch.exp(((logps.detach() - old) * mask).sum(-1) / mask.sum(-1))
    assert bool(((s < 1 - 3e-4) | (s > 1 + 4e-4)).any()) and bool(((s > 1 - 3e-4) & (s < 1 + 4e-4)).any())


# ----------------------------------------------------------------------------- the engine's refill
def test_assemble_groups_takes_each_slots_first_kept_group(tmp_path):
    """Two slots of k = 2. Round 0 keeps slot 1 only, round 1 keeps slot 0 only: slot 0 comes from round
    1, slot 1 from round 0, in slot order; sampled 4, kept 2, filled 0. If round 1 kept nothing, slot 0
    falls back to its round-0 group: filled 1. Rollouts of different widths are re-padded."""
    from prefzoo.engine.online_parts import assemble_groups, concat_rollouts
    from prefzoo.engine.rollout import Rollout

    def ro(n_prompt, n_resp, tag):
        rows = 4
        ids = torch.arange(rows * (n_prompt + n_resp)).view(rows, -1) + 100 * tag
        return Rollout([f"p{tag}{i}" for i in range(rows)], [[1] * n_prompt] * rows, [[2] * n_resp] * rows,
                       [f"t{tag}{i}" for i in range(rows)], ids, torch.ones_like(ids), torch.ones_like(ids),
                       torch.ones(rows, n_resp), torch.ones(rows, dtype=torch.bool))

    r0 = (ro(2, 3, 0), Scores(torch.tensor([0.0, 0.0, 1.0, 0.0])), torch.tensor([False, True]))
    r1 = (ro(4, 2, 1), Scores(torch.tensor([1.0, 0.0, 1.0, 1.0])), torch.tensor([True, False]))
    out, fb, counts = assemble_groups([r0, r1], 2)
    assert out.texts == ["t10", "t11", "t02", "t03"] and fb.scores.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert counts == [4, 2, 0]
    assert out.input_ids.shape == (4, 4 + 3) and out.response_mask[:2, 2].sum() == 0  # re-padded
    r1_none = (r1[0], r1[1], torch.tensor([False, False]))
    out, fb, counts = assemble_groups([r0, r1_none], 2)
    assert out.texts == ["t00", "t01", "t02", "t03"] and counts == [4, 1, 1]
    both = concat_rollouts([r0[0], r1[0]])
    assert both.input_ids.shape == (8, 7) and both.attention_mask[:4, :2].sum() == 0


def test_dapo_refills_dropped_groups_and_logs_it(tmp_path):
    """With a reward that is the same for most groups, DAPO samples more rounds and logs them; with
    dynamic sampling off it samples once."""
    from test_online import make_job, pairs  # noqa: F401  (the tiny job of the online tests)
    from prefzoo.data import load_records

    ds, _ = load_records(str(ROOT / "recipes" / "data" / "tiny_pairs.jsonl"), "pairs")
    rows = {}
    for ds_on in (True, False):
        torch.manual_seed(0)
        algo = build_algorithm("dapo", {"reward": "judge", "steps": 2, "prompts_per_step": 4, "max_new_tokens": 5,
                                        "samples_per_prompt": 4, "max_sampling_rounds": 3,
                                        "dynamic_sampling": ds_on})
        out = tmp_path / str(ds_on)
        algo.run(make_job(out, ds))
        rows[ds_on] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(1 <= r["sampling_rounds"] <= 3 for r in rows[True])
    assert all(0 <= r["groups_kept_fraction"] <= 1 and r["groups_filled"] >= 0 for r in rows[True])
    assert any(r["sampling_rounds"] > 1 for r in rows[True])  # blue_fraction is 0 for most groups
    assert "sampling_rounds" not in rows[False][0]


# ----------------------------------------------------------------------------- the tiny recipes learn
@pytest.mark.slow
@pytest.mark.parametrize("name", ["dapo", "dr-grpo", "gspo", "cispo", "reinforce-pp"])
def test_tiny_family_recipe_learns_the_rule_reward(tmp_path, name):
    """`prefzoo train recipes/tiny-NAME.yaml`: the mean reward of the last 3 steps exceeds that of the
    first 3 by more than 3 standard errors (the bar of tests/test_online.py), kl under target_kl."""
    recipe = ROOT / "recipes" / f"tiny-{name}.yaml"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "prefzoo.cli", "train", str(recipe), "--out", str(tmp_path),
                    "--set", "train.progress=false"], check=True, cwd=ROOT, env=env, timeout=300)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    params = yaml.safe_load(recipe.read_text())["params"]
    n = 3 * params["prompts_per_step"] * params.get("samples_per_prompt", 1)
    first, last = rows[:3], rows[-3:]
    mean = lambda rs: sum(r["reward_mean"] for r in rs) / 3  # noqa: E731
    var = lambda rs: sum(r["reward_std"] ** 2 for r in rs) / 3  # noqa: E731
    z = (mean(last) - mean(first)) / math.sqrt((var(first) + var(last)) / n)
    assert z > 3, (z, [r["reward_mean"] for r in rows])
    assert max(r["kl"] for r in rows) < params.get("target_kl", float("inf"))


@pytest.mark.slow
def test_dapo_refill_and_row_counts_match_on_two_processes(tmp_path):
    """DAPO's refill (a sparse reward: most groups all zero, so several rounds), its overlong filter
    (rows out of the loss) and a per-sequence aggregation (the row count over processes) give the same
    per-step numbers on two processes as on one."""
    from test_multiprocess import assert_same_steps, launch_two, train_args

    from prefzoo import cli

    recipe, one, two = ROOT / "recipes" / "tiny-dapo.yaml", tmp_path / "one", tmp_path / "two"
    sets = ["params.steps=4", "params.prompts_per_step=4", "params.overlong_filter=true",
            "params.loss_agg=seq-mean-token-mean"]
    assert cli.main(train_args(recipe, one, *sets)) == 0
    launch_two(train_args(recipe, two, *sets))
    keys = ("loss", "policy_loss", "reward_mean", "reward_std", "kl", "grad_norm", "response_length",
            "sampling_rounds", "groups_kept_fraction", "groups_filled", "clip_fraction")
    assert_same_steps(one, two, keys, 4)
    assert any(r["sampling_rounds"] > 1 for r in read_rows(one))


def read_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
