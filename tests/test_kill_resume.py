"""A real kill: ``prefzoo train`` in a child process is SIGKILLed mid-run, then ``--resume`` finishes it;
the metrics and the final weights equal those of a run never interrupted (DPO: the offline loop; PPO:
the online loop, with its critic and KL controller). Both children start at once (their interpreter
start-up, ~5 s, is most of the cost), each killed when its metrics.jsonl shows a step past a checkpoint."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from prefzoo import cli
from prefzoo.engine.tracking import read_metrics

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # recipe, --set flags, kill once this step is logged (checkpoints every 2 or 3 steps)
    "dpo": ("tiny-dpo.yaml", ["train.max_steps=24", "train.checkpoint_every=3", "train.schedule=linear",
                              "train.warmup_steps=2"], 8),
    "ppo": ("tiny-ppo.yaml", ["params.steps=9", "params.epochs=2", "train.checkpoint_every=2"], 5),
}
TIMING = {"step_s", "tokens_per_s", "mfu", "generate_s", "score_s", "train_s", "time_s", "wall_s"}


def argv(name: str, out: Path) -> list[str]:
    recipe, sets, _ = CASES[name]
    args = ["train", str(ROOT / "recipes" / recipe), "--out", str(out), "--set", "train.progress=false"]
    for s in sets:
        args += ["--set", s]
    return args


def logged(out: Path) -> int:
    path = out / "metrics.jsonl"
    if not path.exists():
        return 0
    lines = [x for x in path.read_text().splitlines() if x.strip()]
    return len(lines)


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Both children started, each SIGKILLed once its kill step is logged: name -> (out folder, return code)."""
    root = tmp_path_factory.mktemp("killed")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {name: subprocess.Popen([sys.executable, "-m", "prefzoo.cli", *argv(name, root / name)], cwd=ROOT,
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for name in CASES}
    deadline = time.time() + 240
    while any(p.poll() is None for p in procs.values()) and time.time() < deadline:
        for name, p in procs.items():
            if p.poll() is None and logged(root / name) >= CASES[name][2]:
                os.kill(p.pid, signal.SIGKILL)
        time.sleep(0.005)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
        p.wait()
    return {name: (root / name, p.returncode) for name, p in procs.items()}


def untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMING and not k.endswith("_share")}


def weights(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(out / "model" / "model.safetensors"))


@pytest.mark.parametrize("name", list(CASES))
def test_sigkill_then_resume_equals_an_uninterrupted_run(name, killed, tmp_path, capsys):
    out, code = killed[name]
    assert code == -signal.SIGKILL, f"the child was not killed mid-run (return code {code})"
    assert not (out / "model").exists()  # it never finished
    kill_step = CASES[name][2]
    assert logged(out) >= kill_step
    # a second run into the killed folder without --resume is refused (issue 13, item 1)
    assert cli.main(argv(name, out)) == 2
    assert "--resume" in capsys.readouterr().err

    assert cli.main(argv(name, out) + ["--resume"]) == 0
    assert cli.main(argv(name, tmp_path / "straight")) == 0
    capsys.readouterr()
    resumed, straight = read_metrics(out), read_metrics(tmp_path / "straight")
    assert [r["step"] for r in resumed] == [r["step"] for r in straight]  # no step twice, none missing
    for a, b in zip(straight, resumed):
        assert untimed(b) == untimed(a), a["step"]
    w_straight, w_resumed = weights(tmp_path / "straight"), weights(out)
    assert w_straight.keys() == w_resumed.keys()
    for k in w_straight:
        assert torch.equal(w_resumed[k], w_straight[k]), k
