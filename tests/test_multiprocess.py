"""Two processes (DDP over gloo on the CPU) give the per-step losses of one process with the same global
batch, and metrics are written once, by the main process.

Launcher note: ``accelerate launch --cpu --num_processes 2`` starts ONE process in accelerate 1.15
(``--cpu`` selects its simple launcher, which only fans out through ``mpirun --mpirun_hostfile``), so a
test built on it would pass without ever running DDP. ``--multi_gpu --num_processes 2`` on a machine
without CUDA starts two torchrun workers, and ``Accelerator(cpu=True)`` makes them MULTI_CPU over
gloo. The test asserts that two processes really trained (``result.json`` records the count).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from prefzoo import cli
from prefzoo.engine.tracking import read_metrics

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "tiny-dpo.yaml"
STEPS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_args(out: Path, cache: Path) -> list[str]:
    return ["train", str(RECIPE), "--out", str(out), "--set", f"train.max_steps={STEPS}",
            "--set", "train.progress=false", "--set", f"train.cache_dir={cache}"]


def test_two_processes_match_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli.main(train_args(one, tmp_path / "cache1")) == 0

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), "-m", "prefzoo.cli", *train_args(two, tmp_path / "cache2")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    result = json.loads((two / "result.json").read_text())
    assert result["info"]["processes"] == 2, "the launcher did not start two training processes"
    rows_one, rows_two = read_metrics(one), read_metrics(two)
    assert [r["step"] for r in rows_two] == list(range(1, STEPS + 1))  # one row per step: main process only
    for a, b in zip(rows_one, rows_two):
        for key in ("loss", "reward_accuracy", "reward_margin", "grad_norm"):
            assert b[key] == pytest.approx(a[key], abs=1e-5), (a["step"], key)
        assert b["tokens"] == a["tokens"], a["step"]  # counted over the global batch, not one share
    assert (two / "config.yaml").is_file() and (two / "model" / "config.json").is_file()
    assert [p.name for p in (tmp_path / "cache2" / "reference").iterdir()] == \
        [p.name for p in (tmp_path / "cache1" / "reference").iterdir()]  # same key; no stray .tmp
