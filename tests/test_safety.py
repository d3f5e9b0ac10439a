"""Runs that never mislead (issue 13): a non-empty --out is refused, compare reuses only what matches its
fingerprint, checkpoints are written as documented and resumed exactly, a non-finite run ends in one
error line, checkpoints load with weights_only=True, names cannot write outside --out, and the small
items (--version, the wrong kind of recipe, the cache folder, the Python API). Fast; no network."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import prefzoo
from prefzoo import cli
from prefzoo.algos.dpo import DPO
from prefzoo.compare_recipe import expand_arms, load_compare_recipe
from prefzoo.config import ConfigError
from prefzoo.engine.loop import Checkpoints, NonFiniteError
from prefzoo.engine.tracking import read_metrics
from prefzoo.feedback.cache import LabelCache

ROOT = Path(__file__).resolve().parents[1]
DPO_RECIPE = ROOT / "recipes" / "tiny-dpo.yaml"
PPO_RECIPE = ROOT / "recipes" / "tiny-ppo.yaml"
SMOKE = ROOT / "recipes" / "smoke-compare.yaml"
SMOKE_CACHE = ROOT / ".cache" / "prefzoo"  # the smoke base, built once per machine (as tests/test_compare.py)


def train(capsys, out: Path, *sets: str, recipe: Path = DPO_RECIPE, flags: tuple = ()) -> tuple[int, str, str]:
    argv = ["train", str(recipe), "--out", str(out), "--set", "train.progress=false"]
    for s in sets:
        argv += ["--set", s]
    code = cli.main(argv + list(flags))
    o, e = capsys.readouterr()
    return code, o, e


def steps(out: Path) -> list[int]:
    return [r["step"] for r in read_metrics(out)]


# ----------------------------------------------------------------------------- 1: a non-empty --out
def test_train_refuses_a_non_empty_out_naming_resume_and_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(capsys, out, "train.max_steps=3", "train.checkpoint_every=1")[0] == 0
    code, _, err = train(capsys, out, "train.max_steps=3", "seed=1")
    assert code == 2, err
    assert err.startswith("prefzoo: error:") and "--resume" in err and "--overwrite" in err, err
    code, _, err = train(capsys, out, "train.max_steps=2", "seed=1", flags=("--overwrite",))
    assert code == 0, err
    assert steps(out) == [1, 2]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-2"]  # nothing of the first run
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 1


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = train(capsys, out, "train.max_steps=1", flags=("--overwrite",))
    assert code == 2 and "not a prefzoo run folder" in err, err
    assert (out / "notes.txt").read_text() == "keep me"


def test_resume_with_other_settings_is_refused_naming_the_keys(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(capsys, out, "train.max_steps=3", "train.checkpoint_every=1")[0] == 0
    code, _, err = train(capsys, out, "train.max_steps=3", "seed=1", "params.beta=0.2", flags=("--resume",))
    assert code == 2, err
    assert "seed" in err and "params.beta" in err and "--overwrite" in err, err


# ----------------------------------------------------------------------------- 3: checkpoints and metrics
@pytest.mark.parametrize("recipe,sets", [(DPO_RECIPE, ["train.max_steps=3"]),
                                         (PPO_RECIPE, ["params.steps=2", "params.epochs=1"])], ids=["dpo", "ppo"])
def test_checkpoint_every_0_writes_the_final_checkpoint_and_a_resume_adds_no_row(tmp_path, capsys, recipe, sets):
    out = tmp_path / "run"
    assert train(capsys, out, *sets, recipe=recipe)[0] == 0  # checkpoint_every: 0 (the default)
    n = len(steps(out))
    assert [p.name for p in (out / "checkpoints").iterdir()] == [f"step-{n}"]
    code, printed, err = train(capsys, out, *sets, recipe=recipe, flags=("--resume",))
    assert code == 0, err
    assert steps(out) == list(range(1, n + 1))  # a finished run resumed: nothing trained, no step twice
    assert f"step={n}" in printed


def test_resume_without_a_checkpoint_starts_clean_with_a_note(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(capsys, out, "train.max_steps=3")[0] == 0
    shutil.rmtree(out / "checkpoints")  # as if killed before the first checkpoint
    code, printed, err = train(capsys, out, "train.max_steps=3", flags=("--resume",))
    assert code == 0, err
    assert "holds no checkpoint; starting from step 0" in printed
    assert steps(out) == [1, 2, 3]


def test_a_torn_last_metrics_line_is_dropped_with_a_note(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(capsys, out, "train.max_steps=4", "train.checkpoint_every=2")[0] == 0
    straight = read_metrics(out)
    shutil.rmtree(out / "checkpoints" / "step-4")  # killed while writing step 4's row
    text = (out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").write_text(text[: len(text) - 40])
    code, printed, err = train(capsys, out, "train.max_steps=4", "train.checkpoint_every=2", flags=("--resume",))
    assert code == 0, err
    assert "dropped a torn last line" in printed
    resumed = read_metrics(out)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight]


def test_read_metrics_drops_only_a_torn_last_line(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "lo')
    assert read_metrics(path) == [{"step": 1, "loss": 0.5}]
    assert "torn last line" in capsys.readouterr().out
    path.write_text('{"step": 1\n{"step": 2}\n')
    with pytest.raises(ValueError, match="line 1"):
        read_metrics(path)


def test_a_torn_last_label_cache_line_is_dropped_and_the_next_label_survives(tmp_path, capsys):
    cache = LabelCache(tmp_path, {"judge": "planted"})
    cache.put("a", {"p": 0.25})
    cache.close()
    with open(cache.path, "ab") as f:
        f.write('{"key": "b", "value": {"why": "caf\u00e9'.encode()[:-1])  # cut inside a UTF-8 character
    again = LabelCache(tmp_path, {"judge": "planted"})
    assert "torn last line" in capsys.readouterr().out
    assert again.get("a") == {"p": 0.25} and again.get("b") is None
    again.put("c", {"p": 0.75})
    again.close()
    third = LabelCache(tmp_path, {"judge": "planted"})
    assert third.get("c") == {"p": 0.75} and len(third) == 2


# ----------------------------------------------------------------------------- 4: non-finite runs, a changed lr
def test_a_non_finite_loss_ends_in_one_error_line_exit_1(tmp_path, capsys, monkeypatch):
    real, calls = DPO.loss, {"n": 0}

    def loss(self, policy, reference):
        calls["n"] += 1
        out = real(self, policy, reference)
        return type(out)(out.loss * float("nan"), out.per_example, out.metrics) if calls["n"] == 3 else out

    monkeypatch.setattr(DPO, "loss", loss)
    code, _, err = train(capsys, tmp_path / "run", "train.max_steps=5", "train.checkpoint_every=2")
    assert code == 1, err
    assert err.startswith("prefzoo: error: non-finite loss") and "at step 3" in err and "step 2" in err, err
    assert "Traceback" not in err


def test_a_checkpoint_with_non_finite_weights_is_not_written(tmp_path):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    ckpts = Checkpoints(tmp_path)
    ckpts.save(1, model, opt, sched)
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match="non-finite weight at step 2"):
        ckpts.save(2, model, opt, sched)
    assert ckpts.latest().name == "step-1"


def test_a_resumed_run_applies_a_changed_lr_and_config_yaml_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(capsys, out, "train.max_steps=4", "train.checkpoint_every=2")[0] == 0
    shutil.rmtree(out / "checkpoints" / "step-4")  # killed after step 3
    code, printed, err = train(capsys, out, "train.max_steps=4", "train.checkpoint_every=2", "train.lr=0.001",
                               flags=("--resume",))
    assert code == 0, err
    assert "with train.lr 0.001" in printed
    assert [r["lr"] for r in read_metrics(out)] == [0.01, 0.01, 0.001, 0.001]
    text = (out / "config.yaml").read_text()
    assert yaml.safe_load(text)["train"]["lr"] == 0.001
    assert re.search(r"#\s+train.lr: 0.01 before the resume, 0.001 after", text), text
    assert json.loads((out / "result.json").read_text())["resumed_with_changes"]["train.lr"] == [0.01, 0.001]


# ----------------------------------------------------------------------------- 12: safe loading
class _Planted:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def test_a_crafted_checkpoint_runs_no_code_on_resume(tmp_path, capsys):
    out, marker = tmp_path / "run", tmp_path / "pwned"
    assert train(capsys, out, "train.max_steps=2")[0] == 0
    torch.save({"step": 2, "model": _Planted(marker)}, out / "checkpoints" / "step-2" / "state.pt")
    code, _, err = train(capsys, out, "train.max_steps=2", flags=("--resume",))
    assert code == 2 and "cannot be loaded safely" in err, err
    assert not marker.exists()


def test_every_torch_load_passes_weights_only_true_and_the_floor_is_safe():
    for path in (ROOT / "prefzoo").rglob("*.py"):
        for call in re.findall(r"torch\.load\([^\n]*", path.read_text()):
            assert "weights_only=True" in call, (path, call)
    deps = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floor = next(d for d in deps if d.startswith("torch"))
    assert tuple(int(x) for x in floor.split(">=")[1].split(".")[:2]) >= (2, 6), floor


# ----------------------------------------------------------------------------- 13: names stay inside --out
def arms_of(tmp_path: Path, data: dict):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    return expand_arms(load_compare_recipe(tmp_path / "c.yaml"))


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "..", "a/b", ".hidden"])
def test_unsafe_arm_names_are_refused(tmp_path, name):
    with pytest.raises(ConfigError, match="is not allowed"):
        arms_of(tmp_path, {"name": "n", "arms": [{"name": name, "algorithm": "base"}]})


def test_a_sweep_value_with_a_slash_is_refused_and_a_plain_sweep_passes(tmp_path):
    ok = {"name": "n", "arms": [{"name": "dpo", "algorithm": "dpo", "sweep": {"params.beta": [0.1, 1e-05]}}]}
    assert [a.name for a in arms_of(tmp_path, ok)] == ["dpo[beta=0.1]", "dpo[beta=1e-05]"]
    bad = {"name": "n", "arms": [{"name": "rlaif", "algorithm": "rlaif",
                                  "sweep": {"params.judge.model": ["../../etc"]}}]}
    with pytest.raises(ConfigError, match="is not allowed"):
        arms_of(tmp_path, bad)


def test_an_output_path_through_a_symlink_outside_out_is_refused(tmp_path):
    from prefzoo.compare_recipe import arm_dir_of

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "arms").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="outside the output folder"):
        arm_dir_of(out, "dpo", 0)


def test_a_recipe_name_cannot_steer_the_default_out(tmp_path, capsys, monkeypatch):
    data = yaml.safe_load(DPO_RECIPE.read_text())
    data.update(name="../../escape")
    data["data"]["path"] = str(ROOT / "recipes" / "data" / "tiny_pairs.jsonl")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", str(tmp_path / "r.yaml"), "--set", "train.max_steps=1"])
    assert code == 2 and "is not allowed" in capsys.readouterr().err
    assert not (tmp_path.parent.parent / "escape").exists()


# ----------------------------------------------------------------------------- 2: compare fingerprints
SMOKE_SETS = ["train_prompts=16", "label_budget=16", "eval.prompts=8", "eval.max_new_tokens=8",
              "sample_max_new_tokens=8", f"cache_dir={SMOKE_CACHE}", "arms.dpo.sweep={}"]


def test_compare_reuses_only_what_matches_its_fingerprint(tmp_path):
    out, logs = tmp_path / "cmp", []
    rows = prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS, log=logs.append)  # the Python API: the table
    assert [(r["arm"], r["status"]) for r in rows] == [("base", "ok"), ("dpo", "ok")]
    assert json.loads((out / "arms" / "dpo" / "seed-0" / "eval.json").read_text())["fingerprint"]["train"]["lr"]
    assert not list(out.rglob("checkpoints"))  # a finished arm is never resumed: its checkpoints go
    logs.clear()
    prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS, log=logs.append)
    assert sum("finished earlier with the same settings" in x for x in logs) == 2, logs

    with pytest.raises(ConfigError) as info:  # another lr for one arm
        prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS + ["arms.dpo.train.lr=0.01"], log=logs.append)
    msg = str(info.value)
    assert "arm dpo seed 0" in msg and "train.lr" in msg and "--overwrite" in msg and "arm base" not in msg, msg
    logs.clear()
    prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS + ["arms.dpo.train.lr=0.01"], log=logs.append,
                    overwrite=True)
    assert any("redoing arm dpo seed 0" in x for x in logs), logs
    assert any("[arm] base seed 0: finished earlier" in x for x in logs), logs  # kept: it matches
    assert json.loads((out / "arms" / "dpo" / "seed-0" / "eval.json").read_text())["fingerprint"]["train"]["lr"] == 0.01

    with pytest.raises(ConfigError) as info:  # another label budget: the human pairs, then every trained arm
        prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS + ["arms.dpo.train.lr=0.01", "label_budget=12"])
    msg = str(info.value)
    assert "human pairs of seed 0" in msg and "label_budget" in msg and "arm dpo seed 0 (data)" in msg, msg


def test_an_unfinished_arm_is_resumed_only_with_its_own_settings(tmp_path):
    """An arm that did not finish leaves files a rerun would pick up (a reward model, checkpoints): they are
    kept only for the same settings (its started.json fingerprint). Other settings are refused; --overwrite
    removes everything it left before retraining (a stale reward model was loaded and crashed the rerun)."""
    out = tmp_path / "cmp"
    prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS, log=lambda *_: None)
    arm = out / "arms" / "dpo" / "seed-0"
    assert not (arm / "started.json").exists()  # a finished arm's fingerprint is in its eval.json
    fingerprint = json.loads((arm / "eval.json").read_text())["fingerprint"]
    (arm / "eval.json").unlink()  # as if it had been interrupted, with a file of its own left behind
    (arm / "started.json").write_text(json.dumps(fingerprint))
    (arm / "leftover.txt").write_text("a reward model trained under other settings")
    logs: list[str] = []
    prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS, log=logs.append)  # the same settings: resumed
    assert any("[arm] dpo seed 0: gold" in x for x in logs) and (arm / "leftover.txt").exists(), logs
    (arm / "eval.json").unlink()
    (arm / "started.json").write_text(json.dumps(fingerprint))
    with pytest.raises(ConfigError) as info:
        prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS + ["arms.dpo.train.lr=0.01"], log=lambda *_: None)
    assert "unfinished arm dpo seed 0 (train.lr)" in str(info.value), str(info.value)
    prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS + ["arms.dpo.train.lr=0.01"], log=lambda *_: None,
                    overwrite=True)
    assert not (arm / "leftover.txt").exists() and (arm / "eval.json").exists()
    (arm / "eval.json").unlink()  # an unfinished arm of an older prefzoo: no started.json says how it was made
    assert not (arm / "started.json").exists()
    with pytest.raises(ConfigError, match="unfinished arm dpo seed 0 .fingerprint .none recorded"):
        prefzoo.compare(SMOKE, out=out, overrides=SMOKE_SETS + ["arms.dpo.train.lr=0.01"], log=lambda *_: None)


def test_compare_without_out_writes_under_runs_never_results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load(SMOKE.read_text())
    data["arms"] = [{"name": "base", "algorithm": "base"}]
    prefzoo.compare(data, overrides=SMOKE_SETS[:-1], log=lambda *_: None)
    assert (tmp_path / "runs" / "smoke-compare" / "results.csv").exists()
    assert not (tmp_path / "results").exists()


# ----------------------------------------------------------------------------- 16: small items
def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"prefzoo {prefzoo.__version__}"


def test_the_wrong_kind_of_recipe_names_the_right_command(tmp_path, capsys):
    assert cli.main(["train", str(SMOKE), "--out", str(tmp_path / "a")]) == 2
    assert f"run prefzoo compare {SMOKE}" in capsys.readouterr().err
    assert cli.main(["compare", str(DPO_RECIPE), "--out", str(tmp_path / "b")]) == 2
    assert f"run prefzoo train {DPO_RECIPE}" in capsys.readouterr().err


def test_the_default_cache_is_one_absolute_folder(monkeypatch, tmp_path):
    from prefzoo.compare_recipe import ArmSpec, CompareRecipe
    from prefzoo.recipe import TrainConfig

    monkeypatch.setenv("PREFZOO_CACHE", str(tmp_path / "c"))
    assert TrainConfig().cache_dir == str(tmp_path / "c")
    monkeypatch.delenv("PREFZOO_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert TrainConfig().cache_dir == str(tmp_path / "home" / ".cache" / "prefzoo")
    assert CompareRecipe(name="x", arms=[ArmSpec("base", "base")]).cache_dir == TrainConfig().cache_dir


def test_the_python_api_trains_a_dict_recipe(tmp_path):
    data = yaml.safe_load(DPO_RECIPE.read_text())
    data["data"]["path"] = str(ROOT / "recipes" / "data" / "tiny_pairs.jsonl")
    result = prefzoo.train(data, out=tmp_path / "run", overrides=["train.max_steps=2", "train.progress=false"])
    assert [r["step"] for r in result.history] == [1, 2]
    with pytest.raises(ConfigError, match="not empty"):
        prefzoo.train(data, out=tmp_path / "run", overrides=["train.max_steps=2"])


def test_readme_says_how_to_get_prefzoo_on_path():
    assert "source .venv/bin/activate" in (ROOT / "README.md").read_text()
