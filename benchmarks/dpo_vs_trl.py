"""prefzoo's DPO against TRL's DPOTrainer at its defaults and at its fastest correct setting on this CPU.

Each side is a fresh process loading the same locally built Llama and tokenizer and the same JSONL of pairs,
in the same order:

    ours         prefzoo's offline loop: reference log-probs precomputed once (its design), fp32, plain AdamW
    trl-default  DPOConfig as a user gets it on this CPU, only the work set (batch, lr, schedule, clipping,
                 beta, max_length, steps, order): bf16 autocast, gradient checkpointing, fused AdamW and a
                 reference forward every step are TRL's defaults and stay
    trl-best     fp32, no gradient checkpointing, precompute_ref_log_probs=True, and the fastest AdamW on
                 this model and thread count: a worker first times an AdamW step on the model's parameters
                 for ``optim="adamw_torch_fused"``, ``"adamw_torch"`` (torch's single-tensor loop, what ours
                 runs) and ``AdamW(foreach=True)``, and trl-best takes the fastest (``--best-optim`` fixes it)

TRL 1.16's ``padding_free`` is disabled since its DPO refactor (it warns and pads), and DPOConfig has no
logits-to-keep option: its fused LM head already scores only completion positions. The precompute runs
before the timed steps on both sides (TRL in ``DPOTrainer.__init__``, ours in the loop's reference phase,
each into a fresh cache, so every run computes it): step times exclude it on both sides; each side's
precompute time is printed, and a ratio with it amortised over the run. A step is the interval between
consecutive optimizer-step ends after ``--warmup`` steps, in wall-clock and in the process's CPU time
(one thread: nearly blind to other jobs on a shared machine); peak RSS is ``ru_maxrss``. Rounds
interleave the sides (ours, trl-default, trl-best, ours, ...); medians are over every timed step of
every round; loss trajectories are compared step by step (fp32: within 1e-5, step 0 at ln 2).

    .venv/bin/python benchmarks/dpo_vs_trl.py                   # 30 steps, 5 warm-up, 2 rounds, 1 thread
    .venv/bin/python benchmarks/dpo_vs_trl.py --rounds 3 --threads 2

The last line is JSON (``speedup_vs_trl_best``, ``speedup_vs_trl_default``, settings, load, threads). This
file also holds the harness the other ``*_vs_trl.py`` benchmarks import (workers, rounds, timing).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIMS = ("fused", "foreach", "plain")
SIDES = ("ours", "trl-default", "trl-best", "ours-bf16", "trl-bf16", "ours-grouped")
MODEL = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=True)


# ============================================================================ harness (shared)
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def code_state() -> dict:
    """The prefzoo code measured: the commit, and the files under prefzoo/ that differ from it (with a hash of
    their diff), since a working tree can hold uncommitted changes while a benchmark runs."""
    import hashlib

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT).stdout.strip()

    diff = git("diff", "HEAD", "--", "prefzoo")
    return {"commit": git("rev-parse", "--short", "HEAD"), "prefzoo_changed": git("diff", "HEAD", "--name-only",
            "--", "prefzoo").split(), "prefzoo_diff_hash": hashlib.blake2b(diff.encode(), digest_size=6).hexdigest()}


def run_worker(script: str, side: str, spec: dict, threads: int) -> dict:
    """Run ``script --worker side --spec JSON`` in a fresh process; its last ``RESULT {json}`` line.
    Every process gets its own datasets cache, so nothing TRL caches carries over between runs."""
    cache = tempfile.mkdtemp(prefix="hfds-", dir=spec.get("work"))
    env = {**os.environ, **spec.get("env", {}), **(spec.get("ours_env", {}) if side.startswith("ours") else {}),
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "HF_DATASETS_CACHE": cache,
           "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, script, "--worker", side, "--spec", json.dumps({**spec, "threads": threads})]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{side} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-5000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def interleave(sides: list[str], rounds: int, run_one) -> dict[str, list[dict]]:
    """``rounds`` x every side in order (ours, peer, peer, ours, ...); prints each run's wall time and load."""
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    for rnd in range(rounds):
        for side in sides:
            t0, before = time.time(), os.getloadavg()[0]
            runs[side].append({**run_one(side), "load_before": before})
            print(f"round {rnd + 1}/{rounds} {side:17s} {time.time() - t0:6.1f} s  "
                  f"(load {before:.2f} -> {os.getloadavg()[0]:.2f})", flush=True)
    return runs


def gaps(ends: list[float], warmup: int) -> list[float]:
    """Step times: intervals between consecutive step ends, the first ``warmup`` steps left out."""
    return [b - a for a, b in zip(ends[max(warmup, 1) - 1:], ends[max(warmup, 1):])]


def median_step(side_runs: list[dict], warmup: int, key: str = "ends") -> float:
    """Median step time over every run of a side: wall clock (``ends``) or the process's CPU time
    (``cpu_ends``: what a one-thread side costs, nearly blind to other jobs on a shared machine)."""
    return statistics.median(t for r in side_runs for t in gaps(r[key], warmup))


def per_round(side_runs: list[dict], warmup: int) -> dict:
    """Each round's median step (ms), wall clock and CPU time: the spread a shared machine adds."""
    return {k: [round(statistics.median(gaps(r[key], warmup)) * 1000, 1) for r in side_runs]
            for k, key in (("wall_ms", "ends"), ("cpu_ms", "cpu_ends"))}


def per_step(side_runs: list[dict], warmup: int, key: str) -> float:
    """Mean per timed step of a cumulative counter (``sys_ends``: system CPU s; ``fault_ends``: page faults)."""
    return statistics.mean(t for r in side_runs for t in gaps(r[key], warmup))


class Stamps:
    """At each step end: wall clock, the process's CPU time, its system CPU time and minor page faults."""

    def __init__(self):
        self.rows: list[tuple] = []

    def __call__(self, *_args, **_kw) -> None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.rows.append((time.perf_counter(), time.process_time(), r.ru_stime, r.ru_minflt))

    def result(self) -> dict:
        return dict(zip(("ends", "cpu_ends", "sys_ends", "fault_ends"), map(list, zip(*self.rows))))


def timed(owner, attr: str, acc: dict, clock=time.perf_counter) -> None:
    """Wrap ``owner.attr`` so that its calls' time (by ``clock``) adds up in ``acc["s"]``."""
    fn = getattr(owner, attr)

    def wrapper(*args, **kw):
        t = clock()
        try:
            return fn(*args, **kw)
        finally:
            acc["s"] += clock() - t

    setattr(owner, attr, wrapper)


def env_of(pairs: list[str]) -> dict:
    """``--env KEY=VALUE`` flags -> a dict (applied to every side's process)."""
    return dict(kv.split("=", 1) for kv in pairs)


def worker_env(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)


def trl_optim(variant: str) -> dict:
    """Config kwargs for an AdamW variant: fused / plain through TRL's own ``optim`` names; foreach (no
    ``optim`` name) is set on the trainer by ``use_foreach``; "default" leaves TRL's choice."""
    return {"fused": {"optim": "adamw_torch_fused"}, "plain": {"optim": "adamw_torch"}}.get(variant, {})


def use_foreach(trainer, variant: str) -> None:
    """A torch ``AdamW(foreach=True)`` over the trainer's own parameter groups (transformers'
    ``Trainer.optimizer_cls_and_kwargs``, read when the trainer creates its optimizer)."""
    import torch

    if variant == "foreach":
        a = trainer.args
        trainer.optimizer_cls_and_kwargs = (torch.optim.AdamW, {"lr": a.learning_rate, "foreach": True,
                                                                "betas": (a.adam_beta1, a.adam_beta2),
                                                                "eps": a.adam_epsilon})


def peft_lora(r: int):
    """LoRA as every side uses it: rank r on all linear layers, alpha 2r, no dropout."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def trl_settings(cfg, optimizer_variant: str) -> dict:
    """What a TRL side ran with, read back from its resolved config."""
    out = {k: getattr(cfg, k) for k in ("bf16", "gradient_checkpointing", "precompute_ref_log_probs",
                                        "padding_free", "use_bias_correction_kl", "cache_implementation",
                                        "loss_type", "beta") if hasattr(cfg, k)}
    out["optim"] = "torch AdamW(foreach=True)" if optimizer_variant == "foreach" else str(cfg.optim)
    return out


def trl_clock():
    """A TrainerCallback stamping each step end and keeping every logged row."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.stamps, self.logs = Stamps(), []

        def on_step_end(self, args, state, control, **kw):
            self.stamps()

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "train_runtime" not in logs:
                self.logs.append({k: float(v) for k, v in logs.items() if isinstance(v, (int, float))})

    return Clock()


def print_optim_probe(model_dir: str, lora: int = 0, rounds: int = 5, iters: int = 10) -> None:
    """The ``optim-probe`` worker: median ms of an AdamW step per variant (rounds interleaved, random
    gradients) over a saved model's trainable parameters (its LoRA adapters when ``lora`` is a rank)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if lora:
        from peft import get_peft_model

        model = get_peft_model(model, peft_lora(lora))
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p)
    opts = {k: torch.optim.AdamW(params, lr=1e-6, **kw) for k, kw in
            {"plain": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}.items()}
    times: dict[str, list[float]] = {k: [] for k in opts}
    for _ in range(rounds):
        for k, opt in opts.items():
            opt.step()  # state allocated outside the timing
            t = time.perf_counter()
            for _ in range(iters):
                opt.step()
            times[k].append((time.perf_counter() - t) / iters * 1e3)
    print("RESULT " + json.dumps({"ms": {k: statistics.median(v) for k, v in times.items()}}), flush=True)


def pick_optimizer(script: str, spec: dict, threads: int, choice: str) -> tuple[str, dict]:
    """``choice`` if given, else the fastest AdamW variant measured on this model's trainable parameters in a
    worker with the benchmark's thread count (the optimizer is the only TRL knob worth measuring apart)."""
    if choice != "auto":
        return choice, {}
    probe = run_worker(script, "optim-probe", spec, threads)["ms"]
    best = min(probe, key=probe.get)
    print("AdamW step on the trained parameters, median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in probe.items())
          + f" -> trl-best uses {best}", flush=True)
    return best, probe


# ============================================================================ DPO inputs
def make_inputs(work: Path, rows: int, vocab: int, seed: int = 0) -> tuple[Path, Path]:
    """Pairs of Zipf-distributed words (prompt 16-32 words, completions 16-48) and a tiny Llama over them."""
    import random

    from prefzoo.models.tiny import tiny_llama, word_tokenizer

    rng, words = random.Random(seed), [f"w{i}" for i in range(vocab)]
    weights = [1.0 / (i + 1) for i in range(vocab)]

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choices(words, weights, k=rng.randint(lo, hi)))

    data, model_dir = work / "pairs.jsonl", work / "model"
    # the prompt's trailing space keeps TRL's string concatenation prompt + completion on a word boundary
    data.write_text("".join(json.dumps({"prompt": text(16, 32) + " ", "chosen": text(16, 48),
                                        "rejected": text(16, 48)}) + "\n" for _ in range(rows)))
    tok = word_tokenizer(words)
    tok.chat_template = None  # plain text on both sides: prefzoo and TRL then tokenize identically
    tiny_llama(len(tok), seed=seed, **MODEL).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    return data, model_dir


# ============================================================================ DPO workers
def worker_ours(s: dict, on_step=None, precision: str = "fp32", length_groups: int | None = None) -> dict:
    """prefzoo's side; ``on_step(metrics)``, if given, is called at each logged step end (profile_step.py)."""
    import torch

    import prefzoo.engine.offline as offline
    from prefzoo.algos.dpo import DPO
    from prefzoo.data import load_records
    from prefzoo.job import Job
    from prefzoo.models.policy import Policy
    from prefzoo.recipe import LoraConfig, ModelConfig, TrainConfig

    stamps, rows, pre = Stamps(), [], {"s": 0.0}

    class Clock:  # a Tracker stand-in: stamps each logged step, writes nothing
        def log(self, step, metrics):
            stamps()
            if on_step:
                on_step(metrics)
            rows.append({"step": step, **{k: float(v) for k, v in metrics.items()}})
            return rows[-1]

        close = staticmethod(lambda: None)

    timed(offline, "reference_table", pre)
    work = Path(tempfile.mkdtemp(prefix="ours-", dir=s["work"]))  # a fresh reference cache: computed every run
    policy = Policy.load(ModelConfig(base=s["model"], max_length=s["max_length"]))
    if s.get("lora"):  # seeded right before the adapters are drawn, as on the other sides
        torch.manual_seed(0)
        policy.add_lora(LoraConfig(r=s["lora"], alpha=2 * s["lora"]))
    ds, _ = load_records(s["data"], "pairs")
    train = TrainConfig(lr=s["lr"], batch_size=s["batch"], max_steps=s["steps"], shuffle=False, progress=False,
                        log_every=1, cache_dir=str(work / "cache"), max_grad_norm=1.0, precision=precision,
                        length_groups=length_groups)
    job = Job(policy=policy, train=train, out_dir=work / "out", seed=0, data={"pairs": ds}, tracker=Clock(),
              label="dpo")
    offline.train_offline(job, DPO(DPO.Config(beta=s["beta"])))
    return {**stamps.result(), "losses": [r["loss"] for r in rows], "precompute_s": pre["s"],
            "tokens": [b - a for a, b in zip([0.0] + [r["tokens"] for r in rows], [r["tokens"] for r in rows])],
            "settings": {"precision": train.precision, "gradient_checkpointing": False,
                         "reference": "precomputed once (cached)", "optim": "torch AdamW (single-tensor loop)",
                         "length_groups": length_groups}}


def worker_trl(s: dict, side: str) -> dict:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    pre = {"s": 0.0}
    timed(DPOTrainer, "_precompute_ref_logps", pre)
    model = AutoModelForCausalLM.from_pretrained(s["model"], dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(s["model"])
    ds = datasets.load_dataset("json", data_files=s["data"], split="train")
    work = dict(output_dir=tempfile.mkdtemp(prefix="trl-", dir=s["work"]), per_device_train_batch_size=s["batch"],
                gradient_accumulation_steps=1, learning_rate=s["lr"], lr_scheduler_type="constant", warmup_steps=0,
                weight_decay=0.0, max_grad_norm=1.0, max_steps=s["steps"], logging_steps=1, save_strategy="no",
                report_to=[], beta=s["beta"], max_length=s["max_length"], train_sampling_strategy="sequential",
                use_cpu=True, seed=0, disable_tqdm=True)
    variant = "default" if side == "trl-default" else s["best_optim"]
    if variant != "default":  # the fastest correct setting for a CPU (trl-bf16: the same with bf16 autocast)
        work.update(bf16=side == "trl-bf16", gradient_checkpointing=False, precompute_ref_log_probs=True,
                    precompute_ref_batch_size=32, **trl_optim(variant))  # ours precomputes in batches of 32 too
    cfg = DPOConfig(**work)
    clock = trl_clock()
    t = time.perf_counter()
    torch.manual_seed(0)  # the LoRA adapters (if any) are drawn inside the trainer
    trainer = DPOTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok, callbacks=[clock],
                         peft_config=peft_lora(s["lora"]) if s.get("lora") else None)
    init_s = time.perf_counter() - t
    use_foreach(trainer, variant)
    trainer.train()
    return {**clock.stamps.result(), "losses": [r["loss"] for r in clock.logs if "loss" in r], "precompute_s": pre["s"],
            "init_s": init_s, "settings": trl_settings(cfg, variant)}


def worker(side: str, spec: dict) -> None:
    worker_env(spec["threads"])
    if side == "optim-probe":
        return print_optim_probe(spec["model"], spec.get("lora", 0))
    # ours-bf16 / trl-bf16: the opt-in bf16 autocast on both sides (numbers change; measured, not the default)
    # ours-grouped: ours with train.length_groups (opt-in: floats move by rounding)
    out = (worker_ours(spec, precision="bf16" if side == "ours-bf16" else "fp32",
                       length_groups=spec["length_groups"] if side == "ours-grouped" else None)
           if side.startswith("ours") else worker_trl(spec, side))
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out), flush=True)


# ============================================================================ driver
def summarize(runs: dict, warmup: int, timed_tokens: float) -> dict:
    summary = {}
    for side, rs in runs.items():
        med, losses = median_step(rs, warmup), rs[0]["losses"]
        summary[side] = {"median_step_s": med, "median_cpu_s": median_step(rs, warmup, "cpu_ends"),
                         "sys_s_per_step": per_step(rs, warmup, "sys_ends"),
                         "faults_per_step": per_step(rs, warmup, "fault_ends"), "rounds": per_round(rs, warmup),
                         "tokens_per_s": timed_tokens / med, "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                         "precompute_s": statistics.median(r["precompute_s"] for r in rs),
                         "loss_first": losses[0], "loss_last": losses[-1], "settings": rs[0]["settings"]}
        s = summary[side]
        print(f"{side:12s} {med * 1000:8.1f} ms {s['median_cpu_s'] * 1000:8.1f} ms "
              f"{s['sys_s_per_step'] * 1000:6.0f} ms "
              f"{s['faults_per_step'] / 1000:7.1f}k {s['tokens_per_s']:9.0f} "
              f"{s['peak_rss_mb']:6.0f} MB {s['precompute_s']:9.2f}s  {losses[0]:.6f} .. {losses[-1]:.6f}  "
              f"{s['settings']}")
    return summary


def compare(runs: dict, summary: dict, steps: int) -> dict:
    """Ratios of ours against every peer (wall clock, CPU time, with each side's precompute amortised over
    the run) and the largest step-wise loss difference."""
    for side, v in summary.items():
        print(f"{side:12s} per round: wall {v['rounds']['wall_ms']} ms, CPU {v['rounds']['cpu_ms']} ms")
    ours, out = summary["ours"], {}
    for peer in (s for s in summary if s != "ours"):
        them = summary[peer]
        diff = max(abs(x - y) for x, y in zip(runs["ours"][0]["losses"], runs[peer][0]["losses"]))
        out[peer] = {"speedup": them["median_step_s"] / ours["median_step_s"],
                     "speedup_cpu": them["median_cpu_s"] / ours["median_cpu_s"],
                     "speedup_incl_precompute": (them["precompute_s"] + steps * them["median_step_s"])
                     / (ours["precompute_s"] + steps * ours["median_step_s"]),
                     "rss_ratio": ours["peak_rss_mb"] / them["peak_rss_mb"], "max_abs_loss_diff": diff}
        o = out[peer]
        print(f"ours vs {peer:12s} {o['speedup']:.2f}x faster per step (CPU time {o['speedup_cpu']:.2f}x; "
              f"{o['speedup_incl_precompute']:.2f}x with each side's precompute over {steps} steps), peak RSS "
              f"ratio {o['rss_ratio']:.2f}, max |loss diff| over {steps} steps {diff:.2e}")
    return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag, default, what in (("--steps", 30, "steps per run, warm-up included"), ("--warmup", 5, "steps left out"),
                                ("--rounds", 2, "interleaved repetitions of every side"), ("--batch", 16, "pairs"),
                                ("--max-length", 128, "tokens"), ("--vocab", 3000, "words"), ("--threads", 1, "torch")):
        p.add_argument(flag, type=int, default=default, help=what)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--sides", default="ours,trl-default,trl-best")  # + ours-bf16, trl-bf16, ours-grouped: opt-in
    p.add_argument("--length-groups", type=int, default=4, help="the ours-grouped side's train.length_groups")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable for every side (e.g. MALLOC_MMAP_THRESHOLD_=33554432)")
    p.add_argument("--ours-env", action="append", default=[], metavar="KEY=VALUE", help="one for ours only")
    p.add_argument("--best-optim", choices=("auto",) + OPTIMS, default="auto",
                   help="trl-best's AdamW: auto = the fastest measured on this model and thread count")
    p.add_argument("--worker", choices=SIDES + ("optim-probe",), help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    a = parse_args()
    if a.worker:
        return worker(a.worker, json.loads(a.spec))
    sides, load0 = a.sides.split(","), load_avg()
    with tempfile.TemporaryDirectory(prefix="prefzoo-bench-") as work:
        sys.path.insert(0, str(ROOT))
        data, model_dir = make_inputs(Path(work), rows=a.steps * a.batch, vocab=a.vocab)
        from transformers import AutoModelForCausalLM

        n_params = sum(t.numel() for t in AutoModelForCausalLM.from_pretrained(model_dir).parameters())
        spec = dict(work=work, data=str(data), model=str(model_dir), steps=a.steps, batch=a.batch, lr=a.lr,
                    beta=a.beta, max_length=a.max_length, env=env_of(a.env),
                    ours_env=env_of(a.ours_env), length_groups=a.length_groups)
        spec["best_optim"], probe = pick_optimizer(__file__, spec, a.threads, a.best_optim)
        runs = interleave(sides, a.rounds, lambda side: run_worker(__file__, side, spec, a.threads))
    load1 = load_avg()
    print(f"\nmodel: Llama {n_params / 1e6:.2f}M params ({MODEL['num_hidden_layers']} layers, hidden "
          f"{MODEL['hidden_size']}, vocab {a.vocab + 6}); batch {a.batch} pairs, max_length {a.max_length}, "
          f"lr {a.lr} constant; {a.steps} steps, {a.warmup} warm-up, {a.rounds} rounds; torch threads {a.threads}; "
          f"load average {load0} at start, {load1} at end, on {os.cpu_count()} CPUs")
    print(f"{'side':12s} {'wall/step':>11s} {'CPU/step':>11s} {'sys/step':>9s} {'faults':>8s} {'tokens/s':>9s} "
          f"{'peak RSS':>9s} {'precompute':>10s}"
          f"  loss[0] .. loss[-1]   settings")
    tokens = statistics.mean(runs["ours"][0]["tokens"][a.warmup:]) if "ours" in runs else float("nan")
    summary = summarize(runs, a.warmup, tokens)  # every side reads the same rows: ours counts their tokens
    ratios = compare(runs, summary, a.steps) if "ours" in summary else {}
    result = {"benchmark": "dpo_vs_trl", "code": code_state(), "model_params": n_params, "steps": a.steps,
              "warmup": a.warmup,
              "rounds": a.rounds, "batch": a.batch, "max_length": a.max_length, "threads": a.threads,
              "env": spec["env"], "ours_env": spec["ours_env"],
              "cpu_count": os.cpu_count(), "load_avg_start": load0, "load_avg_end": load1,
              "timing": "step times exclude the reference precompute on every side; precompute_s printed per side",
              "step0_is_ln2": {s: abs(v["loss_first"] - math.log(2)) < 1e-6 for s, v in summary.items()},
              "sides": summary, "ratios": ratios, "trl_best_optim": spec["best_optim"], "optim_probe_ms": probe}
    for peer, tag in (("trl-best", "best"), ("trl-default", "default")):
        if peer in ratios:
            r = ratios[peer]
            result.update({f"speedup_vs_trl_{tag}": r["speedup"], f"speedup_cpu_vs_trl_{tag}": r["speedup_cpu"],
                           f"speedup_vs_trl_{tag}_incl_precompute": r["speedup_incl_precompute"],
                           f"loss_max_abs_diff_vs_trl_{tag}": r["max_abs_loss_diff"],
                           f"rss_ratio_vs_trl_{tag}": r["rss_ratio"]})
    if "ours-grouped" in summary and "trl-best" in summary:  # the opt-in setting against TRL's best
        g, t = summary["ours-grouped"], summary["trl-best"]
        diff = max(abs(x - y) for x, y in zip(runs["ours-grouped"][0]["losses"], runs["trl-best"][0]["losses"]))
        result.update({"speedup_grouped_vs_trl_best": t["median_step_s"] / g["median_step_s"],
                       "speedup_cpu_grouped_vs_trl_best": t["median_cpu_s"] / g["median_cpu_s"],
                       "speedup_grouped_vs_trl_best_incl_precompute":
                           (t["precompute_s"] + a.steps * t["median_step_s"])
                           / (g["precompute_s"] + a.steps * g["median_step_s"]),
                       "loss_max_abs_diff_grouped_vs_trl_best": diff, "length_groups": a.length_groups})
        print(f"ours-grouped (train.length_groups={a.length_groups}) vs trl-best "
              f"{result['speedup_grouped_vs_trl_best']:.2f}x faster per step (CPU time "
              f"{result['speedup_cpu_grouped_vs_trl_best']:.2f}x; "
              f"{result['speedup_grouped_vs_trl_best_incl_precompute']:.2f}x with each side's precompute over "
              f"{a.steps} steps), max |loss diff| {diff:.2e}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
