"""The reward model trains in the offline loop, so two processes (DDP over gloo on the CPU, see
tests/test_multiprocess.py for the launcher) give the per-step losses of one process with the same
global batch: recipes/tiny-rm.yaml with 48 training pairs in batches of 8 (4 per process)."""
from __future__ import annotations

import json

import pytest

from prefzoo import cli
from prefzoo.engine.tracking import read_metrics
from test_multiprocess import ROOT, launch_two, train_args

RM_RECIPE = ROOT / "recipes" / "tiny-rm.yaml"
SETS = ("params.eval_fraction=0.25", "params.epochs=1", "params.normalise_on=0")  # 64 pairs: 48 train, 16 held out


def test_reward_model_two_processes_match_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli.main(train_args(RM_RECIPE, one, *SETS)) == 0
    launch_two(train_args(RM_RECIPE, two, *SETS))
    info_one, info_two = (json.loads((d / "reward_model.json").read_text()) for d in (one, two))
    assert info_one["processes"] == 1 and info_two["processes"] == 2, "two training processes did not run"
    rows_one, rows_two = read_metrics(one), read_metrics(two)
    assert [r["step"] for r in rows_one] == [r["step"] for r in rows_two] == list(range(1, 7))  # main writes once
    for a, b in zip(rows_one, rows_two):
        for key in ("loss", "margin", "chosen_reward", "rejected_reward", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (a["step"], key, a[key], b[key])
    assert info_two["heldout_accuracy"] == pytest.approx(info_one["heldout_accuracy"], abs=1e-9)
