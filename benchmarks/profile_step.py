"""Where a prefzoo step spends its time: an RLOO or GRPO step on the tiny Llama of ``rloo_vs_trl.py`` (``rloo``,
``grpo``), a DPO step on the tiny Llama of ``dpo_vs_trl.py`` (``dpo``), and a LoRA DPO or GRPO step on
SmolLM2-135M-Instruct (``smollm2-dpo``, ``smollm2-grpo``: the work of ``smollm2_vs_trl.py``).

prefzoo's own loop runs unchanged; this script wraps its phase functions with timers from outside (nothing
in prefzoo is edited): for the online loop ``collect`` (generation), ``feedback`` (reward),
``response_logps`` inside ``prepare`` (reference log-probs; old log-probs come from the sampler),
``minibatch_logps`` (the training forward), the objective's ``loss``, ``Accelerator.backward``,
``grad_norm`` (clipping) and every ``Optimizer.step`` (global hooks), ``step_row`` (metrics); for the
offline loop ``Policy.forward_logps``, the objective's ``loss``, backward, clipping, the optimizer and
``reference_table`` (the precompute, outside the steps). A forward hook on the policy's model splits each
phase into its model forwards (``phase/model``) and the rest (sampling math, log-softmax and gather).
Times are the process's CPU time (``--clock wall`` for wall time: on a shared machine that measures the other
jobs too), exclusive (a phase's time less its timed sub-phases); "other" is the step's time less all timed
phases (loop bookkeeping, scheduler, zero_grad, the tracker). Run from the repo root:

    .venv/bin/python benchmarks/profile_step.py rloo                    # 30 steps, 5 warm-up, 1 thread
    .venv/bin/python benchmarks/profile_step.py smollm2-dpo             # 4 steps, 1 warm-up, 2 threads
    .venv/bin/python benchmarks/profile_step.py dpo --steps 12 --warmup 2
    .venv/bin/python benchmarks/profile_step.py rloo --ops 15           # + torch.profiler's top ops of one step

The last line is JSON.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dpo_vs_trl import ROOT, load_avg  # noqa: E402

sys.path.insert(0, str(ROOT))


class Phases:
    """Exclusive wall time per named phase, between step boundaries (``end_step``)."""

    def __init__(self, clock=time.process_time):
        self.clock = clock  # the process's CPU time by default: on a shared machine wall time measures the others
        self.stack: list[list] = []
        self.acc: dict[str, float] = {}
        self.steps: list[tuple[float, dict]] = []
        self.last = clock()

    def enter(self, name: str) -> None:
        self.stack.append([name, self.clock(), 0.0])

    def exit(self) -> None:
        name, t0, child = self.stack.pop()
        elapsed = self.clock() - t0
        self.acc[name] = self.acc.get(name, 0.0) + elapsed - child
        if self.stack:
            self.stack[-1][2] += elapsed

    def wrap(self, fn, name: str):
        @functools.wraps(fn)
        def timed(*args, **kw):
            self.enter(name)
            try:
                return fn(*args, **kw)
            finally:
                self.exit()

        return timed

    def patch(self, owner, attr: str, name: str) -> None:
        setattr(owner, attr, self.wrap(getattr(owner, attr), name))

    def hook_model(self, module) -> None:
        """Each forward of ``module`` counts as ``<enclosing phase>/model``."""
        def pre(_m, _args):
            self.enter((self.stack[-1][0] if self.stack else "untimed") + "/model")

        def post(_m, _args, _out):
            self.exit()

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def time_decode_steps(self) -> None:
        """The rollout's decoding forwards (``prefzoo.engine.decode_step``, which bypasses the model's own call
        and so its hooks) count as ``<enclosing phase>/model`` too; the timing hooks above do not turn it off."""
        import prefzoo.engine.decode_step as ds
        import prefzoo.engine.rollout as rollout

        ds._hooked = lambda model: False  # only these timing hooks are on the model here
        real = rollout.decode_step

        def timed_decode_step(model, cache):
            step = real(model, cache)
            if step is None:
                return None

            def timed(*args):
                self.enter((self.stack[-1][0] if self.stack else "untimed") + "/model")
                try:
                    return step(*args)
                finally:
                    self.exit()
            return timed

        rollout.decode_step = timed_decode_step

    def hook_optimizers(self) -> None:
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        register_optimizer_step_pre_hook(lambda *a: self.enter("optimizer step"))
        register_optimizer_step_post_hook(lambda *a: self.exit())

    def end_step(self, _metrics=None) -> None:
        now = self.clock()
        self.steps.append((now - self.last, self.acc))
        self.acc, self.last = {}, now

    def table(self, warmup: int, title: str) -> dict:
        """Mean ms per step and share of the step per phase over the steps after ``warmup``."""
        timed = self.steps[warmup:]
        total = sum(s for s, _ in timed)
        names = sorted({k for _, d in timed for k in d})
        per = {k: sum(d.get(k, 0.0) for _, d in timed) for k in names}
        per["other (untimed)"] = total - sum(per.values())
        n = len(timed)
        kind = "CPU" if self.clock is time.process_time else "wall"
        print(f"\n{title}: {n} steps, mean step {total / n * 1000:.1f} ms ({kind} time)")
        print(f"{'phase':40s} {'ms/step':>9s} {'share':>7s}")
        for k, v in sorted(per.items(), key=lambda kv: -kv[1]):
            print(f"{k:40s} {v / n * 1000:9.1f} {v / total:7.1%}")
        return {"mean_step_ms": total / n * 1000, "timed_steps": n,
                "phases_ms": {k: v / n * 1000 for k, v in per.items()},
                "shares": {k: v / total for k, v in per.items()}}


# ----------------------------------------------------------------------------- the two profiles
def profile_online(a, ph: Phases) -> dict:
    import accelerate

    import prefzoo.engine.online as online
    import prefzoo.models.policy as policy_mod
    import rloo_vs_trl

    for attr, name in (("collect", "generate"), ("feedback", "reward"), ("response_logps", "reference log-probs"),
                       ("minibatch_logps", "policy forward (training)"), ("grad_norm", "clip grad norm"),
                       ("step_row", "metrics (step_row)")):
        ph.patch(online, attr, name)
    ph.patch(accelerate.Accelerator, "backward", "backward")
    ph.hook_optimizers()
    ph.time_decode_steps()
    load = policy_mod.Policy.load

    def load_hooked(*args, **kw):  # the trained model's forwards, by the phase they run in
        pol = load(*args, **kw)
        ph.hook_model(pol.model)
        return pol

    policy_mod.Policy.load = load_hooked
    from prefzoo.algos.grpo import GRPO
    from prefzoo.algos.rloo import RLOO

    for cls in (RLOO, GRPO):
        ph.patch(cls, "loss", "loss")
    with tempfile.TemporaryDirectory() as work:
        if a.what == "smollm2-grpo":
            import smollm2_vs_trl

            spec = smollm2_vs_trl.grpo_work(work, smollm2_vs_trl.model_dir(), a.steps)
            title = "SmolLM2-135M LoRA r=16, 4 prompts x 4 samples x 32 new tokens"
        else:
            model_dir = Path(work) / "model"
            rloo_vs_trl.build_model(model_dir)
            spec = dict(work=work, model=str(model_dir), steps=a.steps, algo=a.what)
            title = "tiny Llama, 4 prompts x 4 samples x 16 new tokens"
        rloo_vs_trl.worker_ours(spec, on_step=ph.end_step)
    return ph.table(a.warmup, f"prefzoo {spec['algo']} step, {title}")


def profile_offline(a, ph: Phases) -> dict:
    """``dpo``: the tiny Llama, 16 pairs x 128 tokens (dpo_vs_trl.py); ``smollm2-dpo``: SmolLM2, LoRA r=16,
    8 pairs x 128 tokens (smollm2_vs_trl.py)."""
    import accelerate

    import dpo_vs_trl
    import prefzoo.engine.offline as offline
    import prefzoo.models.policy as policy_mod
    import smollm2_vs_trl
    from prefzoo.algos.dpo import DPO

    pre = {"s": 0.0}  # the precompute, inclusive (its forwards also show as nested phases of the first step)
    dpo_vs_trl.timed(offline, "reference_table", pre, clock=ph.clock)
    ph.patch(offline, "grad_norm", "clip grad norm")
    ph.patch(policy_mod.Policy, "forward_logps", "policy forward (forward_logps)")
    ph.patch(DPO, "loss", "loss")
    ph.patch(accelerate.Accelerator, "backward", "backward")
    ph.hook_optimizers()
    load = policy_mod.Policy.load

    def load_hooked(*args, **kw):
        pol = load(*args, **kw)
        ph.hook_model(pol.model)
        return pol

    policy_mod.Policy.load = load_hooked
    batch = 8 if a.what == "smollm2-dpo" else 16
    with tempfile.TemporaryDirectory() as work:
        if a.what == "smollm2-dpo":
            data = Path(work) / "pairs.jsonl"
            smollm2_vs_trl.write_pairs(data, a.steps * batch)
            spec = dict(model=smollm2_vs_trl.model_dir(), lr=1e-4, lora=16)
        else:
            data, model_dir = dpo_vs_trl.make_inputs(Path(work), rows=a.steps * batch, vocab=3000)
            spec = dict(model=str(model_dir), lr=1e-3)
        spec.update(work=work, data=str(data), steps=a.steps, batch=batch, beta=0.1, max_length=128)
        dpo_vs_trl.worker_ours(spec, on_step=ph.end_step)
    ref_batches = -(-a.steps * batch // 32)  # reference_table's batches of 32 pairs
    print(f"\nprecompute before step 1: {ref_batches} batch(es) of 32 pairs = {a.steps} steps' data, "
          f"{pre['s'] * 1000:.0f} ms; per step's {batch} pairs {pre['s'] * 1000 / a.steps:.0f} ms")
    title = ("SmolLM2-135M LoRA r=16, 8 pairs" if a.what == "smollm2-dpo" else "tiny Llama (3.4M), 16 pairs")
    return {**ph.table(max(a.warmup, 1), f"prefzoo DPO step, {title} x 128 tokens"),
            "precompute_ms": pre["s"] * 1000, "precompute_ms_per_step": pre["s"] * 1000 / a.steps}


def top_ops(a, n: int) -> None:
    """torch.profiler over a short run of the same work; the top ``n`` ops by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    a2 = argparse.Namespace(**{**vars(a), "steps": 3, "warmup": 1})
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        (profile_online if a.what in ("rloo", "grpo", "smollm2-grpo") else profile_offline)(a2, Phases())
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=n))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("rloo", "grpo", "dpo", "smollm2-dpo", "smollm2-grpo"))
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu", help="the process's CPU time, or wall time")
    p.add_argument("--steps", type=int, default=None, help="steps, warm-up included (tiny 30, smollm2 4)")
    p.add_argument("--warmup", type=int, default=None, help="tiny 5, smollm2 1")
    p.add_argument("--threads", type=int, default=None, help="torch threads (tiny 1, smollm2 2)")
    p.add_argument("--ops", type=int, default=0, help="also print torch.profiler's top N ops (a separate short run)")
    p.add_argument("--no-fused-head", action="store_true",
                   help="score the LM head through full logits (Policy.fused_lm_head off): the profile before that lever")
    a = p.parse_args()
    if a.no_fused_head:
        from prefzoo.models.policy import Policy

        Policy.fused_lm_head = False
    online = a.what in ("rloo", "grpo", "smollm2-grpo")
    small = not a.what.startswith("smollm2")
    a.steps = a.steps or (30 if small else 4)
    a.warmup = a.warmup if a.warmup is not None else (5 if small else 1)
    a.threads = a.threads or (1 if small else 2)
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    load0 = load_avg()
    out = (profile_online if online else profile_offline)(a, Phases(time.process_time if a.clock == "cpu"
                                                                    else time.perf_counter))
    if a.ops:
        top_ops(a, a.ops)
    print(f"torch threads {torch.get_num_threads()}; load average {load0} at start, {load_avg()} at end, on "
          f"{os.cpu_count()} CPUs")
    print(json.dumps({"profile": a.what, "threads": a.threads, "steps": a.steps, "warmup": a.warmup, "fused_lm_head": not a.no_fused_head,
                      "load_avg_start": load0, "load_avg_end": load_avg(), **out}))


if __name__ == "__main__":
    main()
