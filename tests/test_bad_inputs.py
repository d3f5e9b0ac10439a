"""The bad-input matrix of issue 13: every case ends in one ``prefzoo: error:`` line naming what is wrong, exit 2
(never a traceback), and nothing is written where it should not be. Data, recipe and run hazards, each run
through the command line in-process (``cli.main``) on the tiny DPO recipe or a copy of it."""
from __future__ import annotations

import errno
import gzip
import json
import re
from pathlib import Path

import pytest
import yaml

from prefzoo import cli

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "recipes" / "tiny-dpo.yaml").read_text())
PAIRS = ROOT / "recipes" / "data" / "tiny_pairs.jsonl"
GOOD_ROW = {"prompt": "color of the sea ?", "chosen": "blue .", "rejected": "no ."}


def recipe_file(tmp_path: Path, **changes) -> Path:
    """The tiny DPO recipe with ``changes`` (dotted keys), its data as an absolute path, a 2-step run."""
    data = json.loads(json.dumps(TINY))
    data["data"]["path"] = str(PAIRS)
    data["train"].update(max_steps=2, progress=False, cache_dir=str(tmp_path / "cache"))
    for key, value in changes.items():
        node, *path = key.split("__")
        target = data
        for part in [node, *path][:-1]:
            target = target.setdefault(part, {})
        target[[node, *path][-1]] = value
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def data_file(tmp_path: Path, name: str, content: bytes | list[dict]) -> Path:
    path = tmp_path / name
    if isinstance(content, list):
        content = "".join(json.dumps(r) + "\n" for r in content).encode()
    path.write_bytes(content)
    return path


def run(capsys, argv: list[str]) -> tuple[int, str]:
    code = cli.main(argv)
    err = capsys.readouterr().err
    return code, err


def train(tmp_path, recipe: Path, *extra: str) -> list[str]:
    return ["train", str(recipe), "--out", str(tmp_path / "out"), *extra]


# (case id, recipe changes, extra argv, expected message): recipe and training-number hazards
RECIPE_CASES = [
    ("batch_size-0", {"train__batch_size": 0}, [], r"batch_size must be >= 1, got 0"),
    ("batch_size-negative", {"train__batch_size": -1}, [], r"batch_size must be >= 1, got -1"),
    ("grad_accum-0", {"train__grad_accum": 0}, [], r"grad_accum must be >= 1"),
    ("log_every-0", {"train__log_every": 0}, [], r"log_every must be >= 1"),
    ("epochs-0", {"train__epochs": 0}, [], r"epochs must be >= 1"),
    ("max_steps-0", {"train__max_steps": 0}, [], r"max_steps must be >= 1"),
    ("max_steps-negative", {"train__max_steps": -3}, [], r"max_steps must be >= 1"),
    ("lr-0", {"train__lr": 0}, [], r"lr must be a finite number > 0"),
    ("lr-negative", {"train__lr": -0.01}, [], r"lr must be a finite number > 0"),
    ("lr-nan", {"train__lr": ".nan"}, [], r"lr must be a finite number > 0, got nan"),
    ("lr-text", {"train__lr": "fast"}, [], r"train.lr: expected a number, got 'fast'"),
    ("warmup-negative", {"train__warmup_steps": -1}, [], r"warmup_steps must be >= 0"),
    ("grad-norm-negative", {"train__max_grad_norm": -1.0}, [], r"max_grad_norm must be >= 0"),
    ("adam-betas", {"train__adam_betas": [0.9]}, [], r"adam_betas must be two numbers in \[0, 1\)"),
    ("max_length-1", {"model__max_length": 1}, [], r"max_length must be >= 2"),
    ("lora-r-0", {"model__lora": {"r": 0}}, [], r"r must be >= 1"),
    ("lora-dropout", {"model__lora": {"dropout": 1.0}}, [], r"dropout must be in \[0, 1\)"),
    ("unknown-train-key", {"train__lrr": 0.1}, [], r"unknown key 'train.lrr' \(did you mean 'lr'\?\)"),
    ("unknown-param", {"params__betta": 0.1}, [], r"unknown key .*betta.* \(did you mean 'beta'\?\)"),
    ("unknown-algorithm", {"algorithm": "dpp"}, [], r"unknown algorithm 'dpp'\. did you mean"),
    ("missing-model", {"model": None}, [], r"model"),
    ("model-folder-missing", {"model__base": "./no-such-model"}, [], r"could not load model './no-such-model': no such folder"),
    ("precision", {"train__precision": "fp8"}, [], r"'fp8' is not one of 'fp32', 'bf16'"),
    ("set-without-equals", {}, ["--set", "train.lr"], r"expected KEY=VALUE"),
    ("set-bad-yaml", {}, ["--set", "train.adam_betas=[0.9,"], r"the value is not valid YAML"),
    ("set-not-a-mapping", {}, ["--set", "train.lr.x=1"], r"'lr' is not a mapping"),
    ("plugin-missing", {"plugins": ["nope.py"]}, [], r"file 'nope.py' not found"),
]


@pytest.mark.parametrize("case,changes,extra,message", RECIPE_CASES, ids=[c[0] for c in RECIPE_CASES])
def test_recipe_hazards(tmp_path, capsys, case, changes, extra, message):
    code, err = run(capsys, train(tmp_path, recipe_file(tmp_path, **changes), *extra))
    assert code == 2, err
    assert err.startswith("prefzoo: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "out" / "metrics.jsonl").exists()


# data hazards: the file the recipe names
DATA_CASES = [
    ("non-utf8", "bad.jsonl", b'{"prompt": "a", "chosen": "b\xff", "rejected": "c"}\n', r"bad.jsonl: line 1: not UTF-8"),
    ("corrupt-gz", "pairs.jsonl.gz", b"not gzip at all", r"not a readable gzip file"),
    ("empty", "empty.jsonl", b"", r"empty.jsonl: the file is empty"),
    ("torn-json", "torn.jsonl", b'{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "cho\n',
     r"line 2 \(row 1\): invalid JSON"),
    ("not-an-object", "list.jsonl", b'[1, 2]\n', r"line 1 \(row 0\): expected a JSON object"),
    ("missing-column", "cols.jsonl", [{"prompt": "a", "chosen": "b"}], r"missing column 'rejected'"),
    ("p_chosen-range", "p.jsonl", [dict(GOOD_ROW, p_chosen=1.5)], r"row 0, field 'p_chosen': p_chosen must be in"),
    ("user-in-completion", "roles.jsonl",
     [{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "user", "content": "x"}],
       "rejected": [{"role": "assistant", "content": "y"}]}], r"a completion holds assistant messages only"),
    ("unknown-role", "robot.jsonl",
     [{"prompt": [{"role": "robot", "content": "hi"}], "chosen": [{"role": "assistant", "content": "x"}],
       "rejected": [{"role": "assistant", "content": "y"}]}], r"role 'robot'; roles are"),
    ("mixed-forms", "mixed.jsonl", [GOOD_ROW, {"prompt": [{"role": "user", "content": "q"}], "chosen": "a",
                                               "rejected": "b"}], r"use one form per column"),
    ("wrong-type", "type.jsonl", [dict(GOOD_ROW, chosen=3)], r"field 'chosen': expected str or list of messages"),
    ("unsupported-file", "pairs.csv", b"prompt,chosen,rejected\n", r"unsupported file type"),
    ("missing-file", None, None, r"file not found"),
]


@pytest.mark.parametrize("case,name,content,message", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_data_hazards(tmp_path, capsys, case, name, content, message):
    path = data_file(tmp_path, name, content) if name else tmp_path / "nowhere.jsonl"
    code, err = run(capsys, train(tmp_path, recipe_file(tmp_path, data__path=str(path))))
    assert code == 2, err
    assert err.startswith("prefzoo: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err


def test_bad_yaml_names_the_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("algorithm: dpo\nmodel: {base: tiny\ntrain: {lr: 0.1}\n")
    code, err = run(capsys, ["train", str(path), "--out", str(tmp_path / "out")])
    assert code == 2 and "is not valid YAML at line 3" in err and err.count("\n") == 1


def test_a_recipe_that_is_not_utf8_or_a_mapping(tmp_path, capsys):
    (tmp_path / "bin.yaml").write_bytes(b"algorithm: dp\xffo\n")
    code, err = run(capsys, ["train", str(tmp_path / "bin.yaml"), "--out", str(tmp_path / "a")])
    assert code == 2 and "is not UTF-8 text" in err
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    code, err = run(capsys, ["train", str(tmp_path / "list.yaml"), "--out", str(tmp_path / "b")])
    assert code == 2 and "expected a mapping at the top level" in err


def test_a_plugin_that_raises_on_import_names_its_file(tmp_path, capsys):
    (tmp_path / "boom_plugin.py").write_text("raise RuntimeError('kaboom')\n")
    recipe = recipe_file(tmp_path, plugins=[str(tmp_path / "boom_plugin.py")])
    code, err = run(capsys, train(tmp_path, recipe))
    assert code == 2 and "boom_plugin.py: importing it raised RuntimeError: kaboom" in err and "Traceback" not in err


def test_an_unusable_out_is_one_error(tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    code, err = run(capsys, ["train", str(recipe_file(tmp_path)), "--out", str(tmp_path / "a-file" / "run")])
    assert code == 2 and err.startswith("prefzoo: error: ") and "Traceback" not in err


def test_disk_full_says_no_space_left(tmp_path, capsys, monkeypatch):
    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name == "config.yaml":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    code, err = run(capsys, train(tmp_path, recipe_file(tmp_path)))
    assert code == 2 and "no space left on device" in err and "config.yaml" in err


def test_every_float_spelling_is_accepted(tmp_path, capsys):
    """YAML 1.1 (PyYAML) reads 1e-4 as a string; prefzoo takes every spelling YAML 1.2 and Python accept."""
    from prefzoo.recipe import load_train_recipe

    for spelling, value in [("1e-2", 0.01), ("1E-2", 0.01), ("0.01", 0.01), (".01", 0.01), ("1.0e-2", 0.01),
                            ("+1e-2", 0.01), ("1_0e-3", 0.01)]:
        path = recipe_file(tmp_path, train__lr=spelling)
        assert load_train_recipe(path).train.lr == pytest.approx(value), spelling
        assert load_train_recipe(recipe_file(tmp_path), [f"train.lr={spelling}"]).train.lr == pytest.approx(value)
    assert load_train_recipe(recipe_file(tmp_path), ["train.max_steps=1e1"]).train.max_steps == 10
    code, err = run(capsys, train(tmp_path, recipe_file(tmp_path), "--set", "train.lr=1e-2"))
    assert code == 0, err


def test_a_gzipped_file_that_is_fine_loads(tmp_path, capsys):
    path = tmp_path / "pairs.jsonl.gz"
    path.write_bytes(gzip.compress(PAIRS.read_bytes()))
    code, err = run(capsys, train(tmp_path, recipe_file(tmp_path, data__path=str(path))))
    assert code == 0, err


# compare-recipe hazards: refused when the recipe loads, before a base is built or an arm trains (an eval set of
# 0 prompts used to fail every arm after its training; a seed listed twice counted as two replicates)
COMPARE_CASES = [
    ("eval-prompts-0", "eval.prompts=0", r"eval: prompts must be >= 1, got 0"),
    ("eval-batch-0", "eval.batch_size=0", r"eval: batch_size must be >= 1"),
    ("eval-tokens-0", "eval.max_new_tokens=0", r"eval: max_new_tokens must be >= 1"),
    ("eval-temperature-0", "eval.temperature=0", r"eval: temperature must be a finite number > 0"),
    ("seeds-repeated", "seeds=[0,1,0]", r"seeds lists \[0\] more than once"),
    ("seeds-empty", "seeds=[]", r"seeds is empty"),
    ("arms-empty", "arms=[]", r"arms is empty: list what to compare"),
    ("sweep-empty", "arms=[{name: base, algorithm: base}, {name: x, algorithm: dpo, sweep: {params.beta: []}}]",
     r"arm 'x': sweep 'params.beta' must list the values to try"),
    ("sweep-scalar", "arms=[{name: base, algorithm: base}, {name: x, algorithm: dpo, sweep: {params.beta: 0.1}}]",
     r"sweep 'params.beta' must list the values to try, e.g. params.beta: \[0.1, 0.5\]; got 0.1"),
    ("train-prompts-0", "train_prompts=0", r"train_prompts must be >= 1, got 0"),
    ("label-budget-negative", "label_budget=-1", r"label_budget must be >= 1 \(or null"),
    ("workers-0", "workers=0", r"workers must be >= 1"),
    ("sample-tokens-0", "sample_max_new_tokens=0", r"sample_max_new_tokens must be >= 1"),
    ("eval-metrics-empty", "eval.metrics=[]", r"eval: metrics is empty"),
    ("eval-gold-unknown", "eval.gold=nope:x", r"unknown eval.gold spec 'nope:x'"),
    ("base-sft-0", "base.sft_records=0", r"base: sft_records must be >= 1, got 0"),
    ("base-heads", "base.hidden_size=30", r"base: hidden_size \(30\) must be a multiple of num_attention_heads"),
    ("train-mix-unknown", "train_mix={formats: 1}", r"train_mix: unknown categories \['formats'\]"),
    ("train-mix-negative", "train_mix={format: -1, helpful: 1}", r"train_mix: mix weights must be finite numbers >= 0"),
    ("train-mix-zero", "train_mix={format: 0}", r"train_mix: mix weights are all 0"),
]


@pytest.mark.parametrize("case,setting,message", COMPARE_CASES, ids=[c[0] for c in COMPARE_CASES])
def test_compare_recipe_hazards(tmp_path, capsys, case, setting, message):
    out = tmp_path / "cmp"
    code, err = run(capsys, ["compare", str(ROOT / "recipes" / "smoke-compare.yaml"), "--out", str(out),
                             "--set", setting, "--set", f"cache_dir={tmp_path / 'cache'}"])
    assert code == 2, err
    assert err.startswith("prefzoo: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not out.exists() and not (tmp_path / "cache").exists()  # nothing built, nothing written


def test_both_tiny_bases_check_their_sizes_when_read():
    from prefzoo.config import ConfigError, from_dict
    from prefzoo.worlds.sentiment_world import SentimentBaseConfig
    from prefzoo.worlds.toy_world import ToyBaseConfig

    for cls in (ToyBaseConfig, SentimentBaseConfig):
        with pytest.raises(ConfigError, match=r"base: pretrain_epochs must be >= 1, got 0"):
            from_dict(cls, {"pretrain_epochs": 0}, "base")
        with pytest.raises(ConfigError, match=r"lr and sft_lr must be > 0"):
            from_dict(cls, {"sft_lr": 0.0}, "base")
        assert from_dict(cls, {}, "base").hidden_size == 96  # the defaults pass


def test_a_finding_refuses_a_repeated_seed(tmp_path, capsys):
    out = tmp_path / "f"
    code, err = run(capsys, ["findings", str(ROOT / "recipes" / "findings" / "overoptimization.yaml"), "--out",
                             str(out), "--set", "seeds=[1,1]"])
    assert code == 2 and "seeds lists [1] more than once" in err and "Traceback" not in err, err
    assert not out.exists()


def test_an_online_run_of_zero_new_tokens_is_refused():
    from prefzoo import registry
    from prefzoo.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match=r"max_new_tokens must be >= 1"):  # was a RuntimeError mid-rollout
        from_dict(registry.get("grpo").Config, {"max_new_tokens": 0}, "params of grpo")
