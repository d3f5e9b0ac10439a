"""The command line (``prefzoo list | train``): outputs, written files and error messages.

Most cases call ``prefzoo.cli.main`` in this process (the same code path as ``python -m prefzoo.cli``
without a second interpreter start); one case runs the real module entry point in a subprocess.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prefzoo import cli
from prefzoo.data import IDENTICAL
from prefzoo.engine.tracking import read_metrics
from prefzoo.models.policy import PROMPT_TOO_LONG

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "tiny-dpo.yaml"
PAIRS = ROOT / "recipes" / "data" / "tiny_pairs.jsonl"
LIST_KEYS = {"name", "family", "data_kind", "summary", "paper"}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def quick(tmp_path: Path) -> list[str]:
    """--set flags that keep runs in tmp and quiet."""
    return ["--set", "train.progress=false", "--set", f"train.cache_dir={tmp_path / 'cache'}"]


def write_recipe(tmp_path: Path, edit=None, name: str = "recipe.yaml") -> Path:
    """tiny-dpo.yaml with an absolute data path, changed by ``edit(dict)``, written to tmp."""
    data = yaml.safe_load(RECIPE.read_text())
    data["data"]["path"] = str(PAIRS)
    if edit:
        edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ----------------------------------------------------------------------------- list


def test_list_json_in_process(capsys):
    code, out, _ = run_cli(capsys, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    by_name = {r["name"]: r for r in rows}
    assert {"dpo", "sft"} <= by_name.keys()
    for r in rows:
        assert set(r) == LIST_KEYS, r
        assert all(isinstance(r[k], str) and r[k] for k in LIST_KEYS), r
    assert by_name["dpo"]["data_kind"] == "pairs" and by_name["sft"]["data_kind"] == "sft"
    assert "2305.18290" in by_name["dpo"]["paper"]


def test_list_table(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert any(line.split()[0] == "dpo" for line in lines) and any(line.split()[0] == "sft" for line in lines)


def test_module_entry_point_list_json():
    proc = subprocess.run([sys.executable, "-m", "prefzoo.cli", "list", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert {"dpo", "sft"} <= {r["name"] for r in json.loads(proc.stdout)}


# ----------------------------------------------------------------------------- train


def test_train_tiny_dpo(tmp_path, capsys):
    """The shipped recipe, as is: DPO starts at ln 2 (policy == reference) and learns the pairs."""
    out_dir = tmp_path / "run"
    code, out, _ = run_cli(capsys, "train", str(RECIPE), "--out", str(out_dir), *quick(tmp_path))
    assert code == 0
    assert f"done: {out_dir}" in out
    rows = read_metrics(out_dir)
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert rows[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert rows[-1]["loss"] < 0.5
    assert rows[-1]["reward_accuracy"] > 0.9
    config = yaml.safe_load((out_dir / "config.yaml").read_text())
    assert config["algorithm"] == "dpo" and config["params"]["beta"] == 0.1 and not config["params"]["wpo"]
    assert config["train"]["max_steps"] == 40 and config["train"]["cache_dir"] == str(tmp_path / "cache")
    assert (out_dir / "model" / "config.json").is_file()
    assert list((out_dir / "model").glob("*.safetensors"))
    assert (out_dir / "model" / "tokenizer.json").is_file()
    result = json.loads((out_dir / "result.json").read_text())
    assert result["final"]["step"] == 40 and result["info"]["data"] == {"kept": 64, "dropped": {}}


def test_set_override_lands_in_config_yaml(tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", str(RECIPE), "--out", str(out_dir), "--set", "params.beta=0.2",
                           "--set", "train.max_steps=1", *quick(tmp_path))
    assert code == 0, err
    config = yaml.safe_load((out_dir / "config.yaml").read_text())
    assert config["params"]["beta"] == 0.2
    assert config["train"]["max_steps"] == 1


# ----------------------------------------------------------------------------- recipe errors


@pytest.mark.parametrize("typo", ["dpp", "dpoo"])
def test_unknown_algorithm_suggests(tmp_path, capsys, typo):
    """'dpp' is as close to 'ppo' as to 'dpo' by difflib's ratio, so 'dpo' may be the second of the
    suggestions; 'dpoo' has 'dpo' as its single closest name and must suggest it first."""
    path = write_recipe(tmp_path, lambda d: d.update(algorithm=typo))
    code, _, err = run_cli(capsys, "train", str(path), "--out", str(tmp_path / "run"), *quick(tmp_path))
    assert code != 0
    assert f"unknown algorithm {typo!r}" in err, err
    assert re.search(r"did you mean [^?]*'dpo'", err), err
    if typo == "dpoo":
        assert "did you mean 'dpo'" in err, err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d.update(trian=d.pop("train")), "unknown key 'trian' (did you mean 'train'?)"),
    (lambda d: d["train"].update(batchsize=d["train"].pop("batch_size")),
     "unknown key 'train.batchsize' (did you mean 'batch_size'?)"),
    (lambda d: d["params"].update(bta=d["params"].pop("beta")), "(did you mean 'beta'?)"),
], ids=["top-level", "nested", "algorithm-params"])
def test_unknown_recipe_key_suggests(tmp_path, capsys, edit, expected):
    path = write_recipe(tmp_path, edit)
    code, _, err = run_cli(capsys, "train", str(path), "--out", str(tmp_path / "run"), *quick(tmp_path))
    assert code != 0
    assert expected in err, err


def test_unknown_key_in_set_override_suggests(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", str(RECIPE), "--out", str(tmp_path / "run"), "--set", "train.lr_=0.1",
                           *quick(tmp_path))
    assert code != 0 and "unknown key 'train.lr_'" in err and "did you mean 'lr'" in err, err


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d.pop("algorithm"), "missing required value 'algorithm'"),
    (lambda d: d.pop("model"), "missing required value 'model'"),
    (lambda d: d["model"].pop("base"), "missing required value 'model.base'"),
], ids=["algorithm", "model", "model.base"])
def test_missing_required_value_names_itself(tmp_path, capsys, edit, expected):
    path = write_recipe(tmp_path, edit)
    code, _, err = run_cli(capsys, "train", str(path), "--out", str(tmp_path / "run"), *quick(tmp_path))
    assert code != 0
    assert expected in err, err


def test_bad_value_type_is_named(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", str(RECIPE), "--out", str(tmp_path / "run"), "--set", "train.lr=fast",
                           *quick(tmp_path))
    assert code != 0 and "train.lr" in err and "expected a number" in err, err


def test_missing_recipe_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "run"))
    assert code != 0 and "nope.yaml" in err and "not found" in err, err


# ----------------------------------------------------------------------------- data problems


def test_data_missing_column_is_an_error(tmp_path, capsys):
    rows = [{"prompt": r["prompt"], "chosen": r["chosen"]}
            for r in map(json.loads, PAIRS.read_text().splitlines()[:4])]
    data = write_jsonl(tmp_path / "no_rejected.jsonl", rows)
    code, _, err = run_cli(capsys, "train", str(RECIPE), "--out", str(tmp_path / "run"),
                           "--set", f"data.path={data}", *quick(tmp_path))
    assert code != 0
    assert "missing column 'rejected'" in err, err
    assert "no_rejected.jsonl" in err, err  # the file is named


def test_data_identical_row_and_long_prompt_are_dropped_and_counted(tmp_path, capsys):
    """16 good pairs + one pair with chosen == rejected (dropped when loading) + one prompt longer than
    model.max_length (dropped when tokenizing, "prompt too long"): both counted in result.json."""
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()[:16]]
    rows.append({"prompt": "color of the sea ?", "chosen": "the sea is blue .", "rejected": "the sea is blue ."})
    long_prompt = " ".join(["do you know the color of the sea and the sun and the coal ?"] * 3)
    rows.append({"prompt": long_prompt, "chosen": "the sea is blue .", "rejected": "i do not know ."})
    data = write_jsonl(tmp_path / "messy.jsonl", rows)
    out_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", str(RECIPE), "--out", str(out_dir), "--set", f"data.path={data}",
                             "--set", "model.max_length=24", "--set", "train.max_steps=1", *quick(tmp_path))
    assert code == 0, err
    result = json.loads((out_dir / "result.json").read_text())
    assert result["data_file"] == {"kept": 17, "dropped": {IDENTICAL: 1}}
    dropped = result["info"]["data"]["dropped"]
    assert result["info"]["data"]["kept"] == 16
    assert dropped == {PROMPT_TOO_LONG: 1} and PROMPT_TOO_LONG.startswith("prompt too long")
    assert "1 chosen identical to rejected" in out and "1 prompt too long" in out, out
