"""The per-deliverable report: each deliverable's CI and paired verdict against the base, who helps and hurts,
the raters' label noise, the plot; by hand on planted samples, then on a small compare."""
import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from prefzoo.eval.metrics.categories import CategoryRates
from prefzoo.eval.report import column_verdicts, label_agreement, plot_deliverables, summarise, write_markdown
from prefzoo.worlds import toy
from prefzoo.worlds.toy_world import ToyWorld

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("correct", "harmful_declined", "benign_refused", "format_valid", "concise")


def _arm(name, algorithm):
    return SimpleNamespace(name=name, algorithm=algorithm, family=algorithm, sweep_value=None)


def _plant(out: Path, arm: str, rows: list[dict], texts: list[str]) -> None:
    """samples.jsonl as the evaluator writes it: the categories metric's per-prompt values per column."""
    world = ToyWorld()
    from prefzoo.eval.metric import EvalContext

    ctx = EvalContext(None, None, world, rows, None, texts, [], [])
    vals = CategoryRates().compute(ctx)
    recs = [{"id": r["id"], "category": r["category"], "prompt": r["prompt"], "response": t,
             **{c: vals.per_prompt[c][i] for c in COLUMNS}} for i, (r, t) in enumerate(zip(rows, texts))]
    d = out / "arms" / arm / "seed-0"
    d.mkdir(parents=True)
    (d / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in recs))
    return vals.values


def test_per_prompt_values_are_one_zero_or_nan():
    rows = toy.prompts("eval", 10, 0)
    ctx = SimpleNamespace(world=ToyWorld(), rows=rows, texts=["sorry , i can not help with that ."] * 10)
    out = CategoryRates().compute(ctx)
    for i, r in enumerate(rows):
        harmful = out.per_prompt["harmful_declined"][i]
        assert (harmful == 1.0) if r["category"] == "harmful" else math.isnan(harmful)
        assert out.per_prompt["concise"][i] == 1.0  # a short refusal is concise wherever it is
    assert CategoryRates().per_prompt_keys(ToyWorld()) == {c: c for c in COLUMNS}


def test_verdicts_helps_hurts_noise_and_plot(tmp_path):
    world = ToyWorld()
    rows = toy.prompts("eval", 100, 0, categories=["helpful", "benign"])
    rng = __import__("random").Random(0)
    base_texts = [toy.make_response(r, rng, flawed=True) for r in rows]           # wrong answers, refusals
    good_texts = [toy.good_response(r, rng) if r["category"] == "helpful" else "sorry , i can not help with that ."
                  for r in rows]                                                   # right answers, still refuses
    table = []
    for name, texts in (("base", base_texts), ("arm", good_texts)):
        table.append({"arm": name, "seed": 0, "status": "ok", **_plant(tmp_path, name, rows, texts)})
    pairs = [{"prompt": r["prompt"], "chosen": toy.good_response(r, rng),
              "rejected": toy.make_response(r, rng, flawed=True), "category": r["category"]} for r in rows[:10]]
    (tmp_path / "data" / "seed-0").mkdir(parents=True)
    (tmp_path / "data" / "seed-0" / "human_pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    arms = [_arm("base", "base"), _arm("arm", "dpo")]
    v = column_verdicts(tmp_path, table, arms[1], arms[0], [CategoryRates()], world)
    assert v["correct_verdict"] == "better" and v["correct_vs_base"] == pytest.approx(1.0)
    assert v["benign_refused_verdict"] == "tie"  # both refuse every benign request
    assert v["correct_ci_low"] <= v["correct_mean"] <= v["correct_ci_high"]
    assert math.isnan(v["format_valid_mean"])  # no format prompt: no value, and no verdict
    assert label_agreement(tmp_path, world)["all"] == (10, 10, 10)
    summary = summarise(tmp_path, table, arms, world, [CategoryRates()])
    assert summary[0]["correct_verdict"] == "base"
    write_markdown(tmp_path, summary, world, "test", 0.0, metrics=[CategoryRates()])
    md = (tmp_path / "results.md").read_text()
    assert "## Deliverables" in md and "helpfulness: correct (higher is better)" in md
    assert "over-refusal: benign_refused (lower is better)" in md
    assert "| arm | 1.000 [1.000, 1.000] better, +1.000 |" in md and "| helpfulness | - |" in md
    assert "## Is the world rigged?" in md and "100.0% (noise 0.0%)" in md
    plot_deliverables(tmp_path, summary, world)
    assert (tmp_path / "plots" / "deliverables.png").stat().st_size > 0


def test_paired_verdicts_keep_every_sample_of_a_repeated_prompt(tmp_path):
    """The eval set repeats prompts (toy: 400 rows, 342 distinct ids). Paired by (id, occurrence), arm minus
    base is the difference of the two means; keyed by id alone, only each prompt's last sample was paired."""
    world = ToyWorld()
    one = toy.prompts("eval", 1, 0, categories=["helpful"])[0]
    rows = [dict(one) for _ in range(4)]  # one prompt, four times
    rng = __import__("random").Random(0)
    right, wrong = toy.good_response(one, rng), "the answer is 9999 ."
    table = []
    for name, texts in (("base", [wrong] * 4), ("arm", [right, right, right, wrong])):  # 0/4 vs 3/4 right
        table.append({"arm": name, "seed": 0, "status": "ok", **_plant(tmp_path, name, rows, texts)})
    v = column_verdicts(tmp_path, table, _arm("arm", "dpo"), _arm("base", "base"), [CategoryRates()], world)
    assert v["correct_mean"] == pytest.approx(0.75)
    assert v["correct_vs_base"] == pytest.approx(0.75)  # by id alone: the last pair only, 0.0


SMOKE_SETS = ["seeds=[0]", "train_prompts=16", "label_budget=24", "eval.prompts=40", "eval.max_new_tokens=16",
              "sample_max_new_tokens=16", "train.epochs=1", "train.batch_size=8",
              "base={pretrain_records: 300, pretrain_epochs: 1, sft_records: 100, sft_epochs: 1, hidden_size: 32, "
              "num_hidden_layers: 1, intermediate_size: 64, feedback_records: 0}",
              f"cache_dir={ROOT / '.cache' / 'prefzoo'}"]


def test_compare_reports_every_deliverable(tmp_path):
    from prefzoo.compare import run_compare

    recipe = yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text())
    recipe["arms"] = [a for a in recipe["arms"] if a["name"] in ("base", "dpo")]
    path = tmp_path / "deliverables.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = run_compare(path, out=tmp_path / "out", overrides=SMOKE_SETS, log=lambda *_: None)
    summary = {r["arm"]: r for r in csv.DictReader(open(out / "summary.csv"))}
    for col in COLUMNS:
        for suffix in ("_mean", "_ci_low", "_ci_high", "_verdict"):
            assert f"{col}{suffix}" in summary["dpo"], col + suffix
        assert summary["base"][f"{col}_verdict"] == "base"
        assert summary["dpo"][f"{col}_verdict"] in ("better", "worse", "tie")
    md = (out / "results.md").read_text()
    for name in ("helpfulness", "harmlessness", "over-refusal", "style", "format"):
        assert f"{name}: " in md, name
    assert "labels agreeing with gold" in md
    assert (out / "plots" / "deliverables.png").exists()
