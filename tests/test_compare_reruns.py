"""Run-level robustness of a comparison: forked arm workers survive a parent that ran multi-threaded torch ops
(GNU OpenMP's thread pool does not survive a fork: before the fix a worker hung forever in its first parallel
op), and a LoRA base is the same base on every build (so a rerun finds its earlier results)."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import torch
    from prefzoo import compare

    torch.set_num_threads(2)
    a = torch.randn(1500, 1500)
    (a @ a).sum()  # the parent's OpenMP pool now has two threads
    torch.nn.Embedding(4000, 256)(torch.randint(0, 4000, (64, 2000))).sum()

    def fake_run_arm(arm, seed, *context):  # a parallel op in the worker, as an arm's first forward is
        x = torch.nn.Embedding(4000, 256)(torch.randint(0, 4000, (64, 2000))).sum().item()
        return (torch.get_num_threads(), x > -1e30), None, []

    compare.run_arm = fake_run_arm
    outs = [o for o, failure, _ in compare._attempts(["a", "b", "c"], 0, (), workers=2)]
    print("RESULT", outs)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="fork only")
def test_forked_workers_do_not_hang_after_parallel_ops_in_the_parent():
    # a session of its own, so that a hang's forked workers are killed with it
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the forked arm workers hung after the parent ran a multi-threaded op")
    assert proc.returncode == 0, stderr[-2000:]
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT"))
    # every arm finished, in a worker running one torch thread
    assert line == "RESULT [((1, True), None, []), ((1, True), None, []), ((1, True), None, [])]", line


def test_a_lora_base_is_the_same_base_every_time(tmp_path):
    """A LoRA base's adapters are drawn from a fixed seed: its weights hash, which keys the human pairs and the
    arms' fingerprints, is the same on every build, so a rerun finds its earlier results (it used to differ
    every run: every LoRA comparison refused its own earlier arms)."""
    from types import SimpleNamespace

    import torch

    from prefzoo.compare import build_base
    from prefzoo.recipe import LoraConfig, ModelConfig
    from prefzoo.testing import tiny_policy

    tiny_policy([{"prompt": "say a colour ?", "completion": "blue ."}]).save(tmp_path / "base")
    recipe = SimpleNamespace(model=ModelConfig(base=str(tmp_path / "base"), lora=LoraConfig(r=4)))
    first = build_base(recipe, world=None)[0]
    torch.rand(7)  # the global RNG moves on between builds, as it does between runs
    second = build_base(recipe, world=None)[0]
    assert first.is_lora and first.weights_hash() == second.weights_hash()
    state = torch.random.get_rng_state()
    build_base(recipe, world=None)
    assert torch.equal(state, torch.random.get_rng_state())  # and the caller's RNG is left where it was
