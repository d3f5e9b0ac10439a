"""prefzoo compare on a smoke-sized toy world: files written, a failing arm isolated, reruns skip."""
import csv
import json
from pathlib import Path

import pytest
import yaml

from prefzoo.compare import expand_arms, load_compare_recipe, run_compare
from prefzoo.config import ConfigError
from prefzoo.eval.evaluator import bootstrap_ci, distinct_n

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "recipes" / "smoke-compare.yaml"

BOOM = '''
from dataclasses import dataclass
from prefzoo.api import Algorithm
from prefzoo.registry import register

@register("boom")
class Boom(Algorithm):
    family = "test"
    data_kind = "pairs"
    summary = "raises mid-run"
    paper = "-"

    @dataclass
    class Config:
        pass

    def run(self, job):
        raise RuntimeError("planted failure in the middle of training")
'''


QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
# The quickstart itself, every arm, at smoke size: a tiny base and feedback model, one seed, small budgets.
SMOKE_SETS = ["seeds=[0]", "train_prompts=16", "label_budget=24", "eval.prompts=20", "eval.max_new_tokens=16",
              "sample_max_new_tokens=16", "train.epochs=1", "train.batch_size=8",
              "base={pretrain_records: 300, pretrain_epochs: 1, sft_records: 100, hidden_size: 32, "
              "num_hidden_layers: 1, intermediate_size: 64, feedback_records: 100, feedback_epochs: 1}",
              "arms.ppo.params.steps=2", "arms.ppo.params.prompts_per_step=8", "arms.ppo.params.max_new_tokens=12",
              "arms.rlaif.params.max_new_tokens=12", "arms.cai.params.max_new_tokens=12",
              f"cache_dir={ROOT / '.cache' / 'prefzoo'}"]  # the smoke base is built once per machine


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    (tmp / "boom.py").write_text(BOOM)
    recipe = yaml.safe_load(QUICKSTART.read_text())
    recipe["plugins"] = [str(tmp / "boom.py")]
    recipe["arms"].append({"name": "boom", "algorithm": "boom"})
    path = tmp / "quickstart-smoke.yaml"
    path.write_text(yaml.safe_dump(recipe))
    logs: list[str] = []
    out = run_compare(path, out=tmp / "out", overrides=SMOKE_SETS, log=logs.append)
    return path, out, logs


def test_writes_tables_plots_and_per_arm_files(smoke_run):
    _, out, _ = smoke_run
    rows = list(csv.DictReader(open(out / "results.csv")))
    for col in ["arm", "algorithm", "seed", "gold_reward", "win_rate_vs_base", "kl_to_base", "mean_length",
                "wall_s", "status"]:
        assert col in rows[0], col
    arms = {a["name"] for a in yaml.safe_load(QUICKSTART.read_text())["arms"]}
    assert {r["arm"] for r in rows} == arms | {"boom"}
    assert all(r["status"] == "ok" for r in rows if r["arm"] != "boom"), [r["error"] for r in rows]
    summary = {r["arm"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    for col in ["gold_reward_mean", "gold_reward_ci_low", "gold_reward_ci_high", "win_rate_vs_base", "kl_to_base",
                "correct", "harmful_declined", "benign_refused", "format_valid"]:
        assert col in summary["base"], col
    base = summary["base"]
    # AI labels checked against the world's gold preference (undefined where every smoke-sized pair is a gold tie)
    alignment = [float(summary[arm]["labeler_alignment"]) for arm in ("rlaif", "cai")]
    assert any(0.0 <= a <= 1.0 for a in alignment), alignment
    assert float(base["gold_reward_ci_low"]) <= float(base["gold_reward_mean"]) <= float(base["gold_reward_ci_high"])
    assert float(base["kl_to_base"]) == 0.0 and float(base["win_rate_vs_base"]) == 0.5
    # a paired verdict against the base for the headline metrics with a direction (not for KL)
    assert base["gold_reward_verdict"] == "base" and "kl_to_base_verdict" not in base
    for arm in ("dpo", "ppo", "cai"):
        r = summary[arm]
        assert r["gold_reward_verdict"] in ("better", "worse", "tie") and r["win_rate_vs_base_verdict"]
        lo, mean, hi = (float(r[f"gold_reward_vs_base{k}"]) for k in ("_ci_low", "", "_ci_high"))
        assert lo <= mean <= hi
        assert mean == pytest.approx(float(r["gold_reward_mean"]) - float(base["gold_reward_mean"]), abs=1e-3)
        assert (r["gold_reward_verdict"] == "better") == (lo > 0) and (r["gold_reward_verdict"] == "worse") == (hi < 0)
    md = (out / "results.md").read_text()
    assert "prefzoo compare" in md and "| dpo |" in md and "| cai |" in md and "gold_reward_verdict" in md
    # a headline table first (gold with its interval, the verdict), then a glossary of every column
    assert md.index("## Headline") < md.index("## Glossary") < md.index("## All columns")
    assert "| arm | gold reward (95% CI) | verdict | win_rate_vs_base |" in md
    assert "- `gold_reward_mean`: the world's gold reward" in md and "(higher is better)" in md
    assert "- `benign_refused`:" in md and "(lower is better)" in md.split("- `benign_refused`:")[1].split("\n")[0]
    assert (out / "plots" / "reward_vs_kl.png").stat().st_size > 1000
    assert (out / "plots" / "categories.png").stat().st_size > 1000
    assert (out / "plots" / "verdicts.png").stat().st_size > 1000
    arm = out / "arms" / "dpo" / "seed-0"
    assert (arm / "config.yaml").exists() and (arm / "metrics.jsonl").read_text().strip()
    samples = [json.loads(x) for x in (arm / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 20 and {"prompt", "response", "gold_reward", "kl"} <= set(samples[0])


def test_failed_arm_is_recorded_and_others_finish(smoke_run):
    _, out, _ = smoke_run
    rows = {r["arm"]: r for r in csv.DictReader(open(out / "results.csv"))}
    assert rows["boom"]["status"] == "failed"
    assert "planted failure" in rows["boom"]["error"]
    assert all(rows[a]["status"] == "ok" for a in ("base", "dpo", "ppo", "rlaif", "cai"))
    assert "planted failure" in (out / "arms" / "boom" / "seed-0" / "error.txt").read_text()


def test_rerun_skips_finished_arms(smoke_run):
    path, out, _ = smoke_run
    logs: list[str] = []
    run_compare(path, out=out, overrides=SMOKE_SETS, log=logs.append)
    skipped = [line for line in logs if "finished earlier" in line]
    arms = yaml.safe_load(QUICKSTART.read_text())["arms"]
    assert len(skipped) == len(arms), logs  # every finished arm; the failed arm is tried again
    assert any("boom seed 0: FAILED" in line for line in logs)


def test_sweep_expands_and_bad_names_fail_early(tmp_path):
    recipe = load_compare_recipe(SMOKE)
    names = [a.name for a in expand_arms(recipe)]
    assert names == ["base", "dpo[beta=0.1]", "dpo[beta=0.5]"]
    bad = yaml.safe_load(SMOKE.read_text())
    bad["arms"] = [{"name": "x", "algorithm": "dpp"}]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(KeyError, match="did you mean 'dpo'"):
        expand_arms(load_compare_recipe(p))
    bad["arms"] = [{"name": "x", "algorithm": "dpo", "sweeep": {}}]
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="did you mean 'sweep'"):
        load_compare_recipe(p)


def test_bootstrap_and_distinct_by_hand():
    # one seed, constant rewards: the CI collapses onto the mean
    assert bootstrap_ci([[1.0, 1.0, 1.0]]) == (1.0, 1.0, 1.0)
    mean, lo, hi = bootstrap_ci([[0.0, 1.0] * 50, [0.0, 1.0] * 50])
    assert mean == 0.5 and 0.35 < lo < 0.5 < hi < 0.65
    # "a b a b": bigrams (a,b),(b,a),(a,b) -> 2 unique of 3
    assert distinct_n(["a b a b"]) == pytest.approx(2 / 3)


def test_workers_give_the_sequential_numbers(smoke_run):
    """The quickstart runs arms in two forked workers; one at a time gives the same table (every arm
    seeds its own RNGs and trains its own copy of the base), failures included."""
    path, out, _ = smoke_run
    assert yaml.safe_load(path.read_text())["workers"] == 2
    seq = run_compare(path, out=out.parent / "sequential", overrides=SMOKE_SETS + ["workers=1"], log=lambda *_: None)
    timing = {"wall_s", "train_s", "reused"}
    a = [{k: v for k, v in r.items() if k not in timing} for r in csv.DictReader(open(out / "results.csv"))]
    b = [{k: v for k, v in r.items() if k not in timing} for r in csv.DictReader(open(seq / "results.csv"))]
    assert [r["arm"] for r in a] == [r["arm"] for r in b] and a == b


def test_alignment_is_reported_with_its_pair_count(smoke_run):
    """Agreement with gold carries the number of non-tied pairs behind it (1.000 on 2 pairs means little)."""
    from prefzoo.compare import feedback_columns

    assert feedback_columns({"labeler_alignment": 1.0, "labeler_alignment_detail": {"n": 2}}) == \
        {"labeler_alignment": 1.0, "labeler_alignment_n": 2}
    _, out, _ = smoke_run
    rows = {r["arm"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert int(rows["rlaif"]["labeler_alignment_n"]) > 0
    assert "labeler_alignment_n" in (out / "results.md").read_text()


def test_environment_json_names_versions_cpu_and_commit(tmp_path):
    """Every compare result gets environment.json: floats differ across CPUs, so a table says where it ran."""
    import json as _json

    from prefzoo.provenance import write_environment

    env = _json.loads(write_environment(tmp_path).read_text())
    assert env["packages"]["torch"] and env["packages"]["transformers"] and env["python"]
    assert env["cpu"]["cores"] >= 1 and "threads" in env and "deterministic_algorithms" in env
    assert set(env["git"]) == {"commit", "dirty"}
    assert "earlier_runs" not in _json.loads(write_environment(tmp_path).read_text())  # a fresh run: replaced
    (tmp_path / "environment.json").write_text(_json.dumps({**env, "git": {"commit": "abc", "dirty": False}}))
    again = _json.loads(write_environment(tmp_path, keep_earlier=True).read_text())  # reused arms: kept
    assert [e["git"]["commit"] for e in again["earlier_runs"]] == ["abc"]
    third = _json.loads(write_environment(tmp_path, keep_earlier=True).read_text())
    assert [e["git"]["commit"] for e in third["earlier_runs"]] == ["abc", again["git"]["commit"]]
    assert "earlier_runs" not in third["earlier_runs"][1]  # flat, newest last


def test_paired_verdict_by_hand():
    """Differences arm - base per prompt, paired by id within a seed. One seed, every difference +0.5: every
    bootstrap mean is 0.5, so the interval is [0.5, 0.5] and the arm is better (higher is better), worse if
    lower is better. Differences -1, +1, 0 (mean 0): the interval straddles 0: a tie. Two seeds whose
    differences are all 1 and all 3: resampled seed means are 1, 2 or 3, so the interval is [1, 3]: better.
    Prompt ids the base lacks are left out of the pairing."""
    from prefzoo.eval.evaluator import paired_verdict

    base = [{"a": 0.0, "b": 1.0, "c": 2.0}]
    mean, lo, hi, v = paired_verdict([{"a": 0.5, "b": 1.5, "c": 2.5, "zz": 9.0}], base, "higher")
    assert (mean, lo, hi, v) == (0.5, 0.5, 0.5, "better")
    assert paired_verdict([{"a": 0.5, "b": 1.5, "c": 2.5}], base, "lower")[3] == "worse"
    mean, lo, hi, v = paired_verdict([{"a": -1.0, "b": 2.0, "c": 2.0}], base, "higher")
    assert mean == 0.0 and lo < 0 < hi and v == "tie"
    two = paired_verdict([{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}], [{"a": 0.0, "b": 1.0}] * 2, "higher")
    assert two == (2.0, 1.0, 3.0, "better")
    assert paired_verdict([{}], base, "higher")[3] == "n/a"
