"""Pieces every training loop shares: the accelerator, optimizer and schedule, finiteness checks,
checkpoints that resume exactly, and the per-run tracker."""
from __future__ import annotations

import contextlib
import math
import random
import shutil
from pathlib import Path

import torch

from prefzoo import dist
from prefzoo.engine.tracking import read_jsonl_rows
from prefzoo.recipe import TrainConfig

_ACCELERATOR = {}


class NonFiniteError(RuntimeError):
    pass


def accelerator_for(train: TrainConfig):
    """One Accelerator per process and precision (accelerate keeps global state)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    import os

    precision = "bf16" if train.precision == "bf16" else "no"
    if precision not in _ACCELERATOR and not torch.cuda.is_available():
        # measured with accelerate 1.15: on a machine without CUDA, Accelerator(cpu=True) turns an FSDP or
        # DeepSpeed launch config into plain DDP over gloo, silently; say so
        for engine in ("FSDP", "DEEPSPEED"):
            if os.environ.get(f"ACCELERATE_USE_{engine}", "").lower() in ("1", "true") and dist.is_main():
                print(f"note: no CUDA device: the {engine} settings of the launch config are not used; "
                      f"the processes run plain DDP over gloo")
    if precision not in _ACCELERATOR:
        if _ACCELERATOR:
            AcceleratorState._reset_state(reset_partial_state=False)
            _ACCELERATOR.clear()
        _ACCELERATOR[precision] = Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())
    return _ACCELERATOR[precision]


def sharding(acc) -> str | None:
    """"fsdp" or "zero3" when the prepared model's parameters are shards across processes, else None."""
    from accelerate.utils import DistributedType

    if acc.distributed_type == DistributedType.FSDP:
        return "fsdp"
    if acc.distributed_type == DistributedType.DEEPSPEED and getattr(acc.state.deepspeed_plugin, "zero_stage", 0) == 3:
        return "zero3"
    return None


@contextlib.contextmanager
def generation_model(acc, model):
    """Yield (module to decode with, synced) for a prepared ``model``.

    DDP or one process: the unwrapped module; each process decodes on its own. FSDP: the wrapped
    module, whose forward gathers each layer's shards, so every process must make the same number of
    forwards (``synced``: decoding goes on until all processes are done). DeepSpeed ZeRO-3: the
    parameters gathered on every process for the whole decode (``GatheredParameters``; needs memory for
    one full copy of the weights per GPU), then the unwrapped module decodes freely."""
    kind = sharding(acc)
    if kind == "zero3":
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
            yield acc.unwrap_model(model), False
    elif kind == "fsdp":
        yield model, True
    else:
        yield acc.unwrap_model(model), False


def make_optimizer(model: torch.nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    # torch's single-tensor loop on a CPU by default. The fused kernel is faster on torch 2.13 here (0.83 vs 2.6 ms a
    # step on a 1.3M-parameter Llama, 7 vs 32 ms on SmolLM2's LoRA adapters: benchmarks/README.md; an earlier "15x
    # slower with 2 threads" did not reproduce) but not bitwise equal, and the optimizer is 0.1-3% of a step: opt-in
    # (train.fused_adamw) so that committed results reproduce digit for digit
    fused = {"fused": True} if train.fused_adamw else {}
    return torch.optim.AdamW(params, lr=train.lr, betas=tuple(train.adam_betas), weight_decay=train.weight_decay,
                             **fused)


def make_schedule(optimizer: torch.optim.Optimizer, train: TrainConfig, total_steps: int):
    """Linear warm-up, then constant, linear decay to 0, or cosine decay to 0."""

    def factor(step: int) -> float:
        if train.warmup_steps and step < train.warmup_steps:
            return (step + 1) / train.warmup_steps
        if train.schedule == "constant":
            return 1.0
        span = max(1, total_steps - train.warmup_steps)
        progress = min(1.0, (step - train.warmup_steps) / span)
        if train.schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def grad_norm(acc, params, max_norm: float) -> torch.Tensor | None:
    """Clip to ``max_norm`` (0 or less: no clipping) and return the total gradient norm, through
    accelerate so that it is the norm of the whole model under FSDP too. DeepSpeed clips inside its
    engine (its own config) and reports its last norm as a float, or None when unknown."""
    norm = acc.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
    return None if norm is None else torch.as_tensor(norm, dtype=torch.float32)


def check_finite(step: int, name: str, value: torch.Tensor | float | None, last_checkpoint: int | None) -> None:
    """Stop with a message naming the step and the last good checkpoint when ``value`` is not finite
    (None: not known, e.g. DeepSpeed's grad norm before its first step, is not checked)."""
    if value is None:
        return
    value = torch.as_tensor(value)
    if not torch.isfinite(value).all():
        kept = f"the last good checkpoint is step {last_checkpoint}" if last_checkpoint else "no checkpoint was written yet"
        raise NonFiniteError(f"non-finite {name} ({value.detach().float().cpu().tolist()}) at step {step}; "
                             f"training stopped, {kept}. Lower train.lr, enable train.max_grad_norm, "
                             f"or check the data/reward for extreme values.")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely (not written by prefzoo, or damaged)."""


def _finite_state(tensors) -> str | None:
    """The name of the first floating tensor of ``tensors`` ((name, tensor) pairs) holding a NaN or inf."""
    for name, t in tensors:
        if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all():
            return name
    return None


class Checkpoints:
    """``out_dir/checkpoints/step-N/state.pt``: weights, optimizer, schedule, RNG and loop extras: tensors
    and plain containers only, loaded with ``torch.load(weights_only=True)`` (a crafted file cannot run code)."""

    def __init__(self, out_dir: Path, keep: int = 2):
        self.root = Path(out_dir) / "checkpoints"
        self.keep = keep

    def latest(self) -> Path | None:
        if not self.root.exists():
            return None
        steps = sorted((int(p.name.split("-")[1]), p) for p in self.root.glob("step-*")
                       if p.name.split("-")[1].isdigit() and (p / "state.pt").exists())
        return steps[-1][1] if steps else None

    def save(self, step: int, model, optimizer, schedule, extra: dict | None = None) -> Path:
        """Write step ``step``'s state; refuses (``NonFiniteError``) weights or optimizer moments holding a NaN
        or inf, so that "the last good checkpoint" is one a resume can continue from."""
        weights = model.state_dict()
        moments = [(f"optimizer state {k}", v) for s in optimizer.state_dict()["state"].values() for k, v in s.items()]
        bad = _finite_state(weights.items()) or _finite_state(moments)
        if bad is not None:
            raise NonFiniteError(f"non-finite {bad} at step {step}: checkpoint step-{step} not written. "
                                 f"Lower train.lr or enable train.max_grad_norm.")
        path = self.root / f"step-{step}"
        path.mkdir(parents=True, exist_ok=True)
        state = {"step": step, "model": dict(weights), "optimizer": optimizer.state_dict(),
                 "schedule": schedule.state_dict(), "torch_rng": torch.get_rng_state(),
                 "python_rng": random.getstate(), "extra": extra or {}}
        tmp = path / "state.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(path / "state.pt")  # atomic: an interrupted save never shadows a good one
        for old in sorted(self.root.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return path

    def save_once(self, acc, step: int, model, optimizer, schedule, extra: dict | None = None) -> None:
        """``save`` by the main process only; every process waits until the checkpoint exists."""
        if acc.is_main_process:
            self.save(step, model, optimizer, schedule, extra)
        acc.wait_for_everyone()

    def read(self, path: Path | None = None) -> dict:
        path = path or self.latest()
        try:
            return torch.load(path / "state.pt", weights_only=True)
        except Exception as e:  # pickle.UnpicklingError for a file holding code, others for a damaged one
            raise CheckpointError(f"checkpoint {path / 'state.pt'} cannot be loaded safely "
                                  f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); it was not "
                                  f"written by prefzoo or is damaged: delete it, or start over with --overwrite") from e

    def load(self, model, optimizer, schedule) -> dict:
        """Restore the newest checkpoint. A learning rate changed since (``train.lr``: the schedule's base
        rate in this run) is applied from the resumed step on; ``state["lr_changed"]`` says from what."""
        wanted = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]  # this run's train.lr
        state = self.read()
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        if list(schedule.base_lrs) != wanted:
            state["lr_changed"] = {"from": list(schedule.base_lrs), "to": wanted, "at_step": state["step"]}
            schedule.base_lrs = list(wanted)
            lrs = [base * fn(schedule.last_epoch) for base, fn in zip(wanted, schedule.lr_lambdas)]
            for group, base, lr in zip(optimizer.param_groups, wanted, lrs):
                group["initial_lr"], group["lr"] = base, lr
            schedule._last_lr = lrs
            if dist.is_main():
                print(f"note: resumed at step {state['step']} with train.lr {wanted[0]:g} "
                      f"(the checkpoint ran with {state['lr_changed']['from'][0]:g})")
        return state


def trim_metrics(out_dir: Path, last_step: int) -> None:
    """On resume, forget rows logged after the checkpoint (they will be logged again)."""
    path = Path(out_dir) / "metrics.jsonl"
    if path.exists():
        import json

        rows = [r for r in read_jsonl_rows(path) if r.get("step", 0) <= last_step]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))


# Peak dense FLOP/s per GPU (no sparsity), for the estimated MFU in metrics.jsonl. Keyed by a substring
# of torch.cuda.get_device_name(); the first match wins. fp32 is the non-tensor-core rate (TF32 off).
# PREFZOO_PEAK_FLOPS (FLOP/s) overrides the table for any card.
PEAK_FLOPS = [  # (name substring, bf16, fp32)
    ("H100 PCIe", 756e12, 51e12), ("H100 NVL", 835e12, 60e12), ("H100", 989e12, 67e12),
    ("H200", 989e12, 67e12), ("A100", 312e12, 19.5e12),
]


def peak_flops(device: torch.device, bf16: bool) -> float | None:
    """Peak dense FLOP/s of one accelerator, or None (CPU, or a card not in ``PEAK_FLOPS``)."""
    import os

    if device.type != "cuda":
        return None
    if os.environ.get("PREFZOO_PEAK_FLOPS"):
        return float(os.environ["PREFZOO_PEAK_FLOPS"])
    name = torch.cuda.get_device_name(device).lower()
    return next(((b if bf16 else f) for key, b, f in PEAK_FLOPS if key.lower() in name), None)


def throughput(acc, tokens: int, step_s: float, flops: float, bf16: bool) -> dict:
    """``tokens_per_s`` (all processes) and, on a known GPU, ``mfu``: ``flops`` (model FLOPs of the step,
    all processes: 6 N per trained token + 2 N per forward-only token, N the total parameter count)
    over the step time and the peak of every process's card."""
    out = {"tokens_per_s": tokens / max(step_s, 1e-9)}
    peak = peak_flops(acc.device, bf16)
    if peak:
        out["mfu"] = flops / max(step_s, 1e-9) / (peak * acc.num_processes)
    return out
