"""The offline loop (prefzoo.engine.offline) on the tiny DPO recipe: exact resume, non-finite stops,
gradient accumulation, trackers and the reference log-prob cache. Fast; no network."""
from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch

from prefzoo.algos.dpo import DPO
from prefzoo.engine import offline
from prefzoo.engine.loop import NonFiniteError
from prefzoo.engine.tracking import read_metrics
from prefzoo.models.policy import Policy
from prefzoo.recipe import load_train_recipe
from prefzoo.runner import run_recipe

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tiny-dpo.yaml"


def train(tmp_path: Path, out: str, *overrides: str, cache: str = "cache"):
    """Run recipes/tiny-dpo.yaml in this process, writing to tmp_path/out (reference cache in tmp)."""
    recipe = load_train_recipe(RECIPE, ["train.progress=false", f"train.cache_dir={tmp_path / cache}", *overrides])
    return run_recipe(recipe, tmp_path / out, recipe_dir=RECIPE.parent)


class Interrupted(Exception):
    """Stands in for a killed process: raised from inside a step, after earlier steps completed."""


def fail_on_call(monkeypatch, n: int, make):
    """Patch DPO.loss so that its n-th call (1-based) goes through ``make(output)`` instead."""
    real = DPO.loss
    calls = {"n": 0}

    def loss(self, policy, reference):
        calls["n"] += 1
        out = real(self, policy, reference)
        return make(out) if calls["n"] == n else out

    monkeypatch.setattr(DPO, "loss", loss)
    return calls


def saved_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model" / "model.safetensors"))


# ----------------------------------------------------------------------------- (a) resume


@pytest.mark.parametrize("precompute", [True, False], ids=["cached-reference", "live-reference"])
def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, monkeypatch, precompute):
    """8 steps, checkpoints every 3, killed during step 6: the resumed run restarts from step-3 and
    logs the same per-step losses as a run that was never interrupted. A linear schedule with warm-up
    and two shuffled epochs (64 rows / 16 per step) make the schedule and data order matter."""
    common = ["train.max_steps=8", "train.checkpoint_every=3", "train.schedule=linear", "train.warmup_steps=2",
              f"train.precompute_reference={str(precompute).lower()}"]
    train(tmp_path, "straight", *common)
    straight = read_metrics(tmp_path / "straight")

    def interrupt(out):
        raise Interrupted("killed during step 6")

    with monkeypatch.context() as m:
        fail_on_call(m, 6, interrupt)
        with pytest.raises(Interrupted):
            train(tmp_path, "resumed", *common)
    ckpts = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert ckpts == ["step-3"], ckpts
    assert [r["step"] for r in read_metrics(tmp_path / "resumed")] == [1, 2, 3, 4, 5]

    result = train(tmp_path, "resumed", *common, "train.resume=true")
    assert [r["step"] for r in result.history] == [4, 5, 6, 7, 8]  # only the steps after the checkpoint ran
    resumed = read_metrics(tmp_path / "resumed")
    assert [r["step"] for r in resumed] == list(range(1, 9))
    for a, b in zip(straight, resumed):
        for key in ("loss", "reward_margin", "grad_norm", "lr"):
            assert b[key] == pytest.approx(a[key], abs=1e-6), (a["step"], key)
        assert b["tokens"] == a["tokens"], a["step"]
    assert straight[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    w_straight, w_resumed = saved_weights(tmp_path / "straight"), saved_weights(tmp_path / "resumed")
    assert w_straight.keys() == w_resumed.keys()
    for k in w_straight:
        torch.testing.assert_close(w_resumed[k], w_straight[k], atol=1e-6, rtol=0, msg=k)


# ----------------------------------------------------------------------------- (b) non-finite


def test_nan_loss_stops_naming_the_step_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    """The loss turns NaN in step 4 (1-based, as metrics.jsonl counts): the loop stops before the
    backward pass, the error names step 4 and the checkpoint of step 2, which stays on disk."""
    fail_on_call(monkeypatch, 4, lambda out: type(out)(out.loss * float("nan"), out.per_example, out.metrics))
    with pytest.raises(NonFiniteError) as info:
        train(tmp_path, "nan", "train.max_steps=8", "train.checkpoint_every=2")
    msg = str(info.value)
    assert "non-finite loss" in msg
    assert "at step 4;" in msg, msg
    assert "last good checkpoint is step 2" in msg, msg
    run = tmp_path / "nan"
    assert (run / "checkpoints" / "step-2" / "state.pt").is_file()
    assert not (run / "checkpoints" / "step-4").exists()
    assert [r["step"] for r in read_metrics(run)] == [1, 2, 3]
    state = torch.load(run / "checkpoints" / "step-2" / "state.pt", weights_only=True)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_nan_before_any_checkpoint_says_so(tmp_path, monkeypatch):
    fail_on_call(monkeypatch, 1, lambda out: type(out)(out.loss * float("inf"), out.per_example, out.metrics))
    with pytest.raises(NonFiniteError, match=r"at step 1;.*no checkpoint was written yet"):
        train(tmp_path, "inf", "train.max_steps=3", "train.checkpoint_every=2")


# ----------------------------------------------------------------------------- (c) accumulation


def first_step(tmp_path, monkeypatch, out: str, batch: int, accum: int):
    """Loss, metrics and the (unclipped) gradients of the first optimizer step."""
    grads: list[list[torch.Tensor]] = []
    real = offline.make_optimizer

    def capturing(model, cfg):
        opt = real(model, cfg)
        opt.register_step_pre_hook(
            lambda o, args, kwargs: grads.append([p.grad.detach().clone() for g in o.param_groups for p in g["params"]]))
        return opt

    with monkeypatch.context() as m:
        m.setattr(offline, "make_optimizer", capturing)
        result = train(tmp_path, out, "train.max_steps=1", "train.shuffle=false", "train.max_grad_norm=0",
                       f"train.batch_size={batch}", f"train.grad_accum={accum}")
    assert len(grads) == 1
    return result.history[0], grads[0]


def test_grad_accumulation_matches_one_big_batch(tmp_path, monkeypatch):
    """batch 8 x accum 2 and batch 16 x accum 1 see the same 16 pairs in step 1: same loss, metrics
    and gradient (DPO's loss is a batch mean, so two half-batch means averaged equal the full mean)."""
    row_a, grads_a = first_step(tmp_path, monkeypatch, "accum", 8, 2)
    row_b, grads_b = first_step(tmp_path, monkeypatch, "big", 16, 1)
    for key in ("loss", "reward_accuracy", "reward_margin", "grad_norm"):
        assert row_a[key] == pytest.approx(row_b[key], abs=1e-6), key
    assert row_a["tokens"] == row_b["tokens"]
    assert len(grads_a) == len(grads_b) > 0
    assert sum(float(g.abs().sum()) for g in grads_b) > 0  # not vacuous: the first step has a gradient
    for ga, gb in zip(grads_a, grads_b):
        torch.testing.assert_close(ga, gb, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- (d) trackers


def test_metrics_jsonl_rows(tmp_path):
    result = train(tmp_path, "run", "train.max_steps=3")
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert {"step", "loss", "reward_accuracy", "reward_margin", "grad_norm", "lr", "tokens"} <= r.keys()
        assert all(isinstance(r[k], (int, float)) for k in ("loss", "reward_accuracy", "reward_margin"))
    assert rows == result.history


def test_tensorboard_tracker_writes_events(tmp_path):
    train(tmp_path, "tb", "train.max_steps=2", "train.tracker=tensorboard")
    events = list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    acc.Reload()
    losses = acc.Scalars("loss")
    assert [e.step for e in losses] == [1, 2]
    assert losses[0].value == pytest.approx(math.log(2), abs=1e-5)
    assert len(read_metrics(tmp_path / "tb")) == 2  # jsonl is written as well


def test_wandb_tracker_offline_run(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-dir"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    real_init, took = wandb.init, []

    def timed_init(*args, **kwargs):
        t0 = time.time()
        try:
            return real_init(*args, **kwargs)
        finally:
            took.append(time.time() - t0)

    monkeypatch.setattr(wandb, "init", timed_init)
    train(tmp_path, "wb", "train.max_steps=2", "train.tracker=wandb")
    if took and took[0] > 20:
        pytest.skip(f"wandb.init took {took[0]:.0f} s (> 20 s) on this machine")
    runs = list((tmp_path / "wb").glob("wandb/offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "wb").rglob("*"))[:20]
    assert list(runs[0].glob("*.wandb")), "no offline run file"
    assert len(read_metrics(tmp_path / "wb")) == 2


# ----------------------------------------------------------------------------- (e) reference cache


def test_reference_cache_is_reused(tmp_path, monkeypatch):
    """The first run computes reference log-probs and writes them under cache_dir/reference; a second
    run on the same weights and data reads the file and never calls the reference model."""
    real, calls = Policy.reference_logps, {"n": 0}

    def counting(self, batch):
        calls["n"] += 1
        return real(self, batch)

    monkeypatch.setattr(Policy, "reference_logps", counting)
    first = train(tmp_path, "one", "train.max_steps=2")
    files = list((tmp_path / "cache" / "reference").glob("*.pt"))
    assert len(files) == 1 and calls["n"] > 0
    mtime = files[0].stat().st_mtime_ns
    calls["n"] = 0
    second = train(tmp_path, "two", "train.max_steps=2")
    assert calls["n"] == 0
    assert files[0].stat().st_mtime_ns == mtime  # read, not rewritten
    assert [r["loss"] for r in second.history] == [r["loss"] for r in first.history]
    # other weights (another seed) miss the cache and get their own file
    train(tmp_path, "three", "train.max_steps=1", "seed=1")
    assert calls["n"] > 0
    assert len(list((tmp_path / "cache" / "reference").glob("*.pt"))) == 2


def test_check_finite_takes_tensors_floats_and_unknown():
    """DeepSpeed reports its gradient norm as a float, or None before its first step."""
    from prefzoo.engine.loop import check_finite

    check_finite(3, "gradient norm", 1.5, None)
    check_finite(3, "gradient norm", None, None)  # unknown: not checked
    with pytest.raises(NonFiniteError, match="non-finite gradient norm"):
        check_finite(3, "gradient norm", float("inf"), 2)


def test_a_missing_tracker_package_is_a_recipe_error(tmp_path, monkeypatch):
    """wandb and tensorboard are extras: asking for one that is not installed names the extra."""
    import sys

    from prefzoo.config import ConfigError
    from prefzoo.engine.tracking import Tracker

    monkeypatch.setitem(sys.modules, "wandb", None)  # an import of it now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'prefzoo\[wandb\]'"):
        Tracker(tmp_path, "wandb")


def test_bf16_reference_is_scored_in_bf16_and_cached_apart(tmp_path):
    """With train.precision=bf16 the precomputed reference runs under the same autocast as the policy, so the
    step-0 implicit reward is ~0 and the DPO loss starts at ln 2 (the fp32 reference put it at 0.71 on SmolLM2);
    its cache entry is keyed by the precision, so an fp32 run's table is never reused for a bf16 run."""
    bf16 = train(tmp_path, "bf16", "train.max_steps=1", "train.precision=bf16")
    assert abs(bf16.history[0]["loss"] - math.log(2)) < 1e-6, bf16.history[0]["loss"]  # an fp32 table: 1.3e-5 off
    fp32 = train(tmp_path, "fp32", "train.max_steps=1")
    assert abs(fp32.history[0]["loss"] - math.log(2)) < 1e-6
    assert len(list((tmp_path / "cache" / "reference").glob("*.pt"))) == 2  # one table per precision


def test_bf16_online_reference_is_scored_in_bf16():
    """In bf16 the online loop scores the reference (and the critic) under the training forward's autocast, as
    the prepared policy scores itself: at step 0, where the policy is the reference, the logged kl (sampler
    against reference: a cached decode against a full forward, ~1e-7 apart) and GRPO's k3 term are ~0 (with an
    fp32 reference: kl 5e-4, kl_k3 5e-7 on this tiny run)."""
    import tempfile

    from prefzoo.config import from_dict, to_dict
    from prefzoo.data.loaders import records_from_list
    from prefzoo.feedback.base import RuleFeedback
    from prefzoo.job import Job
    from prefzoo.recipe import TrainConfig
    from prefzoo.registry import get
    from prefzoo.testing import records_of, tiny_policy

    cls = get("grpo")
    cfg = from_dict(cls.Config, {**to_dict(cls.Config()), "reward": "judge", "steps": 1, "prompts_per_step": 4,
                                 "samples_per_prompt": 4, "max_new_tokens": 6, "beta": 0.04})
    pairs, _ = records_from_list(records_of("pairs"), "pairs")
    torch.manual_seed(0)
    policy = tiny_policy(records_of("pairs"))
    blue = RuleFeedback(lambda p, r: r.split().count("blue") / max(1, len(r.split())), name="blue")
    with tempfile.TemporaryDirectory() as tmp:
        job = Job(policy=policy, train=TrainConfig(lr=3e-3, progress=False, precision="bf16"), out_dir=Path(tmp),
                  seed=0, data={"pairs": pairs}, feedback=blue)
        first = cls(cfg).run(job).history[0]
    assert abs(first["kl"]) < 1e-5 and abs(first["kl_k3"]) < 1e-8, (first["kl"], first["kl_k3"])


def test_length_groups_train_the_same_with_less_padding(tmp_path, monkeypatch):
    """train.length_groups runs a micro-batch's rows in forwards of neighbouring lengths: the sums per row
    are the one forward's up to float rounding, in the rows' order, and a DPO run's losses follow the
    one-forward run's within 1e-5 (step 0 at ln 2), live reference included."""
    from prefzoo.testing import records_of, tiny_policy

    policy = tiny_policy(records_of("pairs"))
    rows = [([3, 4, 5, 6, 7, 8, 9], [10, 11]), ([3, 4], [5, 6, 7, 8, 9, 10, 11, 12]), ([5], [6]), ([4, 5, 6], [7, 8, 9])]
    prompts, comps = [r[0] for r in rows], [r[1] for r in rows]
    one, lens = policy.completion_logp_sums(prompts, comps)
    three, lens3 = policy.completion_logp_sums(prompts, comps, groups=3)
    assert torch.equal(lens, lens3) and lens.tolist() == [2, 8, 1, 3]
    assert torch.allclose(one, three, atol=1e-5) and not torch.equal(one, torch.zeros_like(one))
    ref, _ = policy.completion_logp_sums(prompts, comps, groups=3, reference=True)
    assert torch.allclose(ref, one, atol=1e-5)  # the policy is still its reference
    calls = []
    real = Policy.forward_logps
    monkeypatch.setattr(Policy, "forward_logps", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    plain = train(tmp_path, "plain", "train.max_steps=4")
    n_plain = len(calls)
    grouped = train(tmp_path, "grouped", "train.max_steps=4", "train.length_groups=4")
    # 4 forwards a step instead of 1, and in each batch of the reference table (its own cache entry)
    assert n_plain == 4 + 2 and len(calls) - n_plain == 4 * 4 + 2 * 4, (n_plain, len(calls))
    live = train(tmp_path, "live", "train.max_steps=4", "train.length_groups=4", "train.precompute_reference=false")
    for run in (grouped, live):
        assert abs(run.history[0]["loss"] - math.log(2)) < 1e-6
        assert max(abs(a["loss"] - b["loss"]) for a, b in zip(plain.history, run.history)) < 1e-5
    with pytest.raises(ValueError, match="length_groups must be >= 1"):
        train(tmp_path, "bad", "train.length_groups=0")


def test_fused_adamw_is_opt_in_and_trains_alike(tmp_path):
    """``train.fused_adamw`` builds torch's fused kernel (the default stays the single-tensor loop, so earlier
    results reproduce bitwise) and trains to the same losses within float rounding."""
    from prefzoo.engine.loop import make_optimizer
    from prefzoo.recipe import TrainConfig

    model = torch.nn.Linear(4, 2)
    assert not make_optimizer(model, TrainConfig()).defaults.get("fused")
    assert make_optimizer(model, TrainConfig(fused_adamw=True)).defaults["fused"] is True
    loop = train(tmp_path, "loop", "train.max_steps=4").history
    fused = train(tmp_path, "fused", "train.max_steps=4", "train.fused_adamw=true").history
    assert [r["step"] for r in fused] == [1, 2, 3, 4]
    for a, b in zip(loop, fused):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    assert loop[-1]["loss"] < loop[0]["loss"]  # the steps moved the policy: a real comparison
