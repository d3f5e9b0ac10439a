"""The toy base's feedback model trains in a forked process beside the base (quickstart speed): the weights
are the ones the one-process build gives."""
import pytest
import torch

from prefzoo.worlds import toy_world
from prefzoo.worlds.toy_world import ToyWorld

SMALL = {"pretrain_records": 200, "pretrain_epochs": 1, "sft_records": 60, "sft_epochs": 1, "hidden_size": 32,
         "num_hidden_layers": 1, "intermediate_size": 64, "feedback_records": 80, "feedback_epochs": 1}


def _build(cache, monkeypatch, side: bool):
    if not side:
        monkeypatch.setattr(toy_world, "_side_by_side", lambda stages, args: None)
    world = ToyWorld()
    policy, info = world.build_base(SMALL, cache, log=lambda *_: None, progress=False)
    return policy.weights_hash(), world.feedback_policy.weights_hash(), info


def test_side_by_side_build_equals_the_serial_one(tmp_path, monkeypatch):
    if torch.get_num_threads() != 1:
        pytest.skip("the side process is used with one torch thread per process (OMP_NUM_THREADS=1)")
    started = []
    real = toy_world._side_by_side
    monkeypatch.setattr(toy_world, "_side_by_side", lambda stages, args: started.append(1) or real(stages, args))
    side = _build(tmp_path / "a", monkeypatch, side=True)
    assert started and list((tmp_path / "a").rglob("feedback_stage.json")), "the feedback stage did not run aside"
    monkeypatch.undo()
    serial = _build(tmp_path / "b", monkeypatch, side=False)
    assert side[:2] == serial[:2]
