"""``prefzoo compare`` under two processes (DDP over gloo on the CPU): every file is written once, by the
main process, and the offline arm gives the one-process results.

The two-process run is launched through a small probe script that records, per process, every write
Python makes under the output and cache folders (audit hooks: open for writing, mkdir, rename, remove).
Process 1 must record none. Native writers (safetensors) escape the probe, but the ``config.json`` and
folders saved beside them do not. The launcher note of ``tests/test_multiprocess.py`` applies: the test
asserts that two processes ran (two probe records, ``processes: 2`` in the dpo arm's ``eval.json``).

A planted arm fails on process 1 only, outside any collective: every process must record it as failed
(and the run must not hang). The online arm (rloo) samples by global row, so it too matches one process.
"""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prefzoo.compare import run_compare

ROOT = Path(__file__).resolve().parents[1]

RECIPE = {
    "name": "mp-compare",
    "world": "toy",
    "base": {"pretrain_records": 300, "pretrain_epochs": 1, "sft_records": 100, "hidden_size": 32,
             "num_hidden_layers": 1, "intermediate_size": 64, "feedback_records": 0},
    "train_prompts": 16,
    "label_budget": 32,
    "seeds": [0],
    "train": {"lr": 0.001, "batch_size": 8, "epochs": 1, "progress": False},
    "eval": {"prompts": 20, "max_new_tokens": 16},
    "sample_max_new_tokens": 16,
    "plugins": ["flaky.py"],
    "arms": [{"name": "base", "algorithm": "base"},
             # a large step and three epochs move the policy (samples differ from the base's on most
             # prompts), so the comparison with one process below has something to compare
             {"name": "dpo", "algorithm": "dpo", "train": {"lr": 0.01, "epochs": 3}},
             {"name": "rloo", "algorithm": "rloo",
              # a rule reward that varies between samples (this tiny base's gold reward is -1 for nearly
              # every response: no advantage, and Adam would turn float noise into the whole update)
              "params": {"reward": "rule:RULE_FILE:shorter", "steps": 2, "prompts_per_step": 4, "samples_per_prompt": 2,
                         "max_new_tokens": 16}},
             {"name": "flaky", "algorithm": "flaky"}],
}

FLAKY = '''
from dataclasses import dataclass
from prefzoo.api import Algorithm
from prefzoo.dist import rank
from prefzoo.job import TrainResult
from prefzoo.registry import register

@register("flaky")
class Flaky(Algorithm):
    family = "test"
    data_kind = "pairs"
    summary = "fails on process 1 only, before any collective"
    paper = "-"

    @dataclass
    class Config:
        pass

    def run(self, job):
        if rank() == 1:
            raise RuntimeError("planted failure on process 1")
        return TrainResult(job.policy)
'''

RULE = '''
def shorter(prompt, response):
    return -len(response.split()) / 16
'''

PROBE = '''
import json, os, sys
roots = [os.path.abspath(p) for p in sys.argv[1].split(os.pathsep)]
record = sys.argv[2]
writes = []

def under_roots(path):
    try:
        path = os.path.abspath(os.fsdecode(path))
    except TypeError:
        return False  # a file descriptor
    return any(path == r or path.startswith(r + os.sep) for r in roots)

def hook(event, args):
    if event == "open":
        path, mode, flags = args
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else \\
            bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    elif event in ("os.mkdir", "os.remove", "shutil.rmtree"):
        path, writing = args[0], True
    elif event == "os.rename":  # also os.replace: the destination is the file written
        path, writing = args[1], True
    else:
        return
    if writing and under_roots(path):
        writes.append([event, os.fsdecode(path)])

sys.addaudithook(hook)
from prefzoo import cli
rc = cli.main(sys.argv[3:])
with open(f"{record}.{os.environ.get('RANK', '0')}.json", "w") as f:
    json.dump(writes, f)
sys.exit(rc)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]  # a torn or blank line fails here


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mpcmp")
    (tmp / "flaky.py").write_text(FLAKY)
    (tmp / "rule.py").write_text(RULE)
    (tmp / "probe.py").write_text(PROBE)
    recipe = tmp / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE, sort_keys=False).replace("RULE_FILE", str(tmp / "rule.py")))
    one, two, cache = tmp / "one", tmp / "two", tmp / "cache"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()),
           str(tmp / "probe.py"), os.pathsep.join([str(two), str(cache)]), str(tmp / "writes"),
           "compare", str(recipe), "--out", str(two), "--set", f"cache_dir={cache}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "(built)" in proc.stdout  # the two processes built the base together; main saved it
    writes = {r: json.loads((tmp / f"writes.{r}.json").read_text()) for r in (0, 1)}
    # One process on the base the two built: a base built by two differs from one built by one in the
    # last bits (reduction order), enough to flip a sampled token of the human pairs.
    logs: list[str] = []
    out = run_compare(recipe, out=one, overrides=[f"cache_dir={cache}"], log=logs.append)
    assert out == one and any("(cached)" in line for line in logs)
    return one, two, writes, proc.stdout


def test_two_processes_ran_and_only_main_wrote(runs):
    one, two, writes, stdout = runs
    assert writes[1] == [], writes[1][:10]  # process 1 computed everything and wrote nothing
    written = {Path(p) for _, p in writes[0]}
    for must in ("recipe.yaml", "data/seed-0/human_pairs.jsonl", "arms/dpo/seed-0/eval.json",
                 "arms/rloo/seed-0/metrics.jsonl", "results.csv"):
        assert two / must in written, must
    assert any("bases" in p.parts for p in written)  # the base was built here, and saved by main
    info = json.loads((two / "arms" / "dpo" / "seed-0" / "eval.json").read_text())["info"]
    assert info["processes"] == 2, "the launcher did not start two training processes"
    assert json.loads((one / "arms" / "dpo" / "seed-0" / "eval.json").read_text())["info"]["processes"] == 1
    assert stdout.count("[arm] dpo seed 0:") == 1  # logged once, by main


def test_every_file_once_and_whole(runs):
    one, two, _, _ = runs
    flaky = "arms/flaky/seed-0/"
    # the planted arm succeeds on one process (eval.json, samples.jsonl) and fails on two (error.txt)
    assert {f for f in files_under(one) if not f.startswith(flaky)} == \
        {f for f in files_under(two) if not f.startswith(flaky)}
    assert not [f for f in files_under(two) if f.endswith(".tmp")]
    assert yaml.safe_load((two / "recipe.yaml").read_text())["name"] == "mp-compare"
    assert read_jsonl(two / "data/seed-0/human_pairs.jsonl") == read_jsonl(one / "data/seed-0/human_pairs.jsonl")
    for arm in ("base", "dpo", "rloo"):
        d = two / "arms" / arm / "seed-0"
        assert len(read_jsonl(d / "samples.jsonl")) == RECIPE["eval"]["prompts"]
        steps = [r["step"] for r in read_jsonl(d / "metrics.jsonl")]
        assert steps == sorted(set(steps)), (arm, steps)  # strictly increasing: one writer
        assert yaml.safe_load((d / "config.yaml").read_text())["arm"] == arm
    rows = list(csv.DictReader(open(two / "results.csv")))
    assert sorted(r["arm"] for r in rows) == ["base", "dpo", "flaky", "rloo"]  # one row per arm
    assert len(list(csv.DictReader(open(two / "summary.csv")))) == 4
    assert (two / "plots" / "reward_vs_kl.png").stat().st_size > 1000


def test_dpo_matches_one_process(runs):
    """Two processes average gradients in another order than one process's backward: float32 rounding
    (~1e-7) that Adam's normalised steps at lr 0.01 grow over 12 steps. Measured on this CPU: per-step
    loss, margin and gradient norm within 5e-4 relative (gradient norm, step 9; the loss within 1e-4),
    KL to the base within 1e-4 relative, and all 20 evaluation samples the same text. The tolerances are
    about 10x that; a wrong share of the batch or other pairs on one process differ by far more (and
    from step 1, where the two runs agree to 1e-6)."""
    one, two, _, _ = runs
    m1, m2 = (read_jsonl(d / "arms/dpo/seed-0/metrics.jsonl") for d in (one, two))
    assert len(m2) == len(m1) >= 3
    for a, b in zip(m1, m2):
        # at step 1 the policy is the reference: margins are float noise around 0 and the accuracy counts
        # their signs, so it is compared from step 2 on
        for key in ("loss", "reward_margin", "grad_norm") + (("reward_accuracy",) if a["step"] > 1 else ()):
            assert b[key] == pytest.approx(a[key], rel=5e-3, abs=1e-4), (a["step"], key)
        assert b["tokens"] == a["tokens"]
    s1, s2 = (read_jsonl(d / "arms/dpo/seed-0/samples.jsonl") for d in (one, two))
    # same sampling seed, nearly the same weights: the same samples, hence the same gold scores
    assert [s["response"] for s in s2] == [s["response"] for s in s1]
    r1, r2 = (json.loads((d / "arms/dpo/seed-0/eval.json").read_text())["row"] for d in (one, two))
    for key in ("gold_reward", "win_rate_vs_base", "mean_length", "distinct_2", "correct", "format_valid"):
        assert r2[key] == r1[key], key
    assert r2["kl_to_base"] == pytest.approx(r1["kl_to_base"], rel=1e-3)
    assert r1["kl_to_base"] > 0.1  # the arm moved: the comparison is not base against base


def test_online_arm_finished_and_failure_agreed(runs):
    one, two, _, stdout = runs
    rows = {r["arm"]: r for r in csv.DictReader(open(two / "results.csv"))}
    assert rows["rloo"]["status"] == "ok" and rows["base"]["status"] == "ok" and rows["dpo"]["status"] == "ok"
    assert rows["flaky"]["status"] == "failed"
    assert "planted failure on process 1" in rows["flaky"]["error"]
    assert "process 1:" in (two / "arms/flaky/seed-0/error.txt").read_text()
    assert not (two / "arms/flaky/seed-0/eval.json").exists()  # a rerun tries it again
    assert "FAILED on process 1 of 2" in stdout
    assert {r["arm"]: r["status"] for r in csv.DictReader(open(one / "results.csv"))}["flaky"] == "ok"


def test_online_arm_matches_one_process(runs):
    """rloo's rollouts are keyed by global row and its losses normalised over every process's tokens:
    per-step rewards, KL and loss as with one process (same float32 rounding caveat as dpo)."""
    one, two, _, _ = runs
    m1, m2 = (read_jsonl(d / "arms/rloo/seed-0/metrics.jsonl") for d in (one, two))
    assert len(m2) == len(m1) == RECIPE["arms"][2]["params"]["steps"]
    assert len({r["reward_mean"] for r in m1}) > 1 and m1[0]["reward_std"] > 0  # a real signal to follow
    for a, b in zip(m1, m2):
        for key in ("loss", "reward_mean", "kl", "response_length", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=5e-3, abs=1e-4), (a["step"], key)
