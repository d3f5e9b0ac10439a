"""The online loop: estimators and losses on hand-worked numbers, the loop's contracts, faults, resume,
and (slow) the tiny recipes learning their rule reward."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from prefzoo import registry
from prefzoo.data import load_records
from prefzoo.api import (OnlineAlgorithm, clipped_policy_loss, clipped_value_loss, explained_variance, gae,
                         group_normalized, kl_k1, kl_k3, remax, rloo, whiten)
from prefzoo.engine.online import KLController
from prefzoo.feedback.base import FeedbackError, RuleFeedback
from prefzoo.feedback.resolve import RewardSpecError, resolve_reward
from prefzoo.job import Job
from prefzoo.models.policy import Policy
from prefzoo.models.tiny import words_of
from prefzoo.recipe import ModelConfig, TrainConfig
from prefzoo.runner import build_algorithm

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "recipes" / "data" / "tiny_pairs.jsonl"
ATOL = 1e-6


# ----------------------------------------------------------------------------- estimators, by hand
def test_gae_by_hand():
    """gamma=1, lambda=0.95, r = (0, 0, 1), V = (0.5, 0.4, 0.3), terminal after t=2:
    d2 = 1 - 0.3 = 0.7;           A2 = 0.7
    d1 = 0 + 0.3 - 0.4 = -0.1;    A1 = -0.1 + 0.95*0.7 = 0.565
    d0 = 0 + 0.4 - 0.5 = -0.1;    A0 = -0.1 + 0.95*0.565 = 0.43675
    returns = A + V = (0.93675, 0.965, 1.0). A padded 4th position stays 0 and does not leak."""
    r = torch.tensor([[0.0, 0.0, 1.0, 5.0]], dtype=torch.float64)
    v = torch.tensor([[0.5, 0.4, 0.3, 9.0]], dtype=torch.float64)
    m = torch.tensor([[1, 1, 1, 0]], dtype=torch.float64)
    out = gae(r, v, m, gamma=1.0, lam=0.95)
    torch.testing.assert_close(out.advantages, torch.tensor([[0.43675, 0.565, 0.7, 0.0]], dtype=torch.float64),
                               atol=ATOL, rtol=0)
    torch.testing.assert_close(out.returns, torch.tensor([[0.93675, 0.965, 1.0, 0.0]], dtype=torch.float64),
                               atol=ATOL, rtol=0)


def _slow_gae(r, v, m, gamma, lam):
    """The textbook definition: A_t = sum_l (gamma lam)^l delta_{t+l}, summed over the response only."""
    B, T = r.shape
    adv = torch.zeros_like(r)
    for b in range(B):
        n = int(m[b].sum())
        for t in range(n):
            total = 0.0
            for l in range(n - t):
                nxt = v[b, t + l + 1].item() if t + l + 1 < n else 0.0
                delta = r[b, t + l].item() + gamma * nxt - v[b, t + l].item()
                total += (gamma * lam) ** l * delta
            adv[b, t] = total
    return adv


def test_gae_matches_slow_reference_loop():
    g = torch.Generator().manual_seed(0)
    r = torch.randn(5, 7, generator=g, dtype=torch.float64)
    v = torch.randn(5, 7, generator=g, dtype=torch.float64)
    lengths = [7, 1, 4, 6, 3]
    m = torch.tensor([[1.0] * n + [0.0] * (7 - n) for n in lengths], dtype=torch.float64)
    for gamma, lam in [(1.0, 0.95), (0.9, 0.8), (1.0, 1.0)]:
        out = gae(r, v, m, gamma, lam)
        torch.testing.assert_close(out.advantages, _slow_gae(r, v, m, gamma, lam), atol=ATOL, rtol=0)
        torch.testing.assert_close(out.returns, (out.advantages + v) * m, atol=ATOL, rtol=0)


def test_clipped_policy_loss_by_hand():
    """eps = 0.2, ratios (1.5, 0.5, 1.1), A = (1, -1, 2):
    row 0: -A r = -1.5, clipped -A*1.2 = -1.2  -> max -1.2 (clipped)
    row 1: -A r =  0.5, clipped -A*0.8 =  0.8  -> max  0.8 (clipped)
    row 2: -A r = -2.2, clipped -2.2           -> -2.2 (not clipped)
    loss = (-1.2 + 0.8 - 2.2) / 3 = -0.8666667; clip fraction 2/3; ratio mean 3.1/3."""
    old = torch.zeros(1, 3, dtype=torch.float64)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1]], dtype=torch.float64))
    adv = torch.tensor([[1.0, -1.0, 2.0]], dtype=torch.float64)
    loss, frac, ratio = clipped_policy_loss(logp, old, adv, torch.ones(1, 3, dtype=torch.float64), 0.2)
    assert abs(loss.item() - (-2.6 / 3)) < ATOL
    assert abs(frac.item() - 2 / 3) < ATOL
    assert abs(ratio.item() - 3.1 / 3) < ATOL
    # a masked token does not count
    loss2, _, _ = clipped_policy_loss(logp, old, adv, torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64), 0.2)
    assert abs(loss2.item() - (-0.4 / 2)) < ATOL


def test_clipped_value_loss_by_hand():
    """eps = 0.2, V = (1.0, 0.0), V_old = (0.5, 0.5), G = (1.2, -1.0):
    V_clip = (0.7, 0.3); (V-G)^2 = (0.04, 1.0); (V_clip-G)^2 = (0.25, 1.69); max = (0.25, 1.69)
    loss = 0.5 * (0.25 + 1.69) / 2 = 0.485; both rows clipped."""
    v = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    old = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    g = torch.tensor([[1.2, -1.0]], dtype=torch.float64)
    loss, frac = clipped_value_loss(v, old, g, torch.ones(1, 2, dtype=torch.float64), 0.2)
    assert abs(loss.item() - 0.485) < ATOL and abs(frac.item() - 1.0) < ATOL


def test_rloo_advantages_by_hand():
    """k = 4, R = (1, 2, 3, 6): leave-one-out means (11/3, 10/3, 9/3, 6/3)
    -> A = (1 - 11/3, 2 - 10/3, 0, 6 - 2) = (-8/3, -4/3, 0, 4). k = 2 groups (1, 3), (2, 2) -> (-2, 2, 0, 0)."""
    r = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.float64)
    torch.testing.assert_close(rloo(r, 4), torch.tensor([-8 / 3, -4 / 3, 0.0, 4.0], dtype=torch.float64),
                               atol=ATOL, rtol=0)
    torch.testing.assert_close(rloo(torch.tensor([1.0, 3.0, 2.0, 2.0], dtype=torch.float64), 2),
                               torch.tensor([-2.0, 2.0, 0.0, 0.0], dtype=torch.float64), atol=ATOL, rtol=0)


def test_group_normalized_advantages_by_hand():
    """R = (1, 2, 3, 6): mean 3, sample std sqrt((4 + 1 + 0 + 9) / 3) = sqrt(14/3) = 2.1602469
    -> A = (-2, -1, 0, 3) / (2.1602469 + 1e-4)."""
    r = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.float64)
    std = math.sqrt(14 / 3)
    want = torch.tensor([-2.0, -1.0, 0.0, 3.0], dtype=torch.float64) / (std + 1e-4)
    torch.testing.assert_close(group_normalized(r, 4), want, atol=ATOL, rtol=0)


def test_remax_advantages_by_hand():
    """R = (1, 0.5), greedy rewards (0.2, 0.7) -> A = (0.8, -0.2)."""
    out = remax(torch.tensor([1.0, 0.5], dtype=torch.float64), torch.tensor([0.2, 0.7], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([0.8, -0.2], dtype=torch.float64), atol=ATOL, rtol=0)


def test_kl_estimators_by_hand():
    """pi = 0.5, pi_ref = 0.25: k1 = log 0.5 - log 0.25 = log 2 = 0.6931472;
    k3 = pi_ref/pi - log(pi_ref/pi) - 1 = 0.5 + log 2 - 1 = 0.1931472. Equal policies: both 0."""
    lp, ref = torch.log(torch.tensor([0.5], dtype=torch.float64)), torch.log(torch.tensor([0.25], dtype=torch.float64))
    assert abs(kl_k1(lp, ref).item() - math.log(2)) < ATOL
    assert abs(kl_k3(lp, ref).item() - (0.5 + math.log(2) - 1)) < ATOL
    assert kl_k1(lp, lp).item() == 0 and kl_k3(lp, lp).item() == 0


def test_whiten_and_explained_variance_and_kl_controller():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]], dtype=torch.float64)
    m = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    # masked mean 2, unbiased var 1 -> (-1, 0, 1), padding 0
    torch.testing.assert_close(whiten(x, m, eps=0.0), torch.tensor([[-1.0, 0.0, 1.0, 0.0]], dtype=torch.float64),
                               atol=ATOL, rtol=0)
    assert abs(explained_variance(x, x, m).item() - 1.0) < ATOL
    # Ziegler et al.: e = clip(3/2 - 1, -0.2, 0.2) = 0.2; beta = 0.1 * (1 + 0.2 * 100/1000) = 0.102
    ctl = KLController(0.1, target=2.0, horizon=1000)
    ctl.update(3.0, 100)
    assert abs(ctl.value - 0.102) < ATOL
    fixed = KLController(0.1)
    fixed.update(3.0, 100)
    assert fixed.value == 0.1


# ----------------------------------------------------------------------------- the loop
def blue_fraction(prompt, response):
    words = response.split()
    return sum(w == "blue" for w in words) / len(words) if words else 0.0


@pytest.fixture(scope="module")
def pairs():
    ds, _ = load_records(str(PAIRS), "pairs")
    return ds


def make_job(tmp_path, pairs, feedback=None, **train):
    vocab = words_of(v for col in ("prompt", "chosen", "rejected") for v in pairs[col])
    policy = Policy.load(ModelConfig(base="tiny"), vocab=vocab, seed=0)
    cfg = TrainConfig(lr=3e-3, progress=False, **train)
    return Job(policy=policy, train=cfg, out_dir=tmp_path, seed=0, data={"pairs": pairs},
               feedback=feedback or RuleFeedback(blue_fraction), recipe_dir=ROOT / "recipes")


ONLINE = [n for n in registry.names() if issubclass(registry.get(n), OnlineAlgorithm)]


def test_the_online_algorithms_are_registered():
    assert {"ppo", "rloo", "grpo", "remax", "online-dpo"} <= set(ONLINE)
    for n in ONLINE:
        assert registry.get(n).data_kind == "prompts"


@pytest.mark.parametrize("name", ONLINE)
def test_every_online_algorithm_runs_and_logs(tmp_path, pairs, name):
    """Contract, for free for any new online algorithm: two steps, finite metrics, the required keys."""
    torch.manual_seed(0)
    algo = build_algorithm(name, {"reward": "judge", "steps": 2, "prompts_per_step": 4, "max_new_tokens": 5})
    result = algo.run(make_job(tmp_path, pairs))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and result.history == rows
    need = {"loss", "kl", "entropy", "response_length", "eos_fraction"}
    if "preference_mean" not in rows[0]:  # a scoring learner (not one labelled by preferences)
        need |= {"reward_mean", "reward_std"}
    if algo.uses_critic:
        need |= {"clip_fraction", "value_loss", "explained_variance", "ratio_mean"}
    for r in rows:
        assert need <= set(r), need - set(r)
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, float))
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-4)  # step 0: the policy is the reference


def test_over_long_prompts_are_dropped_and_counted(tmp_path, pairs):
    algo = build_algorithm("rloo", {"reward": "judge", "steps": 1, "prompts_per_step": 4, "max_new_tokens": 4,
                                    "max_prompt_length": 9})
    job = make_job(tmp_path, pairs)
    lengths = [len(job.policy.encode_prompt(p)) for p in pairs["prompt"]]
    too_long = sum(n > 9 for n in lengths)
    assert 0 < too_long < len(lengths)
    result = algo.run(job)
    assert result.info["prompts_dropped"] == too_long
    assert result.history[-1]["prompts_dropped"] == too_long


@pytest.mark.parametrize("bad", ["raise", "nan"])
def test_a_failing_reward_stops_the_run_naming_the_prompt(tmp_path, pairs, bad):
    def reward(prompt, response):
        if bad == "raise":
            raise ValueError("scorer down")
        return float("nan")

    algo = build_algorithm("rloo", {"reward": "judge", "steps": 2, "prompts_per_step": 4, "max_new_tokens": 4})
    with pytest.raises(FeedbackError, match="prompt '") as err:
        algo.run(make_job(tmp_path, pairs, feedback=RuleFeedback(reward)))
    assert ("scorer down" in str(err.value)) if bad == "raise" else ("nan" in str(err.value))


def test_resume_continues_exactly_from_the_last_checkpoint(tmp_path, pairs):
    """A run that dies in step 3 (its reward raises) resumes from the step-2 checkpoint and logs the
    same numbers as a run that never stopped."""
    params = {"reward": "judge", "steps": 4, "prompts_per_step": 4, "samples_per_prompt": 2, "max_new_tokens": 5}
    torch.manual_seed(0)
    full = build_algorithm("ppo", params).run(make_job(tmp_path / "full", pairs, checkpoint_every=2))

    calls = {"n": 0}

    def flaky(prompt, response):
        calls["n"] += 1
        if calls["n"] > 2 * 8:  # 8 rows per step: the third step's reward fails
            raise RuntimeError("judge crashed")
        return blue_fraction(prompt, response)

    torch.manual_seed(0)
    with pytest.raises(FeedbackError):
        build_algorithm("ppo", params).run(make_job(tmp_path / "cut", pairs, feedback=RuleFeedback(flaky),
                                                    checkpoint_every=2))
    assert (tmp_path / "cut" / "checkpoints" / "step-2" / "state.pt").exists()
    torch.manual_seed(123)  # the checkpoint restores the RNG: this must not matter
    resumed = build_algorithm("ppo", params).run(make_job(tmp_path / "cut", pairs, checkpoint_every=2, resume=True))
    assert [r["step"] for r in resumed.history] == [3, 4]
    rows = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for a, b in zip(full.history, rows):
        for key in ("reward_mean", "kl", "loss", "value_loss", "entropy"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), (a["step"], key)


def test_resolve_reward_specs(tmp_path, pairs):
    job = make_job(tmp_path, pairs)
    rule = resolve_reward("rule:rules.py:blue_fraction", job)  # relative to the recipe directory
    assert rule.checked_score(["q"], ["blue sky blue ."]).tolist() == [0.5]
    assert resolve_reward("judge", job) is job.feedback
    with pytest.raises(RewardSpecError, match="world"):
        resolve_reward("world", job)
    with pytest.raises(RewardSpecError, match="unknown reward spec"):
        resolve_reward("rules.py", job)
    with pytest.raises(RewardSpecError, match="functions there"):
        resolve_reward("rule:rules.py:nope", job)


# ----------------------------------------------------------------------------- the tiny recipes learn
@pytest.mark.slow
@pytest.mark.parametrize("name", ["ppo", "rloo", "grpo", "nash-md", "xpo"])
def test_tiny_recipe_learns_the_rule_reward(tmp_path, name):
    """`prefzoo train recipes/tiny-NAME.yaml`: the mean reward of the last 3 steps exceeds that of the
    first 3 by more than 3 standard errors (a one-sided test on the samples of those steps), while
    kl stays under the recipe's target_kl at every step.

    (Until Nov 2026 the bar was "last-3 mean >= step-0 mean + 2 step-0 std": one batch as the baseline.
    Over seeds 0-3 tiny-ppo passed it 3 times with the old sampler and 0 times with the row-keyed one,
    though the reward rose in every run: too noisy a baseline for 12 steps. Measured with this bar and
    lr 0.002: z = 3.6, 8.4, 3.9, 7.4 for seeds 0-3, max kl 3.8.)"""
    recipe = ROOT / "recipes" / f"tiny-{name}.yaml"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "prefzoo.cli", "train", str(recipe), "--out", str(tmp_path),
                    "--set", "train.progress=false"], check=True, cwd=ROOT, env=env, timeout=300)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    params = yaml.safe_load(recipe.read_text())["params"]
    n = 3 * params["prompts_per_step"] * params.get("samples_per_prompt", 1)  # samples at each end
    first, last = rows[:3], rows[-3:]
    mean = lambda rs: sum(r["reward_mean"] for r in rs) / 3  # noqa: E731
    var = lambda rs: sum(r["reward_std"] ** 2 for r in rs) / 3  # noqa: E731
    z = (mean(last) - mean(first)) / math.sqrt((var(first) + var(last)) / n)
    assert z > 3, (z, [r["reward_mean"] for r in rows])
    assert max(r["kl"] for r in rows) < params["target_kl"]


def test_no_eos_penalty_replaces_only_cut_responses():
    from prefzoo.engine.online import apply_no_eos_penalty

    scores = torch.tensor([0.5, 2.0, -0.3])
    eos = torch.tensor([True, False, True])  # the second response ran out of tokens
    out = apply_no_eos_penalty(scores, eos, -1.0)
    assert torch.equal(out, torch.tensor([0.5, -1.0, -0.3]))
    assert torch.equal(apply_no_eos_penalty(scores, eos, None), scores)


@pytest.mark.parametrize("backend", ["generate", "vllm"])
def test_rollout_backend_choice_is_recorded(tmp_path, pairs, backend):
    """``generate`` runs HF generate; ``vllm`` without vLLM or a GPU falls back to the loop and says why."""
    algo = build_algorithm("rloo", {"reward": "judge", "steps": 1, "prompts_per_step": 4, "max_new_tokens": 4,
                                    "rollout_backend": backend})
    result = algo.run(make_job(tmp_path, pairs))
    if backend == "generate":
        assert result.info["rollout_backend"] == "generate"
    else:
        from prefzoo.engine.vllm_backend import vllm_unavailable_reason

        why = vllm_unavailable_reason()
        assert why is not None  # this test machine has no GPU
        assert result.info["rollout_backend"].startswith("loop (vllm requested but unavailable")
        assert why in result.info["rollout_backend"]
    assert result.info["processes"] == 1


def test_unknown_rollout_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="rollout_backend must be one of loop, generate, vllm"):
        build_algorithm("rloo", {"reward": "judge", "rollout_backend": "vlm"})


def test_vllm_is_not_used_with_sharded_parameters(monkeypatch):
    """Even where vLLM could run, FSDP / ZeRO-3 shards make its weight sync impossible: loop, and why."""
    import prefzoo.engine.vllm_backend as vb
    from prefzoo.api import OnlineConfig
    from prefzoo.engine.online_parts import rollout_engine

    monkeypatch.setattr(vb, "vllm_unavailable_reason", lambda: None)
    backend, engine, note = rollout_engine(OnlineConfig(rollout_backend="vllm"), None, "zero3")
    assert (backend, engine) == ("loop", None) and "zero3 shards them" in note


def test_remax_baseline_penalises_only_greedy_responses_cut_before_eos():
    """ReMax's feedback hook: the sampled rows and the greedy baseline get the same no-EOS rule (a response
    that ended keeps its score; one cut by max_new_tokens gets the penalty), baseline repeated per row."""
    from types import SimpleNamespace

    from prefzoo.api import FeedbackInput

    def rollout(texts, eos):
        return SimpleNamespace(prompts=["p"] * len(texts), texts=texts, eos=torch.tensor(eos),
                               response_mask=torch.ones(len(texts), 2))

    reward = RuleFeedback(lambda p, r: float(len(r)))
    sampled = rollout(["aa", "bbb", "c", "dddd"], [True, False, True, True])
    greedy = rollout(["xyz", "q"], [True, False])
    remax_algo = build_algorithm("remax", {"reward": "judge", "samples_per_prompt": 2})
    out = remax_algo.feedback(FeedbackInput(sampled, reward, 2, -1.0, lambda: greedy))
    assert out.scores.tolist() == [2.0, -1.0, 1.0, 4.0]
    assert out.baseline.tolist() == [3.0, 3.0, -1.0, -1.0]
