"""Hand-worked numbers (atol 1e-6) for ln-dpo, fdpo, rpo, cpo, kto's apo_zero_unpaired, mixture and dpo's
WPO weighting; expected values come from ``math`` and the papers' formulas, never from the objective.

Shared batch of two pairs, float64 (as tests/test_objectives.py):
    policy     log pi(y_w) = [-3.0, -5.0]   log pi(y_l) = [-4.0, -4.5]   |y_w| = [2, 4]   |y_l| = [3, 2]
    reference  log pi_ref(y_w) = [-3.5, -4.0]   log pi_ref(y_l) = [-3.5, -5.0]
    r_w = [0.5, -1.0]   r_l = [-0.5, 0.5]   h = [1.0, -1.5]
    chosen NLL, token mean over the batch: (3 + 5) / (2 + 4) = 4/3; per completion [1.5, 1.25]
"""
from __future__ import annotations

import math

import pytest
import torch

from prefzoo import registry
from prefzoo.api import PairLogps, UnpairedLogps

ATOL = 1e-6


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def nls(z: float) -> float:
    """-log sigma(z)."""
    return math.log1p(math.exp(-z))


def sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def policy_pairs(p_chosen=None, **extra):
    return PairLogps(t(-3.0, -5.0), t(-4.0, -4.5), t(2, 4), t(3, 2), p_chosen, **extra)


def reference_pairs():
    return PairLogps(t(-3.5, -4.0), t(-3.5, -5.0), t(2, 4), t(3, 2))


def build(name, **params):
    return registry.get(name)(registry.get(name).Config(**params))


def close(actual, expected) -> None:
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert torch.allclose(actual.detach().double(), expected, atol=ATOL, rtol=0), (actual, expected)


DPO_PER = [nls(0.1), nls(-0.15)]  # 0.644397, 0.770957 (tests/test_objectives.py::test_dpo)


# ----------------------------------------------------------------------------- ln-dpo
def test_ln_dpo():
    """Per-token log-ratios: r_w/|y_w| = [0.25, -0.25], r_l/|y_l| = [-1/6, 0.25]; gap [5/12, -0.5];
    beta 0.1: z = [0.041667, -0.05]; -log sigma(z) = [0.672531, 0.718460]; mean 0.695495."""
    out = build("ln-dpo", beta=0.1).loss(policy_pairs(), reference_pairs())
    close(out.per_example, [nls(0.1 * 5 / 12), nls(-0.05)])
    close(out.per_example, [0.6725308454, 0.7184596480])
    close(out.loss, (0.6725308454 + 0.7184596480) / 2)
    close(out.metrics["chosen_reward"], 0.1 * (0.25 - 0.25) / 2)


# ----------------------------------------------------------------------------- fdpo
@pytest.mark.parametrize("divergence, s_w, s_l, per", [
    # f'(u) = 1 - 1/u = 1 - e^-r: s_w = [1 - e^-0.5, 1 - e] = [0.393469, -1.718282],
    # s_l = [1 - e^0.5, 1 - e^-0.5] = [-0.648721, 0.393469]; z = 0.1 (s_w - s_l) = [0.104219, -0.211175]
    ("forward_kl", [1 - math.exp(-0.5), 1 - math.e], [1 - math.exp(0.5), 1 - math.exp(-0.5)],
     [0.6423947376, 0.8042987781]),
    # f'(u) = log 2 + log sigma(r): s_w = [0.219070, -0.620115], s_l = [-0.280930, 0.219070]; z = [0.05, -0.083918]
    ("js", [math.log(2) + math.log(sig(0.5)), math.log(2) + math.log(sig(-1.0))],
     [math.log(2) + math.log(sig(-0.5)), math.log(2) + math.log(sig(0.5))], [0.6684596480, 0.7359864463]),
    # alpha 0.5: f'(u) = (1 - e^(-0.5 r)) / 0.5: s_w = [0.442398, -1.297443], s_l = [-0.568051, 0.442398]
    ("alpha", [2 * (1 - math.exp(-0.25)), 2 * (1 - math.exp(0.5))], [2 * (1 - math.exp(0.25)), 2 * (1 - math.exp(-0.25))],
     [0.6439004343, 0.7839182748]),
    ("reverse_kl", [0.5, -1.0], [-0.5, 0.5], DPO_PER),  # f'(u) = log u: plain DPO
])
def test_fdpo(divergence, s_w, s_l, per):
    out = build("fdpo", beta=0.1, divergence=divergence, alpha=0.5).loss(policy_pairs(), reference_pairs())
    close(out.per_example, [nls(0.1 * (s_w[i] - s_l[i])) for i in range(2)])
    close(out.per_example, per)
    close(out.loss, sum(per) / 2)


def test_fdpo_alpha_03_and_checks():
    """alpha 0.3: s = (1 - e^(-0.3 r)) / 0.3: s_w = [0.464307, -1.166196], s_l = [-0.539447, 0.464307];
    z = [0.100375, -0.163050] -> [0.644218, 0.777992]."""
    out = build("fdpo", divergence="alpha", alpha=0.3).loss(policy_pairs(), reference_pairs())
    close(out.per_example, [0.6442183443, 0.7779918185])
    for bad in ({"divergence": "kl"}, {"alpha": 1.0}, {"alpha": 0.0}, {"beta": 0.0}):
        with pytest.raises(ValueError):
            registry.get("fdpo").Config(**bad)


# ----------------------------------------------------------------------------- rpo
def test_rpo():
    """DPO part mean 0.707677 (beta 0.1); NLL token mean 4/3 -> alpha 1: 2.041010; alpha 0.5: 1.374344;
    nll_norm sequence: mean(1.5, 1.25) = 1.375 -> 2.082677. per_example = DPO per pair + alpha * NLL."""
    out = build("rpo").loss(policy_pairs(), reference_pairs())
    close(out.loss, sum(DPO_PER) / 2 + 4 / 3)
    close(out.loss, 2.0410101873)
    close(out.per_example, [DPO_PER[0] + 4 / 3, DPO_PER[1] + 4 / 3])
    close(out.metrics["nll_chosen"], 4 / 3)
    close(build("rpo", alpha=0.5).loss(policy_pairs(), reference_pairs()).loss, 1.3743435206)
    seq = build("rpo", nll_norm="sequence").loss(policy_pairs(), reference_pairs())
    close(seq.loss, 2.0826768539)
    close(seq.per_example, [DPO_PER[0] + 1.5, DPO_PER[1] + 1.25])
    with pytest.raises(ValueError, match="hard preference labels"):
        build("rpo").loss(policy_pairs(t(0.8, 0.3)), reference_pairs())


# ----------------------------------------------------------------------------- cpo
def test_cpo_sigmoid_hinge_smoothing():
    """d = log pi(y_w) - log pi(y_l) = [1.0, -0.5] (summed, no reference); beta 0.1.
    sigmoid: [-log sigma(0.1), -log sigma(-0.05)] = [0.644397, 0.718460], mean 0.681428, + NLL 4/3 = 2.014761.
    label_smoothing 0.1: 0.9 l(z) + 0.1 l(-z) -> mean 0.683928 + 4/3 = 2.017261.
    hinge: relu(1 - 0.1 d) = [0.9, 1.05], mean 0.975 + 4/3 = 2.308333; nll_weight 0: 0.975."""
    out = build("cpo").loss(policy_pairs(), None)
    close(out.loss, (nls(0.1) + nls(-0.05)) / 2 + 4 / 3)
    close(out.loss, 2.0147614874)
    close(out.per_example, [nls(0.1) + 4 / 3, nls(-0.05) + 4 / 3])
    close(build("cpo", label_smoothing=0.1).loss(policy_pairs(), None).loss, 2.0172614874)
    close(build("cpo", loss_type="hinge").loss(policy_pairs(), None).loss, 2.3083333333)
    close(build("cpo", loss_type="hinge", nll_weight=0.0).loss(policy_pairs(), None).loss, 0.975)


def test_cpo_ipo_simpo_alphapo():
    """Per-token means: a_w = [-1.5, -1.25], a_l = [-4/3, -2.25], d = [-1/6, 1.0].
    ipo (beta 0.1): (d - 5)^2 = [26.694444, 16.0], mean 21.347222 + 4/3 = 22.680556.
    simpo (beta 2, gamma 0.5): z = 2 d - 0.5 = [-0.833333, 1.5] -> [1.194218, 0.201413], + 4/3 = 2.031149.
    alphapo (alpha 0.25, beta 2, gamma 0.5, NLL off): s' = (1 - e^(-0.25 a)) / 0.25:
    s'_w = [-1.819966, -1.467352], s'_l = [-1.582450, -3.020219]; z = 2 (s'_w - s'_l) - 0.5 = [-0.975032, 2.605734]
    -> [1.295070, 0.071249], mean 0.683160."""
    close(build("cpo", loss_type="ipo").loss(policy_pairs(), None).loss, 22.6805555556)
    close(build("cpo", loss_type="simpo", beta=2.0, gamma=0.5).loss(policy_pairs(), None).loss, 2.0311490470)
    alpha = build("cpo", loss_type="alphapo", beta=2.0, gamma=0.5, alpha=0.25).loss(policy_pairs(), None)
    f = [(1 - math.exp(-0.25 * a)) / 0.25 for a in (-1.5, -1.25, -4 / 3, -2.25)]
    close(alpha.per_example, [nls(2 * (f[0] - f[2]) - 0.5), nls(2 * (f[1] - f[3]) - 0.5)])
    close(alpha.loss, 0.6831597013)
    with pytest.raises(ValueError, match="hard preference labels"):
        build("cpo").loss(policy_pairs(t(0.8, 0.3)), None)
    with pytest.raises(ValueError):
        registry.get("cpo").Config(loss_type="kto")


# ----------------------------------------------------------------------------- kto: apo_zero_unpaired
def test_kto_apo_zero_unpaired():
    """r = [-3 - (-3.5), -4 - (-3.5)] = [0.5, -0.5], labels [1, 0], beta 0.1, no z0:
    desirable 1 - sigma(0.05) = 0.487503; undesirable sigma(-0.05) = 0.487503; mean 0.487503;
    lambda_D = 2: (0.975005 + 0.487503) / 2 = 0.731254. The mismatched rows (z0) do not enter."""
    def inputs(mismatched):
        return (UnpairedLogps(t(-3.0, -4.0), t(2, 3), t(1.0, 0.0), t(*mismatched)),
                UnpairedLogps(t(-3.5, -3.5), t(2, 3), t(1.0, 0.0), t(-9.0, -9.0)))
    out = build("kto", loss_type="apo_zero_unpaired").loss(*inputs([-2.0, -2.0]))
    close(out.per_example, [1 - sig(0.05), sig(-0.05)])
    close(out.loss, 0.4875026035)
    close(build("kto", loss_type="apo_zero_unpaired", desirable_weight=2.0).loss(*inputs([-2.0, -2.0])).loss,
          0.7312539053)
    same = build("kto", loss_type="apo_zero_unpaired").loss(*inputs([-30.0, 5.0]))
    assert torch.equal(same.loss, out.loss)
    with pytest.raises(ValueError):
        registry.get("kto").Config(loss_type="kto_pair")


# ----------------------------------------------------------------------------- mixture
def test_mixture_dpo_ipo_sft():
    """{dpo: 0.8, ipo: 0.2, sft: 1.0}: dpo mean 0.707677; ipo (tau 0.1, per-token) h = [5/12, -0.5],
    (h - 5)^2 = [21.006944, 30.25], mean 25.628472; sft 4/3.
    Loss 0.8 * 0.707677 + 0.2 * 25.628472 + 4/3 = 7.025169; per_example 0.8 dpo + 0.2 ipo + [1.5, 1.25]."""
    out = build("mixtures", losses={"dpo": 0.8, "ipo": 0.2, "sft": 1.0}).loss(policy_pairs(), reference_pairs())
    close(out.loss, 0.8 * sum(DPO_PER) / 2 + 0.2 * 25.6284722222 + 4 / 3)
    close(out.loss, 7.0251692609)
    close(out.per_example, [6.2169062169, 7.9167656382])
    close(out.metrics["sft/loss"], 4 / 3)
    close(out.metrics["dpo/reward_accuracy"], 0.5)


def test_mixture_params_reference_free_and_errors():
    """params reach each part: dpo beta 0.2 -> [nls(0.2), nls(-0.3)]; a reference-free mixture (simpo + sft)
    takes no reference. kto (unpaired), reward-model (a pipeline) and ppo (online) are refused."""
    out = build("mixtures", losses={"dpo": 1.0}, params={"dpo": {"beta": 0.2}}).loss(policy_pairs(), reference_pairs())
    close(out.loss, (nls(0.2) + nls(-0.3)) / 2)
    free = build("mixtures", losses={"simpo": 1.0, "sft": 0.5})
    assert not free.needs_reference
    close(free.loss(policy_pairs(), None).metrics["sft/loss"], 4 / 3)
    for losses, msg in (({"kto": 1.0}, "data_kind 'unpaired'"), ({"reward-model": 1.0}, "not an offline loss"),
                        ({"ppo": 1.0}, "data_kind 'prompts'|not an offline loss")):
        with pytest.raises(ValueError, match=msg):
            registry.get("mixtures").Config(losses=losses)
    with pytest.raises(ValueError, match="params for losses not in the mixture"):
        registry.get("mixtures").Config(losses={"dpo": 1.0}, params={"ipo": {}})
    with pytest.raises(ValueError, match="bad params"):
        registry.get("mixtures").Config(losses={"dpo": 1.0}, params={"dpo": {"tau": 1.0}})
    with pytest.raises(ValueError):
        registry.get("mixtures").Config(losses={"dpo": 0.0})


def test_mixture_with_bco():
    """MPO's mix {dpo: 0.8, bco: 0.2, sft: 1.0}; bco (delta 0): -log sigma(0.1 r_w) - log sigma(-0.1 r_l)
    = [nls(0.05) + nls(0.05), nls(-0.1) + nls(-0.05)] = [1.337542, 1.462105], mean 1.399823;
    loss 0.8 * 0.707677 + 0.2 * 1.399823 + 4/3 = 2.179440."""
    if "bco" not in registry.names():
        pytest.skip("bco is not registered")
    out = build("mixtures", losses={"dpo": 0.8, "bco": 0.2, "sft": 1.0}).loss(policy_pairs(), reference_pairs())
    bco = (2 * nls(0.05) + nls(-0.1) + nls(-0.05)) / 2
    close(out.loss, 0.8 * sum(DPO_PER) / 2 + 0.2 * bco + 4 / 3)


# ----------------------------------------------------------------------------- WPO
def test_dpo_wpo_weights():
    """log_sum_sq_probs (summed log sum_v pi^2): chosen [-2.0, -3.0], rejected [-2.4, -1.0].
    log w = (log pi(y_w) - sq_w)/|y_w| + (log pi(y_l) - sq_l)/|y_l|
          = [(-3 + 2)/2 + (-4 + 2.4)/3, (-5 + 3)/4 + (-4.5 + 1)/2] = [-1.033333, -2.25];
    w = [0.355819, 0.105399]; per pair DPO * w = [0.229289, 0.081258]; mean 0.155273."""
    sq = PairLogps(t(-2.0, -3.0), t(-2.4, -1.0), t(2, 4), t(3, 2))
    out = build("dpo", wpo=True).loss(policy_pairs(log_sum_sq_probs=sq), reference_pairs())
    close(out.per_example, [DPO_PER[0] * math.exp(-1.0333333333333), DPO_PER[1] * math.exp(-2.25)])
    close(out.loss, 0.1552733989)
    close(out.metrics["wpo_weight"], (0.3558189185 + 0.1053992246) / 2)
    assert build("dpo", wpo=True).needs_sum_sq_probs and not build("dpo").needs_sum_sq_probs
    with pytest.raises(ValueError, match="log_sum_sq_probs"):
        build("dpo", wpo=True).loss(policy_pairs(), reference_pairs())


def test_dpo_without_wpo_is_unchanged():
    """wpo off: bit-identical to the plain formula, whatever log_sum_sq_probs holds."""
    sq = PairLogps(t(-2.0, -3.0), t(-2.4, -1.0), t(2, 4), t(3, 2))
    plain = build("dpo").loss(policy_pairs(), reference_pairs())
    assert torch.equal(plain.loss, build("dpo").loss(policy_pairs(log_sum_sq_probs=sq), reference_pairs()).loss)
    assert torch.equal(plain.per_example, -torch.nn.functional.logsigmoid(0.1 * (t(0.5, -1.0) - t(-0.5, 0.5))))
    assert "wpo_weight" not in plain.metrics


def test_offline_loop_fills_sum_sq_only_when_asked(tiny_pairs, make_policy):
    """``PolicyForward.inputs`` (the loop's forward): log_sum_sq_probs equals a direct float64 computation
    from the full logits (position t scores token t+1); None when the objective does not ask for it."""
    from prefzoo.engine.offline import Encoding, PolicyForward

    policy = make_policy(tiny_pairs, seed=0, dtype="float64")
    encoded, report = policy.encode(tiny_pairs, "pairs")
    data = Encoding(encoded, report, "pairs", None, False)
    pol, _ = PolicyForward(policy, build("dpo", wpo=True), {e.index: torch.zeros(2) for e in encoded}).inputs(
        policy.model, encoded, data)
    seqs = policy.sequences([e.prompt for e in encoded] * 2,
                            [e.completions[0] for e in encoded] + [e.completions[1] for e in encoded])
    with torch.no_grad():
        logits = policy.model(input_ids=seqs.input_ids, attention_mask=seqs.attention_mask).logits
        per_pos = torch.logsumexp(2 * logits[:, :-1].log_softmax(-1), -1) * seqs.loss_mask[:, 1:]
    expected = per_pos.sum(-1)
    b = len(encoded)
    close(pol.log_sum_sq_probs.chosen, expected[:b])
    close(pol.log_sum_sq_probs.rejected, expected[b:])
    assert (pol.log_sum_sq_probs.chosen < 0).all() and not pol.log_sum_sq_probs.chosen.requires_grad
    plain, _ = PolicyForward(policy, build("dpo"), {e.index: torch.zeros(2) for e in encoded}).inputs(
        policy.model, encoded, data)
    assert plain.log_sum_sq_probs is None
    assert torch.equal(plain.chosen, pol.chosen) and torch.equal(plain.rejected, pol.rejected)
