"""Issue 14 item 2 (first half): exo, nca, bco, sppo-hard, aot, apo-zero, apo-down, discopop on
hand-worked numbers (atol 1e-6).

Expected values come from each paper's formula with ``math`` (never by calling the objective), with the
arithmetic in each docstring. Shared batch of two pairs, float64 (the one of tests/test_objectives.py):

    policy     log pi(y_w) = [-3.0, -5.0]   log pi(y_l) = [-4.0, -4.5]   |y_w| = [2, 4]   |y_l| = [3, 2]
    reference  log pi_ref(y_w) = [-3.5, -4.0]   log pi_ref(y_l) = [-3.5, -5.0]
    r_w = [0.5, -1.0]   r_l = [-0.5, 0.5]   h = r_w - r_l = [1.0, -1.5];  beta = 0.1 throughout
    beta r_w = [0.05, -0.1]   beta r_l = [-0.05, 0.05]   beta h = [0.1, -0.15]
    log sigma(+-0.05) = -0.668460 / -0.718460, (+-0.1) = -0.644397 / -0.744397, (+-0.15) = -0.620957 / -0.770957
    sigma(0.05) = 0.512497, sigma(-0.1) = 0.475021, sigma(-0.05) = 0.487503, sigma(0.15) = 0.524979
Soft labels, where tested: p = [0.8, 0.3].
"""
from __future__ import annotations

import math

import pytest
import torch

from prefzoo import registry
from prefzoo.api import PairLogps

ATOL = 1e-6
B = 0.1


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def ls(z: float) -> float:
    """log sigma(z) = -log(1 + e^-z)."""
    return -math.log1p(math.exp(-z))


def sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def policy_pairs(p_chosen=None):
    return PairLogps(t(-3.0, -5.0), t(-4.0, -4.5), t(2, 4), t(3, 2), p_chosen)


def reference_pairs(chosen=(-3.5, -4.0), rejected=(-3.5, -5.0)):
    return PairLogps(t(*chosen), t(*rejected), t(2, 4), t(3, 2))


def build(name, **params):
    return registry.get(name)(registry.get(name).Config(**params))


def close(actual: torch.Tensor, expected) -> None:
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert torch.allclose(actual.detach().double(), expected, atol=ATOL, rtol=0), (actual, expected)


def run(name, p_chosen=None, reference=None, **params):
    return build(name, **params).loss(policy_pairs(p_chosen), reference or reference_pairs())


def test_exo():
    """eps 1e-3, q_w = sigma(beta h) = [0.524979, 0.462570]:
    pair 1: 0.524979 (-0.644397 - log 0.999) + 0.475021 (-0.744397 - log 0.001)
          = 0.524979 (-0.643396) + 0.475021 (6.163358) = 2.589954;
    pair 2: 0.462570 (-0.770957 + 0.001001) + 0.537430 (-0.620957 + 6.907755) = 3.022554; mean 2.806254."""
    out = run("exo", beta=B, epsilon=1e-3)
    per = [sig(z) * (ls(z) - math.log(0.999)) + sig(-z) * (ls(-z) - math.log(1e-3)) for z in (0.1, -0.15)]
    close(out.per_example, per)
    close(out.per_example, [2.5899540258, 3.0225540819])
    close(out.loss, 2.8062540539)


def test_exo_soft_labels():
    """Smoothed targets p_w = 0.999 p + 0.001 (1 - p) = [0.7994, 0.3004]:
    pair 1: 0.524979 (-0.644397 - log 0.7994) + 0.475021 (-0.744397 - log 0.2006) = 0.188734;
    pair 2: 0.462570 (-0.770957 - log 0.3004) + 0.537430 (-0.620957 - log 0.6996) = 0.057958."""
    out = run("exo", t(0.8, 0.3), beta=B, epsilon=1e-3)
    close(out.per_example, [0.1887344368, 0.0579579164])


def test_nca():
    """-log sigma(beta r_w) - 1/2 log sigma(-beta r_w) - 1/2 log sigma(-beta r_l):
    pair 1: 0.668460 + 0.5*0.718460 + 0.5*0.668460 = 1.361919;
    pair 2: 0.744397 + 0.5*0.644397 + 0.5*0.718460 = 1.425825; mean 1.393872."""
    out = run("nca", beta=B)
    close(out.per_example, [-ls(0.05) - 0.5 * ls(-0.05) - 0.5 * ls(0.05),
                            -ls(-0.1) - 0.5 * ls(0.1) - 0.5 * ls(-0.05)])
    close(out.loss, 1.3938720551)
    close(out.metrics["chosen_reward"], (0.05 - 0.1) / 2)


def test_nca_soft_labels():
    """p = [0.8, 0.3]: data term -p log sigma(beta r_w) - (1-p) log sigma(beta r_l):
    pair 1: 0.8*0.668460 + 0.2*0.718460 + 0.5*0.718460 + 0.5*0.668460 = 1.371919;
    pair 2: 0.3*0.744397 + 0.7*0.668460 + 0.5*0.644397 + 0.5*0.718460 = 1.372669."""
    close(run("nca", t(0.8, 0.3), beta=B).per_example, [1.3719192960, 1.3726689057])


def test_bco():
    """delta 0 (TRL 1.16): -log sigma(beta r_w) - log sigma(-beta r_l):
    pair 1: 0.668460 + 0.668460 = 1.336919;  pair 2: 0.744397 + 0.718460 = 1.462856; mean 1.399888."""
    out = run("bco", beta=B)
    close(out.per_example, [-2 * ls(0.05), -ls(-0.1) - ls(-0.05)])
    close(out.loss, 1.3998878021)
    close(out.metrics["reward_shift"], 0.0)


def test_bco_soft_labels():
    """p l(w, l) + (1-p) l(l, w), l(l, w) = -log sigma(beta r_l) - log sigma(-beta r_w):
    pair 1: 0.8*1.336919 + 0.2*(0.718460 + 0.718460) = 1.356919;
    pair 2: 0.3*1.462856 + 0.7*(0.668460 + 0.644397) = 1.357856."""
    close(run("bco", t(0.8, 0.3), beta=B).per_example, [1.3569192961, 1.3578563081])


def test_bco_running_shift():
    """Batch 1: delta = mean(beta [r_w; r_l]) = 0.1 * (0.5 - 1 - 0.5 + 0.5)/4 = -0.0125;
    pair 1: -log sigma(0.0625) - log sigma(0.0375) = 1.336958; pair 2: -log sigma(-0.0875) - log sigma(-0.0625)
    = 1.462739; mean 1.399849. An evaluation call (no grad) leaves the state alone. Batch 2 with the
    policy as its own reference (mean reward 0): delta = (-0.0125 + 0)/2 = -0.00625, every pair
    -log sigma(0.00625) - log sigma(-0.00625) = 1.386304."""
    algo = build("bco", beta=B, reward_shift="running")
    out = algo.loss(policy_pairs(), reference_pairs())
    close(out.metrics["reward_shift"], -0.0125)
    close(out.loss, 1.3998488114)
    with torch.no_grad():
        close(algo.loss(policy_pairs(), policy_pairs()).metrics["reward_shift"], -0.0125)
    out = algo.loss(policy_pairs(), policy_pairs())
    close(out.metrics["reward_shift"], -0.00625)
    close(out.per_example, [-ls(0.00625) - ls(-0.00625)] * 2)


def test_sppo_hard():
    """Targets +-1/(2 beta) = +-5: pair 1: (0.5 - 5)^2 + (-0.5 + 5)^2 = 20.25 + 20.25 = 40.5;
    pair 2: (-1 - 5)^2 + (0.5 + 5)^2 = 36 + 30.25 = 66.25; mean 53.375."""
    out = run("sppo-hard", beta=B)
    close(out.per_example, [40.5, 66.25])
    close(out.loss, 53.375)


def test_sppo_soft_labels():
    """Targets (p - 1/2)/beta = [3, -2] for y_w, the negatives for y_l:
    pair 1: (0.5 - 3)^2 + (-0.5 + 3)^2 = 12.5;  pair 2: (-1 + 2)^2 + (0.5 - 2)^2 = 1 + 2.25 = 3.25."""
    close(run("sppo-hard", t(0.8, 0.3), beta=B).per_example, [12.5, 3.25])


REF2 = ((-3.0, -4.0), (-3.5, -5.0))  # r_w = [0, -1], r_l = [-0.5, 0.5]


def test_aot_sorts_quantiles():
    """Reference REF2: u = log pi(y_w) - log pi(y_l) = [1, -0.5], u_ref = [0.5, 1];
    sort(u) - sort(u_ref) = [-0.5, 1] - [0.5, 1] = [-1, 0] (pair by pair it would be [0.5, -1.5]);
    loss = [-log sigma(-0.1), -log sigma(0)] = [0.744397, 0.693147]; mean 0.718772.
    label_smoothing 0.1: -0.9 log sigma(beta d) - 0.1 log sigma(-beta d) = [0.734397, 0.693147]."""
    out = run("aot", reference=reference_pairs(*REF2), beta=B)
    close(out.per_example, [-ls(-0.1), math.log(2)])
    close(out.loss, 0.7187719203)
    out = run("aot", reference=reference_pairs(*REF2), beta=B, label_smoothing=0.1)
    close(out.per_example, [-0.9 * ls(-0.1) - 0.1 * ls(0.1), math.log(2)])


def test_aot_unpaired():
    """Reference REF2: sort(r_w) - sort(r_l) = [-1, 0] - [-0.5, 0.5] = [-0.5, -0.5];
    loss = -log sigma(-0.05) = 0.718460 for both quantiles."""
    out = run("aot", reference=reference_pairs(*REF2), beta=B, unpaired=True)
    close(out.per_example, [-ls(-0.05)] * 2)
    close(out.loss, 0.7184596480)


def test_aot_rejects_soft_labels():
    with pytest.raises(ValueError, match="hard labels"):
        run("aot", t(0.8, 0.3), beta=B)
    close(run("aot", t(1.0, 1.0), beta=B).loss, run("aot", beta=B).loss)


def test_apo_zero():
    """1 - sigma(beta r_w) + sigma(beta r_l): pair 1: 1 - 0.512497 + 0.487503 = 0.975005;
    pair 2: 1 - 0.475021 + 0.512497 = 1.037477; mean 1.006241."""
    out = run("apo-zero", beta=B)
    close(out.per_example, [1 - sig(0.05) + sig(-0.05), 1 - sig(-0.1) + sig(0.05)])
    close(out.loss, 1.0062408955)


def test_apo_zero_soft_labels():
    """p l(w, l) + (1-p) l(l, w): pair 1: 0.8*0.975005 + 0.2*(1 - 0.487503 + 0.512497) = 0.985003;
    pair 2: 0.3*1.037477 + 0.7*(1 - 0.512497 + 0.475021) = 0.985009."""
    close(run("apo-zero", t(0.8, 0.3), beta=B).per_example, [0.9850031242, 0.9850093664])


def test_apo_down():
    """sigma(beta r_w) + 1 - sigma(beta h): pair 1: 0.512497 + 1 - 0.524979 = 0.987518;
    pair 2: 0.475021 + 1 - 0.462570 = 1.012451; mean 0.999984."""
    out = run("apo-down", beta=B)
    close(out.per_example, [sig(0.05) + 1 - sig(0.1), sig(-0.1) + 1 - sig(-0.15)])
    close(out.loss, 0.9999844334)


def test_apo_down_soft_labels():
    """pair 1: 0.8*0.987518 + 0.2*(sigma(-0.05) + 1 - sigma(-0.1)) = 0.8*0.987518 + 0.2*1.012482 = 0.992511;
    pair 2: 0.3*1.012451 + 0.7*(sigma(0.05) + 1 - sigma(0.15)) = 0.3*1.012451 + 0.7*0.987518 = 0.986282."""
    close(run("apo-down", t(0.8, 0.3), beta=B).per_example, [0.9925109254, 0.9862824832])


def test_discopop():
    """tau 0.05, z = beta h = [0.1, -0.15], m = sigma(z/tau) = [sigma(2), sigma(-3)] = [0.880797, 0.047426]:
    pair 1: 0.119203*0.644397 + 0.880797*e^-0.1 (0.904837) = 0.076815 + 0.796977 = 0.873792;
    pair 2: 0.952574*0.770957 + 0.047426*e^0.15 (1.161834) = 0.734394 + 0.055101 = 0.789495; mean 0.831643."""
    out = run("discopop", beta=B, tau=0.05)
    m1, m2 = sig(2.0), sig(-3.0)
    close(out.per_example, [(1 - m1) * -ls(0.1) + m1 * math.exp(-0.1), (1 - m2) * -ls(-0.15) + m2 * math.exp(0.15)])
    close(out.loss, 0.8316434294)


def test_discopop_soft_labels():
    """p l(z) + (1-p) l(-z), l as in test_discopop:
    l(-0.1): m = sigma(-2) = 0.119203, so 0.880797*0.744397 + 0.119203*e^0.1 (1.105171) = 0.787402;
    l(0.15) = sigma(-3)*0.620957 + sigma(3)*e^-0.15 = 0.047426*0.620957 + 0.952574*0.860708 = 0.849338;
    pair 1: 0.8*0.873792 + 0.2*0.787402 = 0.856514;  pair 2: 0.3*0.789495 + 0.7*0.849338 = 0.831385."""
    def lrml(z):
        m = sig(z / 0.05)
        return (1 - m) * -ls(z) + m * math.exp(-z)
    out = run("discopop", t(0.8, 0.3), beta=B)
    close(out.per_example, [0.8 * lrml(0.1) + 0.2 * lrml(-0.1), 0.3 * lrml(-0.15) + 0.7 * lrml(0.15)])
    close(out.per_example, [0.8565140961, 0.8313847275])


@pytest.mark.parametrize("name, params", [
    ("exo", {"epsilon": 0.0}), ("exo", {"epsilon": 0.5}), ("exo", {"beta": 0.0}), ("nca", {"beta": -1.0}),
    ("bco", {"reward_shift": "ema"}), ("bco", {"beta": 0.0}), ("sppo-hard", {"beta": 0.0}),
    ("aot", {"label_smoothing": 0.5}), ("aot", {"beta": 0.0}), ("apo-zero", {"beta": 0.0}),
    ("apo-down", {"beta": 0.0}), ("discopop", {"tau": 0.0}), ("discopop", {"beta": 0.0}),
])
def test_config_checks(name, params):
    with pytest.raises(ValueError):
        registry.get(name).Config(**params)
