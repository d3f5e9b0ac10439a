"""The findings' machinery: best-of-n estimates, the simulated labeler, the frontier comparison, and a
smoke run of each recipe under recipes/findings (their `smoke` budget)."""
import itertools
import json
import random
from pathlib import Path

import pytest
import torch

from prefzoo.feedback.base import RuleFeedback
from prefzoo.feedback.spec import FeedbackSpec, FeedbackSpecError, parse_spec
from prefzoo.feedback.simulated import SimulatedBackend, SimulatedLabeler
from prefzoo.findings.frontier import versus_reference
from prefzoo.findings.overopt import bon_curve

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = ROOT / "recipes" / "findings"


def test_bon_curve_equals_enumerating_every_subset():
    g = torch.Generator().manual_seed(0)
    gold, proxy = torch.randn(3, 7, generator=g), torch.randn(3, 7, generator=g)
    for row in bon_curve(gold, proxy, [1, 2, 3, 7]):
        n, want_g, want_p = row["n"], [], []
        for i in range(3):
            picks = [max(s, key=lambda j: proxy[i, j]) for s in itertools.combinations(range(7), n)]
            want_g.append(sum(gold[i, j].item() for j in picks) / len(picks))
            want_p.append(sum(proxy[i, j].item() for j in picks) / len(picks))
        assert row["gold"] == pytest.approx(sum(want_g) / 3, abs=1e-9)
        assert row["proxy"] == pytest.approx(sum(want_p) / 3, abs=1e-9)
        assert row["kl"] == pytest.approx(torch.log(torch.tensor(float(n))).item() - (n - 1) / n)


def _labels(acc: float, n: int = 4000):
    gold = RuleFeedback(lambda p, r: float(len(r)))  # the longer reply is gold's pick
    lab = SimulatedLabeler(gold, acc, salt="s")
    rng = random.Random(0)
    a = ["x" * rng.randint(1, 30) for _ in range(n)]
    b = ["y" * rng.randint(1, 30) for _ in range(n)]
    prompts = [f"p{i}" for i in range(n)]
    return lab, prompts, a, b, lab.prefer(prompts, a, b)


@pytest.mark.parametrize("acc", [0.6, 0.9, 1.0])
def test_simulated_labeler_agrees_with_gold_at_its_accuracy(acc):
    lab, prompts, a, b, p = _labels(acc)
    decided = [(pi, len(x) > len(y)) for pi, x, y in zip(p.tolist(), a, b) if len(x) != len(y)]
    agreement = sum((pi == 1.0) == longer for pi, longer in decided) / len(decided)
    assert agreement == pytest.approx(acc, abs=0.025)
    assert set(p.tolist()) <= {0.0, 1.0}
    # the same label in either order, and in a second call
    assert torch.equal(lab.prefer(prompts, b, a), 1.0 - p)
    assert torch.equal(lab.prefer(prompts, a, b), p)
    ties = [pi for pi, x, y in zip(p.tolist(), a, b) if len(x) == len(y)]
    assert 0.35 < sum(ties) / len(ties) < 0.65  # a fair coin on gold ties


def test_simulated_spec_is_checked():
    assert parse_spec("simulated:0.7").model == "0.7"
    with pytest.raises(FeedbackSpecError, match="accuracy in \\[0, 1\\]"):
        parse_spec("simulated:1.5")
    from prefzoo.config import ConfigError

    with pytest.raises(ConfigError, match="simulated:ACC"):  # the mapping form, checked when read
        parse_spec({"backend": "simulated"})
    with pytest.raises(FeedbackSpecError, match="simulated:ACC"):
        SimulatedBackend().check(FeedbackSpec(backend="rule", model="not-a-number:x"))


def _write_samples(out: Path, arm: str, golds: list[float]) -> None:
    d = out / "arms" / arm / "seed-0"
    d.mkdir(parents=True)
    d.joinpath("samples.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "gold_reward": g}) + "\n"
                                                   for i, g in enumerate(golds)))


def test_frontier_reads_dpos_best_arm_within_the_points_kl(tmp_path):
    # DPO at KL 1 (gold 0.0) and KL 3 (gold 1.0): at KL 2 its frontier is the KL-1 arm, at KL 3.5 the KL-3 one
    _write_samples(tmp_path, "dpo-a", [0.0] * 50)
    _write_samples(tmp_path, "dpo-b", [1.0] * 50)
    _write_samples(tmp_path, "ppo", [0.2] * 50)
    ref = [{"arm": "dpo-a", "kl": 1.0, "gold": 0.0, "seeds": [0]}, {"arm": "dpo-b", "kl": 3.0, "gold": 1.0, "seeds": [0]}]
    got = versus_reference(tmp_path, ref, {"arm": "ppo", "kl": 2.0, "seeds": [0]})
    assert got["against"] == "dpo-a" and got["diff"] == pytest.approx(-0.2) and got["verdict"] == "DPO lower"
    got = versus_reference(tmp_path, ref, {"arm": "ppo", "kl": 3.5, "seeds": [0]})
    assert got["against"] == "dpo-b" and got["diff"] == pytest.approx(0.8) and got["verdict"] == "DPO higher"
    # less KL than every DPO arm: more gold beats DPO's frontier; less gold is not comparable
    assert versus_reference(tmp_path, ref, {"arm": "ppo", "kl": 0.5, "seeds": [0]})["verdict"] == "DPO lower"
    _write_samples(tmp_path, "low", [-0.5] * 50)
    assert versus_reference(tmp_path, ref, {"arm": "low", "kl": 0.5, "seeds": [0]})["verdict"] == "outside"


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_overoptimization_smoke(cache):
    from prefzoo.findings.run import run_finding

    out = run_finding(FINDINGS / "overoptimization.yaml", cache / "oo", ["budget=smoke"], log=lambda *_: None)
    fit = json.loads((out / "fit.json").read_text())
    assert set(fit) == {"16", "32"} and set(fit["16"]) == {"bon", "rl"}
    assert "alpha" in fit["32"]["bon"] and (out / "plots" / "overoptimization.png").exists()
    rows = (out / "points.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * (3 + 4)  # per budget: 3 best-of-n points, step 0 + 3 RL checkpoints
    first = (out / "units" / "budget-16" / "seed-0" / "unit.json").read_text()
    run_finding(FINDINGS / "overoptimization.yaml", out, ["budget=smoke"], log=lambda *_: None)  # reused
    assert (out / "units" / "budget-16" / "seed-0" / "unit.json").read_text() == first
    from prefzoo.config import ConfigError

    with pytest.raises(ConfigError, match="other settings"):
        run_finding(FINDINGS / "overoptimization.yaml", out, ["budget=smoke", "bon.candidates=6"], log=lambda *_: None)


@pytest.mark.parametrize("name,plot", [("frontier", "frontier.png"), ("rlaif-vs-rlhf", "rlaif_vs_rlhf.png")])
def test_compare_findings_smoke(cache, name, plot):
    from prefzoo.findings.run import run_finding

    out = run_finding(FINDINGS / f"{name}.yaml", cache / name, ["budget=smoke"], log=lambda *_: None)
    text = (out / "finding.md").read_text()
    assert "## Answer" in text and "Produced by `prefzoo findings" in text
    assert (out / "plots" / plot).exists() and (out / "results.md").exists()


def test_unknown_finding_is_refused(tmp_path):
    from prefzoo.config import ConfigError
    from prefzoo.findings.run import run_finding

    path = tmp_path / "r.yaml"
    path.write_text("name: x\nfinding: nonsense\n")
    with pytest.raises(ConfigError, match="finding:"):
        run_finding(path, tmp_path / "o")


def test_findings_sit_on_top():
    """Only the CLI and prefzoo.findings itself import prefzoo.findings (it is the top layer)."""
    import re

    pkg = ROOT / "prefzoo"
    imports = re.compile(r"^\s*(from|import)\s+prefzoo\.findings", re.M)
    users = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*.py")
                   if imports.search(p.read_text()) and "findings" not in p.relative_to(pkg).parts)
    assert users == ["cli.py"]
