"""Every objective on hand-worked numbers (atol 1e-6).

Expected values are computed with ``math`` straight from each paper's formula (never by calling the
objective), and the arithmetic is written next to them. Shared batch of two pairs, float64:

    policy     log pi(y_w) = [-3.0, -5.0]   log pi(y_l) = [-4.0, -4.5]   |y_w| = [2, 4]   |y_l| = [3, 2]
    reference  log pi_ref(y_w) = [-3.5, -4.0]   log pi_ref(y_l) = [-3.5, -5.0]
    r_w = [0.5, -1.0]   r_l = [-0.5, 0.5]   h = r_w - r_l = [1.0, -1.5]
"""
from __future__ import annotations

import math

import pytest
import torch

from prefzoo import registry
from prefzoo.api import PairLogps, SeqLogps, UnpairedLogps
from prefzoo.algos.orpo import log1mexp
from prefzoo.config import ConfigError
from prefzoo.runner import build_algorithm

ATOL = 1e-6


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def nls(z: float) -> float:
    """-log sigma(z) = log(1 + e^-z)."""
    return math.log1p(math.exp(-z))


def sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def policy_pairs(p_chosen=None):
    return PairLogps(t(-3.0, -5.0), t(-4.0, -4.5), t(2, 4), t(3, 2), p_chosen)


def reference_pairs():
    return PairLogps(t(-3.5, -4.0), t(-3.5, -5.0), t(2, 4), t(3, 2))


def build(name, **params):
    return registry.get(name)(registry.get(name).Config(**params))


def close(actual: torch.Tensor, expected) -> None:
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert torch.allclose(actual.detach().double(), expected, atol=ATOL, rtol=0), (actual, expected)


# ----------------------------------------------------------------------------- dpo family


def test_dpo():
    """beta 0.1: beta*h = [0.1, -0.15]; -log sigma(0.1) = log(1+e^-0.1) = 0.644397,
    -log sigma(-0.15) = log(1+e^0.15) = 0.770957; mean 0.707677. Rewards beta*r: chosen [0.05, -0.1],
    rejected [-0.05, 0.05] -> accuracy 1/2, margin mean(0.1, -0.15) = -0.025."""
    out = build("dpo", beta=0.1).loss(policy_pairs(), reference_pairs())
    per = [nls(0.1), nls(-0.15)]
    close(out.per_example, per)
    close(out.loss, sum(per) / 2)
    close(out.loss, 0.7076768539)
    close(out.metrics["reward_accuracy"], 0.5)
    close(out.metrics["reward_margin"], -0.025)
    close(out.metrics["chosen_reward"], (0.05 - 0.1) / 2)
    close(out.metrics["rejected_reward"], (-0.05 + 0.05) / 2)


def test_dpo_soft_labels():
    """p = [0.8, 0.3]: -p log sigma(z) - (1-p) log sigma(-z) with z = beta*h = [0.1, -0.15]:
    0.8*0.644397 + 0.2*0.744397 = 0.664397;  0.3*0.770957 + 0.7*0.620957 = 0.665957."""
    out = build("dpo", beta=0.1).loss(policy_pairs(t(0.8, 0.3)), reference_pairs())
    per = [0.8 * nls(0.1) + 0.2 * nls(-0.1), 0.3 * nls(-0.15) + 0.7 * nls(0.15)]
    close(out.per_example, per)
    close(out.per_example, [0.6643966601, 0.6659570478])
    # p = 1 everywhere is the hard-label loss
    hard = build("dpo").loss(policy_pairs(t(1.0, 1.0)), reference_pairs())
    close(hard.loss, build("dpo").loss(policy_pairs(), reference_pairs()).loss)


def test_cdpo():
    """eps 0.1: 0.9*(-log sigma(beta h)) + 0.1*(-log sigma(-beta h)):
    0.9*0.644397 + 0.1*0.744397 = 0.654397;  0.9*0.770957 + 0.1*0.620957 = 0.755957."""
    out = build("cdpo", beta=0.1, epsilon=0.1).loss(policy_pairs(), reference_pairs())
    per = [0.9 * nls(0.1) + 0.1 * nls(-0.1), 0.9 * nls(-0.15) + 0.1 * nls(0.15)]
    close(out.per_example, per)
    close(out.per_example, [0.6543966601, 0.7559570478])
    close(out.loss, sum(per) / 2)
    # eps = 0 is DPO
    close(build("cdpo", epsilon=0.0).loss(policy_pairs(), reference_pairs()).loss, sum([nls(0.1), nls(-0.15)]) / 2)


def test_cdpo_soft_label_composes():
    """p = 0.8 with eps 0.1: target 0.9*0.8 + 0.1*0.2 = 0.74 -> -0.74 log sigma(0.1) - 0.26 log sigma(-0.1)."""
    out = build("cdpo").loss(policy_pairs(t(0.8, 1.0)), reference_pairs())
    close(out.per_example[0], 0.74 * nls(0.1) + 0.26 * nls(-0.1))


def test_rdpo():
    """eps 0.1: [0.9*(-log sigma(z)) - 0.1*(-log sigma(-z))] / 0.8, z = [0.1, -0.15]:
    (0.9*0.644397 - 0.1*0.744397)/0.8 = 0.631897;  (0.9*0.770957 - 0.1*0.620957)/0.8 = 0.789707."""
    out = build("rdpo", beta=0.1, epsilon=0.1).loss(policy_pairs(), reference_pairs())
    per = [(0.9 * nls(0.1) - 0.1 * nls(-0.1)) / 0.8, (0.9 * nls(-0.15) - 0.1 * nls(0.15)) / 0.8]
    close(out.per_example, per)
    close(out.per_example, [0.6318966601, 0.7897070478])
    close(out.loss, sum(per) / 2)
    close(out.metrics["reward_margin"], -0.025)


def test_rdpo_soft_label_is_label_expectation():
    """p = 0.8: 0.8 * l(z) + 0.2 * l(-z), l the robust loss above, z = 0.1."""
    out = build("rdpo").loss(policy_pairs(t(0.8, 1.0)), reference_pairs())

    def rob(z):
        return (0.9 * nls(z) - 0.1 * nls(-z)) / 0.8

    close(out.per_example[0], 0.8 * rob(0.1) + 0.2 * rob(-0.1))


def test_ipo_average_log_probs():
    """tau 0.1 -> target 1/(2*0.1) = 5. Per-token log-ratios: r_w/|y_w| = [0.5/2, -1/4] = [0.25, -0.25],
    r_l/|y_l| = [-0.5/3, 0.5/2] = [-0.166667, 0.25]; h = [0.416667, -0.5];
    (0.416667 - 5)^2 = 21.006944, (-0.5 - 5)^2 = 30.25; mean 25.628472."""
    out = build("ipo", tau=0.1).loss(policy_pairs(), reference_pairs())
    per = [(0.25 + 0.5 / 3 - 5) ** 2, (-0.25 - 0.25 - 5) ** 2]
    close(out.per_example, per)
    close(out.per_example, [21.0069444444, 30.25])
    close(out.loss, 25.6284722222)


def test_ipo_summed():
    """average_log_probs false (the paper as written): h = [1, -1.5]; (1-5)^2 = 16, (-1.5-5)^2 = 42.25."""
    out = build("ipo", tau=0.1, average_log_probs=False).loss(policy_pairs(), reference_pairs())
    close(out.per_example, [16.0, 42.25])
    close(out.loss, 29.125)


def test_ipo_soft_label_target():
    """p = 0.8: target (0.8 - 0.5)/0.1 = 3; summed h = 1 -> (1 - 3)^2 = 4."""
    out = build("ipo", average_log_probs=False).loss(policy_pairs(t(0.8, 1.0)), reference_pairs())
    close(out.per_example, [4.0, 42.25])


# ----------------------------------------------------------------------------- slic


def test_slic_default_is_reference_free_calibration_hinge():
    """Defaults (delta 1, beta 1, no reference, no NLL): gap = log pi(y_w) - log pi(y_l) = [1.0, -0.5];
    max(0, 1 - 1.0) = 0, max(0, 1 + 0.5) = 1.5; mean 0.75. The reference is ignored."""
    algo = build("slic")
    assert algo.needs_reference is False
    out = algo.loss(policy_pairs(), None)
    close(out.per_example, [0.0, 1.5])
    close(out.loss, 0.75)
    close(algo.loss(policy_pairs(), reference_pairs()).loss, 0.75)


def test_slic_with_nll_regulariser():
    """nll_weight 0.5 adds 0.5 * (-log pi(y_w)) = 0.5*[3, 5] = [1.5, 2.5]: per = [1.5, 4.0]; mean 2.75."""
    out = build("slic", nll_weight=0.5).loss(policy_pairs(), None)
    close(out.per_example, [1.5, 4.0])
    close(out.loss, 2.75)


def test_slic_trl_hinge_setting():
    """use_reference, beta 0.1, delta 1 (TRL "hinge"): max(0, 1 - 0.1*h), h = [1, -1.5] -> [0.9, 1.15]."""
    algo = build("slic", use_reference=True, beta=0.1)
    assert algo.needs_reference is True
    out = algo.loss(policy_pairs(), reference_pairs())
    close(out.per_example, [0.9, 1.15])
    close(out.loss, 1.025)


def test_slic_soft_label():
    """p = 0.8, default config: 0.8*max(0, 1 - 1) + 0.2*max(0, 1 + 1) = 0.4."""
    out = build("slic").loss(policy_pairs(t(0.8, 1.0)), None)
    close(out.per_example, [0.4, 1.5])


# ----------------------------------------------------------------------------- reference-free


def test_simpo():
    """beta 2, gamma 1. Rewards 2*log pi/|y|: chosen 2*[-3/2, -5/4] = [-3, -2.5],
    rejected 2*[-4/3, -4.5/2] = [-2.666667, -4.5]; margin - gamma = [-0.333333 - 1, 2 - 1] = [-1.333333, 1];
    -log sigma(-1.333333) = 1.567296, -log sigma(1) = 0.313262."""
    algo = build("simpo")
    assert algo.needs_reference is False
    out = algo.loss(policy_pairs(), None)
    per = [nls(-3 + 8 / 3 - 1), nls(-2.5 + 4.5 - 1)]
    close(out.per_example, per)
    close(out.per_example, [1.5672958584, 0.3132616875])
    close(out.metrics["chosen_reward"], (-3 - 2.5) / 2)
    close(out.metrics["reward_accuracy"], 0.5)


def test_simpo_soft_label():
    """p = 0.8 on pair 0: 0.8 * nls(-1/3 - 1) + 0.2 * nls(1/3 - 1)."""
    out = build("simpo").loss(policy_pairs(t(0.8, 1.0)), None)
    close(out.per_example[0], 0.8 * nls(-1 / 3 - 1) + 0.2 * nls(1 / 3 - 1))


def test_orpo():
    """lambda 0.1. Mean token log-probs a_w = [-1.5, -1.25], a_l = [-4/3, -2.25];
    log odds a - log(1 - e^a): w = [-1.247518, -0.912420], l = [-1.027355, -2.138622];
    log odds ratio = [-0.220162, 1.226202]; per = -a_w + 0.1 * log(1 + e^-ratio)
    = 1.5 + 0.1*0.808093 = 1.580927,  1.25 + 0.1*0.257278 = 1.275728."""
    def log_odds(a):
        p = math.exp(a)
        return math.log(p / (1 - p))

    ratio = [log_odds(-1.5) - log_odds(-4 / 3), log_odds(-1.25) - log_odds(-2.25)]
    per = [1.5 + 0.1 * nls(ratio[0]), 1.25 + 0.1 * nls(ratio[1])]
    out = build("orpo").loss(policy_pairs(), None)
    close(out.per_example, per)
    close(out.per_example, [1.580927498, 1.2757278169])
    close(out.metrics["log_odds_ratio"], sum(ratio) / 2)
    close(out.metrics["nll_chosen"], (1.5 + 1.25) / 2)


def test_orpo_rejects_soft_labels():
    with pytest.raises(ValueError, match="hard preference labels"):
        build("orpo").loss(policy_pairs(t(0.8, 1.0)), None)


def test_log1mexp_is_accurate_at_both_ends():
    """log(1 - e^a): near 0, a = -1e-10 -> log(1e-10 - 5e-21) ~ -23.025851; far, a = -50 -> -e^-50;
    middle, a = -1 -> log(1 - e^-1) = -0.458675."""
    a = t(-1e-10, -50.0, -1.0, -math.log(2))
    expected = [math.log(-math.expm1(-1e-10)), -math.exp(-50.0), math.log(1 - math.exp(-1.0)), math.log(0.5)]
    close(log1mexp(a), expected)
    assert torch.isfinite(log1mexp(t(0.0))).all()  # p == 1 exactly: clamped, not -inf


# ----------------------------------------------------------------------------- sft, kto


def test_sft():
    """Token mean over the batch: -(-3 - 5)/(2 + 4) = 8/6 = 1.333333; per example [3/2, 5/4]."""
    out = build("sft").loss(SeqLogps(t(-3.0, -5.0), t(2, 4)), None)
    close(out.loss, 8 / 6)
    close(out.per_example, [1.5, 1.25])


def kto_inputs(mismatched_policy=(-6.0, -7.0, -5.0)):
    pol = UnpairedLogps(t(-3.0, -5.0, -4.0), t(2, 3, 2), t(1.0, 0.0, 0.0), t(*mismatched_policy))
    ref = UnpairedLogps(t(-3.5, -4.0, -4.5), t(2, 3, 2), t(1.0, 0.0, 0.0), t(-7.0, -6.5, -5.5))
    return pol, ref


def test_kto():
    """beta 0.1, lambda_D = lambda_U = 1. r = [0.5, -1.0, 0.5], labels [1, 0, 0].
    z0 = max(0, mean([-6+7, -7+6.5, -5+5.5])) = max(0, (1 - 0.5 + 0.5)/3) = 1/3.
    desirable 0:   1 - sigma(0.1*(0.5 - 1/3))  = 1 - sigma(0.016667)  = 0.495833
    undesirable 1: 1 - sigma(0.1*(1/3 + 1))    = 1 - sigma(0.133333)  = 0.466716
    undesirable 2: 1 - sigma(0.1*(1/3 - 0.5))  = 1 - sigma(-0.016667) = 0.504167;  mean 0.488905."""
    pol, ref = kto_inputs()
    out = build("kto").loss(pol, ref)
    z0 = 1 / 3
    per = [1 - sig(0.1 * (0.5 - z0)), 1 - sig(0.1 * (z0 + 1.0)), 1 - sig(0.1 * (z0 - 0.5))]
    close(out.per_example, per)
    close(out.per_example, [0.4958334298, 0.4667159617, 0.5041665702])
    close(out.loss, sum(per) / 3)
    close(out.metrics["kl"], z0)
    close(out.metrics["desirable_reward"], 0.05)
    close(out.metrics["undesirable_reward"], (-0.1 + 0.05) / 2)


def test_kto_weights_and_zero_clamp():
    """Mismatched policy [-8, -7, -6] vs ref [-7, -6.5, -5.5]: mean(-1, -0.5, -0.5) < 0 -> z0 = 0.
    lambda_D 2, lambda_U 0.5: [2*(1 - sigma(0.05)), 0.5*(1 - sigma(0.1)), 0.5*(1 - sigma(-0.05))]."""
    pol, ref = kto_inputs((-8.0, -7.0, -6.0))
    out = build("kto", desirable_weight=2.0, undesirable_weight=0.5).loss(pol, ref)
    close(out.per_example, [2 * (1 - sig(0.05)), 0.5 * (1 - sig(0.1)), 0.5 * (1 - sig(-0.05))])
    close(out.metrics["kl"], 0.0)


def test_kto_reference_point_is_detached():
    """z0 carries no gradient: d loss / d mismatched = 0 even when the input requires grad."""
    pol, ref = kto_inputs()
    pol.mismatched.requires_grad_(True)
    pol.logps.requires_grad_(True)
    build("kto").loss(pol, ref).loss.backward()
    assert pol.mismatched.grad is None or torch.all(pol.mismatched.grad == 0)
    assert torch.all(pol.logps.grad != 0)


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize("name, params, match", [
    ("dpo", {"beta": 0.0}, "beta"),
    ("cdpo", {"epsilon": -0.1}, "epsilon"),
    ("cdpo", {"epsilon": 0.5}, "epsilon"),
    ("rdpo", {"epsilon": 0.5}, "epsilon"),
    ("rdpo", {"epsilon": 0.7}, "epsilon"),
    ("rdpo", {"beta": -1.0}, "beta"),
    ("ipo", {"tau": 0.0}, "tau"),
    ("slic", {"delta": 0.0}, "delta"),
    ("slic", {"nll_weight": -1.0}, "nll_weight"),
    ("simpo", {"gamma": -0.5}, "gamma"),
    ("simpo", {"beta": 0.0}, "beta"),
    ("orpo", {"lam": -0.1}, "lam"),
    ("kto", {"desirable_weight": 0.0}, "desirable_weight"),
    ("kto", {"beta": 0.0}, "beta"),
])
def test_config_validation(name, params, match):
    cls = registry.get(name)
    with pytest.raises(ValueError, match=match):
        cls.Config(**params)
    with pytest.raises(ConfigError, match=match):  # the recipe path reports it too
        build_algorithm(name, params)


def test_unknown_param_suggests():
    with pytest.raises(ConfigError, match="did you mean 'epsilon'"):
        build_algorithm("rdpo", {"epsilom": 0.2})
