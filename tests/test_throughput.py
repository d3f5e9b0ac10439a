"""Throughput fields in metrics.jsonl: every row of the offline and the online loop carries
``tokens_per_s``; online rows also carry the shares of step time spent generating, scoring and
training; ``mfu`` is only estimated on a GPU the peak-FLOPs table knows, so it is absent on a CPU."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from prefzoo.engine.loop import peak_flops
from prefzoo.engine.tracking import read_metrics
from prefzoo.recipe import load_train_recipe
from prefzoo.runner import run_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
ON_GPU = torch.cuda.is_available()


def run(tmp_path: Path, recipe: str, overrides: list[str]) -> list[dict]:
    common = ["train.progress=false", f"train.cache_dir={tmp_path / 'cache'}"]
    rec = load_train_recipe(RECIPES / recipe, common + overrides)
    out = tmp_path / "out"
    run_recipe(rec, out, recipe_dir=RECIPES)
    rows = read_metrics(out)
    assert rows, "no metrics rows"
    return rows


def check_mfu(row: dict) -> None:
    if ON_GPU and peak_flops(torch.device("cuda"), True) is not None:
        assert 0 < row["mfu"] < 1
    elif not ON_GPU:
        assert "mfu" not in row


def test_offline_rows_carry_tokens_per_s(tmp_path):
    rows = run(tmp_path, "tiny-dpo.yaml", ["train.max_steps=2"])
    assert [r["step"] for r in rows] == [1, 2]
    previous = 0
    for r in rows:
        assert r["tokens_per_s"] > 0
        # this step's tokens (the running total's increase) over this step's time
        assert r["tokens_per_s"] * r["step_s"] == pytest.approx(r["tokens"] - previous, rel=1e-6)
        previous = r["tokens"]
        check_mfu(r)


def test_online_rows_carry_throughput_and_time_shares(tmp_path):
    rows = run(tmp_path, "tiny-rloo.yaml", ["params.steps=2", "params.prompts_per_step=4",
                                            "params.samples_per_prompt=2", "params.max_new_tokens=4"])
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert r["tokens_per_s"] > 0
        shares = [r["generate_share"], r["score_share"], r["train_share"]]
        assert all(0.0 <= s <= 1.0 for s in shares), shares
        assert sum(shares) <= 1.0 + 1e-6, shares
        assert r["generate_share"] > 0 and r["train_share"] > 0
        check_mfu(r)


def test_peak_flops_table(monkeypatch):
    assert peak_flops(torch.device("cpu"), True) is None  # never an MFU on the CPU
    monkeypatch.delenv("PREFZOO_PEAK_FLOPS", raising=False)
    cuda = torch.device("cuda", 0)
    for name, bf16, fp32 in [("NVIDIA H100 80GB HBM3", 989e12, 67e12), ("NVIDIA H100 PCIe", 756e12, 51e12),
                             ("NVIDIA H200", 989e12, 67e12), ("NVIDIA A100-SXM4-80GB", 312e12, 19.5e12)]:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None, n=name: n)
        assert (peak_flops(cuda, True), peak_flops(cuda, False)) == (bf16, fp32), name
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some Future GPU")
    assert peak_flops(cuda, True) is None  # unknown card: no MFU rather than a wrong one
    monkeypatch.setenv("PREFZOO_PEAK_FLOPS", "1e15")
    assert peak_flops(cuda, True) == 1e15
