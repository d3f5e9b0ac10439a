"""Self-play, iterative and sampling algorithms (spin, sppo, nash-md, xpo, iterative-dpo, best-of-n, raft):
their pieces on hand-worked numbers, a tiny run of each on a local tiny Llama, and (slow) a rule
reward that rises."""
from __future__ import annotations

import math

import pytest
import torch

from prefzoo import registry
from prefzoo.algos.best_of_n import BestOfNPolicy
from prefzoo.algos.nash_md import nash_md_loss
from prefzoo.algos.sppo import sppo_square_loss
from prefzoo.algos.xpo import xpo_loss
from prefzoo.api import PAIRS
from prefzoo.data.loaders import records_from_list
from prefzoo.feedback.base import Feedback, RuleFeedback
from prefzoo.job import Job
from prefzoo.recipe import TrainConfig
from prefzoo.runner import build_algorithm
from prefzoo.stages.mixture import mixture_logits
from prefzoo.stages.selection import bon_kl_bound, bon_kl_estimate, win_rates
from prefzoo.testing import TINY_PAIRS, tiny_policy

ATOL = 1e-6
NAMES = ("spin", "sppo", "nash-md", "xpo", "iterative-dpo", "best-of-n", "raft")


def blue(prompt, response) -> float:
    words = response.split()
    return words.count("blue") / max(1, len(words))


# ----------------------------------------------------------------------------- the pieces, by hand
def test_sppo_square_loss_by_hand():
    """eta = 2: (0.3 - 2 (0.75 - 0.5))^2 = (0.3 - 0.5)^2 = 0.04; (-0.1 - 2 (0.2 - 0.5))^2 = (0.5)^2 = 0.25."""
    out = sppo_square_loss(torch.tensor([0.3, -0.1], dtype=torch.float64),
                           torch.tensor([0.75, 0.2], dtype=torch.float64), 2.0)
    torch.testing.assert_close(out, torch.tensor([0.04, 0.25], dtype=torch.float64), atol=ATOL, rtol=0)


class TablePreference(Feedback):
    name = "table"

    def __init__(self, table):
        self.table = table

    def prefer(self, prompts, a, b):
        return torch.tensor([self.table[(x, y)] for x, y in zip(a, b)])


def test_sppo_win_rates_by_hand():
    """P(a>b) = .8, P(a>c) = .6, P(b>c) = .3; the self term is 1/2:
    a: (.5 + .8 + .6)/3 = .633333;  b: (.5 + .2 + .3)/3 = .333333;  c: (.5 + .4 + .7)/3 = .533333 (sum K/2)."""
    fb = TablePreference({("a", "b"): 0.8, ("a", "c"): 0.6, ("b", "c"): 0.3})
    (rates,) = win_rates(fb, ["x"], [["a", "b", "c"]])
    assert rates == pytest.approx([1.9 / 3, 1.0 / 3, 1.6 / 3], abs=ATOL)


def test_nash_md_mixture_logits_by_hand():
    """pi = (.5, .5), pi_ref = (.8, .2), alpha = .5: pi_mix ~ sqrt(.5 * .8), sqrt(.5 * .2) = .632456, .316228
    -> (2/3, 1/3) after normalising; alpha = 1 is the reference; alpha = 0 the policy."""
    pol = torch.tensor([0.5, 0.5], dtype=torch.float64).log() + 3.0  # logits: any offset
    ref = torch.tensor([0.8, 0.2], dtype=torch.float64).log() - 1.0
    torch.testing.assert_close(torch.softmax(mixture_logits(pol, ref, 0.5), -1),
                               torch.tensor([2 / 3, 1 / 3], dtype=torch.float64), atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.softmax(mixture_logits(pol, ref, 1.0), -1),
                               torch.tensor([0.8, 0.2], dtype=torch.float64), atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.softmax(mixture_logits(pol, ref, 0.0), -1),
                               torch.tensor([0.5, 0.5], dtype=torch.float64), atol=ATOL, rtol=0)


def test_nash_md_loss_and_gradient_by_hand():
    """log pi = (-1, -2), log pi_ref = (-1.5, -1.5), P(y > y') = .75, beta = .1:
    log-ratio (.5, -.5), KL 0; score = (.75 - .5)(-3) = -.75; KL term = .1 (.5(-1) + (-.5)(-2)) = .05;
    loss = .05 + .75 = .8; d loss / d log pi_t = beta * ratio_t - (p - 1/2) = (-.2, -.3)."""
    logps = torch.tensor([[-1.0, -2.0]], dtype=torch.float64, requires_grad=True)
    per, kl = nash_md_loss(logps, torch.tensor([[-1.5, -1.5]], dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64),
                           torch.tensor([0.75], dtype=torch.float64), 0.1)
    assert per.item() == pytest.approx(0.8, abs=ATOL) and kl.item() == pytest.approx(0.0, abs=ATOL)
    per.sum().backward()
    torch.testing.assert_close(logps.grad, torch.tensor([[-0.2, -0.3]], dtype=torch.float64), atol=ATOL, rtol=0)


def test_xpo_bonus_by_hand():
    """h = .2 - (-.3) = .5, beta = .1: DPO = log(1 + .9512294) = .6684596; bonus = alpha sum log pi(y~)
    = .01 * (-4) = -.04; total .6284596. The bonus's gradient in log pi(y~) is alpha (push the reference's
    samples down: explore)."""
    lr = torch.tensor([-4.0], dtype=torch.float64, requires_grad=True)
    per, dpo, bonus = xpo_loss(torch.tensor([0.2], dtype=torch.float64), torch.tensor([-0.3], dtype=torch.float64),
                               lr, torch.tensor([1.0], dtype=torch.float64), 0.1, 0.01)
    assert dpo.item() == pytest.approx(math.log1p(math.exp(-0.05)), abs=ATOL)
    assert dpo.item() == pytest.approx(0.6684596, abs=ATOL)
    assert bonus.item() == pytest.approx(-0.04, abs=ATOL) and per.item() == pytest.approx(0.6284596, abs=ATOL)
    bonus.sum().backward()
    assert lr.grad.item() == pytest.approx(0.01, abs=ATOL)


def test_best_of_n_kl_bound_and_estimate_by_hand():
    """bound: n=1: 0; n=2: ln 2 - 1/2 = .1931472; n=4: ln 4 - 3/4 = .6362944.
    estimate, two distinct rewards, n = 2: q = (1/2, 1/2), b = (1/4, 3/4),
    KL = 1/4 ln(1/2) + 3/4 ln(3/2) = -.1732868 + .3040988 = .1308120; all rewards tied: 0 (best-of-n is pi);
    10,000 distinct rewards: within 1e-3 of the bound."""
    assert bon_kl_bound(1) == pytest.approx(0.0, abs=ATOL)
    assert bon_kl_bound(2) == pytest.approx(0.1931472, abs=ATOL)
    assert bon_kl_bound(4) == pytest.approx(0.6362944, abs=ATOL)
    assert bon_kl_estimate([0.1, 0.7], 2) == pytest.approx(0.1308120, abs=ATOL)
    assert bon_kl_estimate([1.0, 1.0, 1.0], 4) == pytest.approx(0.0, abs=ATOL)
    assert bon_kl_estimate([float(i) for i in range(10_000)], 4) == pytest.approx(bon_kl_bound(4), abs=1e-3)


class FakePolicy:
    """Candidates 1, 2, 3 in turn for every prompt; a candidate's text is its digit."""

    def encode_prompt(self, p):
        return [0]

    def generate_ids(self, prompts, *, max_new_tokens, temperature=1.0, top_p=1.0, do_sample=True, encoded=None):
        return [[[2, 3, 1][i % 3]] for i in range(len(prompts))], encoded

    def decode(self, ids):
        return str(ids[0])


def test_best_of_n_policy_keeps_the_reward_s_best():
    """n = 3 candidates (2, 3, 1) per prompt, reward = the digit: 3 is kept; n = 1 keeps the first (2);
    anything else (decode, attributes) is the wrapped policy's."""
    fb = RuleFeedback(lambda p, r: float(r))
    assert BestOfNPolicy(FakePolicy(), fb, 3).generate(["x", "y"], max_new_tokens=1) == ["3", "3"]
    assert BestOfNPolicy(FakePolicy(), fb, 1).generate(["x"], max_new_tokens=1) == ["2"]
    assert BestOfNPolicy(FakePolicy(), fb, 3).decode([7]) == "7"


def test_kl_to_base_adds_the_best_of_n_policy_s_sampling_kl():
    """Best-of-4 of the base itself: log pi - log pi_base is 0 on every sample, so the column is the
    wrapper's KL(pi_bon || pi): the bound ln 4 - 3/4 = .6362944 by default, or the estimate it is given.
    A policy without the capability gets plain k1 (0 here too)."""
    from prefzoo.eval.metric import EvalContext
    from prefzoo.eval.metrics.kl import KLToBase

    base = tiny_policy(TINY_PAIRS)
    prompt_ids = [base.encode_prompt(p) for p in ["color of the sea ?", "what is blue ?"]]
    comps = [[base.tokenizer.eos_token_id], [base.tokenizer.convert_tokens_to_ids("blue")]]

    def column(policy):
        ctx = EvalContext(policy, base, None, [{}, {}], None, ["", ""], comps, prompt_ids)
        return KLToBase().compute(ctx)

    fb = RuleFeedback(blue)
    bon = column(BestOfNPolicy(base, fb, 4))
    assert bon.values["kl_to_base"] == pytest.approx(0.6362944, abs=ATOL)
    assert bon.per_prompt["kl"] == pytest.approx([0.6362944] * 2, abs=ATOL)
    assert column(BestOfNPolicy(base, fb, 4, kl=0.25)).values["kl_to_base"] == pytest.approx(0.25, abs=ATOL)
    plain = type("Plain", (), {k: getattr(base, k) for k in ("model", "sequences", "forward_logps", "tokenizer")})()
    assert column(plain).values["kl_to_base"] == pytest.approx(0.0, abs=ATOL)


# ----------------------------------------------------------------------------- tiny runs
TINY = {
    "spin": {"rounds": 2, "max_new_tokens": 5},
    "sppo": {"rounds": 2, "samples_per_prompt": 3, "eta": 2.0, "max_new_tokens": 5},
    "iterative-dpo": {"rounds": 2, "max_new_tokens": 5},
    "raft": {"rounds": 2, "n": 3, "max_new_tokens": 5},
    "best-of-n": {"n": 3, "kl_prompts": 2, "kl_samples": 8, "max_new_tokens": 5},
    "nash-md": {"steps": 2, "prompts_per_step": 4, "max_new_tokens": 5},
    "xpo": {"steps": 2, "prompts_per_step": 4, "max_new_tokens": 5, "alpha": 0.01},
}


def tiny_job(tmp_path, feedback=None, **train) -> Job:
    pairs, _ = records_from_list([dict(p) for p in TINY_PAIRS], PAIRS)
    torch.manual_seed(0)
    cfg = TrainConfig(**{"lr": 3e-3, "progress": False, "batch_size": 4, "max_steps": 2,
                         "cache_dir": str(tmp_path / "cache"), **train})
    return Job(policy=tiny_policy(TINY_PAIRS), train=cfg, out_dir=tmp_path, seed=0, data={PAIRS: pairs},
               feedback=feedback or RuleFeedback(blue, name="blue"))


def test_the_new_names_are_registered():
    assert set(NAMES) <= set(registry.names())
    assert {registry.describe(n)["family"] for n in NAMES} == {"iterative", "online", "sampling"}


@pytest.mark.parametrize("name", NAMES)
def test_a_tiny_run_finishes_with_finite_metrics(tmp_path, name):
    params = {**({} if name == "spin" else {"reward": "judge"}), **TINY[name]}
    result = build_algorithm(name, params).run(tiny_job(tmp_path))
    if name == "best-of-n":
        assert result.history == [] and result.info["kl_bound"] == pytest.approx(bon_kl_bound(3), abs=ATOL)
        assert 0.0 <= result.info["kl_mc"] <= result.info["kl_bound"] + 1e-9
        assert result.info["kl_source"] == "kl_mc" and result.policy.kl == result.info["kl_mc"]
        texts = result.policy.generate(["color of the sea ?"], max_new_tokens=5)
        assert len(texts) == 1
        return
    assert result.history, name
    for row in result.history:
        assert math.isfinite(row["loss"]), (name, row)
    if name in ("nash-md", "xpo"):
        assert [r["step"] for r in result.history] == [1, 2]
    else:
        assert len(result.info["rounds"]) == 2


def test_xpo_with_minibatches_runs_its_reference_samples_in_the_minibatch_forward(tmp_path, monkeypatch):
    """xpo asks the engine (``extra_rows``) for its minibatch's reference samples: each minibatch of 2
    prompts makes one forward of the prepared model over 2 + 2 rows, whose log-probs reach the loss."""
    from prefzoo.engine import online

    seen, real = [], online.minibatch_logps

    def spy(model, mb, extra, temperature, share_prompts=False):
        seen.append((len(mb), None if extra is None else len(extra), type(model).__name__))
        return real(model, mb, extra, temperature, share_prompts)

    monkeypatch.setattr(online, "minibatch_logps", spy)
    params = {**TINY["xpo"], "reward": "judge", "minibatches": 2}
    result = build_algorithm("xpo", params).run(tiny_job(tmp_path))
    assert [r["step"] for r in result.history] == [1, 2]
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["dpo_loss"]) for r in result.history)
    assert [s[:2] for s in seen] == [(2, 2)] * 4  # 2 steps x 2 minibatches


class CountingModel(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.inner, self.calls = model, 0

    def forward(self, **kw):
        self.calls += 1
        return self.inner(**kw)


def test_minibatch_logps_adds_extra_rows_to_one_forward_with_the_same_numbers():
    """The extra rows (responses of other lengths, re-padded together with the minibatch's) give, in
    one forward, the per-token log-probs of two separate forwards; without extra rows it is exactly
    ``response_logps``."""
    from prefzoo.engine.online_parts import minibatch_logps
    from prefzoo.engine.rollout import assemble, response_logps

    policy = tiny_policy(TINY_PAIRS)
    prompts = ["color of the sea ?", "what is blue ?"]
    ids = [policy.encode_prompt(p) for p in prompts]
    vocab = policy.tokenizer.convert_tokens_to_ids
    mb = assemble(policy, prompts, ids, [[vocab("blue")] * 3, [vocab("blue")]], [False, False])
    extra = assemble(policy, prompts, ids, [[vocab("blue")] * 5, [vocab("blue")] * 2], [False, False])
    model = CountingModel(policy.model)
    with torch.no_grad():
        a, b = minibatch_logps(model, mb, extra, 0.7)
        assert model.calls == 1
        torch.testing.assert_close(a, response_logps(policy.model, mb, 0.7), atol=1e-5, rtol=0)
        torch.testing.assert_close(b, response_logps(policy.model, extra, 0.7), atol=1e-5, rtol=0)
        same, none = minibatch_logps(model, mb, None, 0.7)
        assert none is None and torch.equal(same, response_logps(policy.model, mb, 0.7))


# ----------------------------------------------------------------------------- slow: the reward rises
@pytest.mark.slow
def test_raft_raises_a_rule_reward(tmp_path):
    """Best-of-8 fine-tuning against the share of the word 'blue': the samples' mean reward after three
    rounds is above the first round's."""
    algo = build_algorithm("raft", {"reward": "judge", "rounds": 4, "n": 8, "max_new_tokens": 6})
    result = algo.run(tiny_job(tmp_path, max_steps=8, lr=1e-2))
    rewards = [r["sample_reward"] for r in result.info["rounds"]]
    assert rewards[-1] > rewards[0] + 0.05, rewards


# ----------------------------------------------------------------------------- the map of names
def test_docs_algorithms_has_one_row_per_registered_name():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "algorithms.md").read_text()
    rows = [m for m in re.findall(r"^\| ([a-z][a-z0-9-]*) \|", text, re.M) if m != "name"]
    assert sorted(rows) == sorted(set(rows)), "a name has two rows"
    from prefzoo.algos import MANIFEST  # the built-ins (other tests register throwaway names in this process)

    assert set(rows) == set(MANIFEST)


def test_list_groups_by_family(capsys):
    from prefzoo import cli

    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    headers = [line[2:] for line in lines if line.startswith("# ")]
    assert headers == sorted({registry.describe(n)["family"] for n in registry.names()})
    family = None
    for line in lines:
        if line.startswith("# "):
            family = line[2:]
        else:
            assert registry.describe(line.split()[0])["family"] == family, line
