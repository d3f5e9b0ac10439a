"""Two processes (DDP over gloo on the CPU) give the per-step losses of one process with the same global
batch, offline (dpo) and online (ppo), and metrics are written once, by the main process.

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
PPO_RECIPE = ROOT / "recipes" / "tiny-ppo.yaml"
STEPS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two(args: list[str]) -> None:
    """``prefzoo ARGS`` under ``accelerate launch`` with two processes (gloo DDP on the CPU)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), "-m", "prefzoo.cli", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


def train_args(recipe: Path, out: Path, *sets: str) -> list[str]:
    return ["train", str(recipe), "--out", str(out), "--set", "train.progress=false",
            *[x for s in sets for x in ("--set", s)]]


def assert_same_steps(one: Path, two: Path, keys: tuple[str, ...], steps: int) -> None:
    result = json.loads((two / "result.json").read_text())
    assert result["info"]["processes"] == 2, "the launcher did not start two training processes"
    rows_one, rows_two = read_metrics(one), read_metrics(two)
    assert [r["step"] for r in rows_one] == list(range(1, steps + 1))
    assert [r["step"] for r in rows_two] == list(range(1, steps + 1))  # one row per step: main process only
    for a, b in zip(rows_one, rows_two):
        # at step 1 the policy is the reference: DPO's margins are float noise around 0 and its accuracy
        # counts their signs, so it is compared from step 2 on
        for key in (k for k in keys if not (k == "reward_accuracy" and a["step"] == 1)):
            assert b[key] == pytest.approx(a[key], abs=1e-5), (a["step"], key, a[key], b[key])
    assert (two / "config.yaml").is_file() and (two / "model" / "config.json").is_file()


def test_two_processes_match_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    sets = [f"train.max_steps={STEPS}"]
    assert cli.main(train_args(RECIPE, one, *sets, f"train.cache_dir={tmp_path / 'cache1'}")) == 0
    launch_two(train_args(RECIPE, two, *sets, f"train.cache_dir={tmp_path / 'cache2'}"))
    assert_same_steps(one, two, ("loss", "reward_accuracy", "reward_margin", "grad_norm"), STEPS)
    for a, b in zip(read_metrics(one), read_metrics(two)):
        assert b["tokens"] == a["tokens"], a["step"]  # counted over the global batch, not one share
    assert [p.name for p in (tmp_path / "cache2" / "reference").iterdir()] == \
        [p.name for p in (tmp_path / "cache1" / "reference").iterdir()]  # same key; no stray .tmp


def test_online_two_processes_match_one(tmp_path):
    """PPO (critic, GAE, advantages whitened over the whole batch, adaptive KL) gives the same per-step
    losses, rewards and KL on two processes as on one: the sampler's draws are keyed by global row,
    batch statistics and the token-mean loss are taken over every process's rows. Two minibatches per
    epoch: the minibatches are sets of global prompt positions from a permutation keyed by (seed, step,
    epoch), so they hold the same groups on any number of processes (a process with none of a
    minibatch's groups joins its backward with weight 0).
    The reward is dense (words / 8): with the recipe's sparse one a minibatch can hold no scored
    response, and its value targets are then the KL between two identical models, i.e. float noise;
    Adam's first step (g / (|g| + eps)) turns noise of a different summation order into visible weight
    differences, which says nothing about the loop."""
    one, two = tmp_path / "one", tmp_path / "two"
    # 4 prompts a step: at step 2, epoch 1 one process holds none of a minibatch's groups (the weight-0 path)
    sets = ["params.steps=4", "params.minibatches=2", "params.epochs=2", "params.prompts_per_step=4",
            "params.reward=rule:rules.py:length_score"]
    assert cli.main(train_args(PPO_RECIPE, one, *sets)) == 0
    launch_two(train_args(PPO_RECIPE, two, *sets))
    keys = ("loss", "policy_loss", "value_loss", "reward_mean", "reward_std", "kl", "beta", "grad_norm",
            "entropy", "advantage_mean", "response_length", "clip_fraction", "explained_variance")
    assert_same_steps(one, two, keys, 4)
    rows = read_metrics(one)
    assert len({r["reward_mean"] for r in rows}) > 1  # the rewards vary: the comparison is not trivially equal
