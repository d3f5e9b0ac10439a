"""prefzoo's DPO against TRL's DPOTrainer: step time, tokens per second, peak memory, loss trajectory.

Fair by construction: one locally built Llama (hidden 256, 4 layers, a 3000-word vocabulary) and its
tokenizer are saved once to a temp dir and both sides load them from there; the same JSONL of pairs,
in the same order (prefzoo: ``train.shuffle=false``; TRL: ``train_sampling_strategy="sequential"``);
the same batch (16 pairs), learning rate (constant), AdamW, clipping at 1.0, fp32, max length, step
count and CPU thread count. Each trainer runs in its own fresh Python process (so peak RSS is that
trainer's alone) and times the interval between consecutive optimizer-step ends, after a warm-up.

prefzoo computes reference log-probs once (cached on disk: its design) so a step runs one forward,
while TRL's default runs the reference forward every step; the second TRL line
(``precompute_ref_log_probs=True``) is the like-for-like peer. Run from the repo root:

    .venv/bin/python benchmarks/dpo_vs_trl.py              # 40 steps, 5 warm-up, 2 rounds
    .venv/bin/python benchmarks/dpo_vs_trl.py --steps 60 --rounds 3 --threads 2

Rounds interleave the three trainers (ours, trl, trl-precompute, ours, ...) so a busy machine slows
all of them alike; each median is over every post-warm-up step of every round. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("ours", "trl", "trl-precompute")
MODEL = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=True)


# ----------------------------------------------------------------------------- shared inputs


def make_inputs(work: Path, rows: int, vocab: int, seed: int = 0) -> tuple[Path, Path]:
    """Pairs of Zipf-distributed words (prompt 16-32 words, completions 16-48) and a tiny Llama over them."""
    sys.path.insert(0, str(ROOT))
    from prefzoo.models.tiny import tiny_llama, word_tokenizer

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab)]
    weights = [1.0 / (i + 1) for i in range(vocab)]

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choices(words, weights, k=rng.randint(lo, hi)))

    data = work / "pairs.jsonl"
    with data.open("w") as f:
        for _ in range(rows):
            # the trailing space keeps TRL's string concatenation prompt + completion on a word boundary
            f.write(json.dumps({"prompt": text(16, 32) + " ", "chosen": text(16, 48), "rejected": text(16, 48)}) + "\n")
    tok = word_tokenizer(words)
    tok.chat_template = None  # plain text on both sides: prefzoo and TRL then tokenize identically
    model = tiny_llama(len(tok), seed=seed, **MODEL)
    model_dir = work / "model"
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    return data, model_dir


# ----------------------------------------------------------------------------- workers


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker_ours(a) -> dict:
    sys.path.insert(0, str(ROOT))
    from prefzoo.algos.dpo import DPO
    from prefzoo.data import load_records
    from prefzoo.engine.offline import train_offline
    from prefzoo.job import Job
    from prefzoo.models.policy import Policy
    from prefzoo.recipe import ModelConfig, TrainConfig

    class Clock:  # a Tracker stand-in: stamps each logged step, writes nothing
        def __init__(self):
            self.ends, self.rows = [], []

        def log(self, step, metrics):
            self.ends.append(time.perf_counter())
            row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
            self.rows.append(row)
            return row

        def close(self):
            pass

    policy = Policy.load(ModelConfig(base=a.model, max_length=a.max_length))
    ds, _ = load_records(a.data, "pairs")
    train = TrainConfig(lr=a.lr, batch_size=a.batch, max_steps=a.steps, shuffle=False, progress=False,
                        log_every=1, cache_dir=str(Path(a.work) / "cache"), max_grad_norm=1.0)
    clock = Clock()
    job = Job(policy=policy, train=train, out_dir=Path(a.work) / "out-ours", seed=0, data={"pairs": ds},
              tracker=clock, label="dpo")
    start = time.perf_counter()
    result = train_offline(job, DPO(DPO.Config(beta=a.beta)))
    return {"ends": clock.ends, "start": start, "losses": [r["loss"] for r in clock.rows],
            "tokens": [r["tokens"] for r in clock.rows], "info": {"steps": result.info["steps"]}}


def worker_trl(a, precompute: bool) -> dict:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    class Clock(TrainerCallback):
        def __init__(self):
            self.ends, self.losses = [], []

        def on_step_end(self, args, state, control, **kw):
            self.ends.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(a.model)
    ds = datasets.load_dataset("json", data_files=a.data, split="train")
    cfg = DPOConfig(output_dir=str(Path(a.work) / f"out-trl-{int(precompute)}"), per_device_train_batch_size=a.batch,
                    gradient_accumulation_steps=1, learning_rate=a.lr, lr_scheduler_type="constant", warmup_steps=0,
                    weight_decay=0.0, max_grad_norm=1.0, max_steps=a.steps, logging_steps=1, save_strategy="no",
                    report_to=[], beta=a.beta, max_length=a.max_length, precompute_ref_log_probs=precompute,
                    train_sampling_strategy="sequential", use_cpu=True, bf16=False, fp16=False, seed=0,
                    dataloader_num_workers=0, disable_tqdm=True)
    clock = Clock()
    trainer = DPOTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok, callbacks=[clock])
    start = time.perf_counter()
    trainer.train()
    return {"ends": clock.ends, "start": start, "losses": clock.losses}


def worker(a) -> None:
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = worker_ours(a) if a.worker == "ours" else worker_trl(a, a.worker == "trl-precompute")
    out["peak_rss_mb"] = peak_rss_mb()
    out["threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver


def tokens_per_step(data: Path, model_dir: Path, batch: int, steps: int, max_length: int) -> list[int]:
    """Non-pad tokens in each step's forward (chosen + rejected rows), from the shared tokenizer."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    per_row = []
    for r in rows:
        p = len(tok(r["prompt"], add_special_tokens=False).input_ids)
        c = len(tok(r["chosen"], add_special_tokens=False).input_ids) + 1
        j = len(tok(r["rejected"], add_special_tokens=False).input_ids) + 1
        per_row.append(min(p + c, max_length) + min(p + j, max_length))
    return [sum(per_row[s * batch:(s + 1) * batch]) for s in range(steps)]


def run_side(side: str, a, data: Path, model_dir: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", side, "--work", str(a.work), "--data", str(data), "--model",
           str(model_dir), "--steps", str(a.steps), "--batch", str(a.batch), "--lr", str(a.lr), "--beta",
           str(a.beta), "--max-length", str(a.max_length), "--threads", str(a.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "TOKENIZERS_PARALLELISM": "false",
           "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{side} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def step_times(r: dict, warmup: int) -> list[float]:
    ends = r["ends"]
    return [b - a for a, b in zip(ends[warmup - 1:], ends[warmup:])] if warmup > 0 else \
        [ends[0] - r["start"]] + [b - a for a, b in zip(ends, ends[1:])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    p.add_argument("--rounds", type=int, default=2, help="interleaved repetitions of the three trainers")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--vocab", type=int, default=3000)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--sides", default=",".join(SIDES))
    p.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)

    sides = a.sides.split(",")
    with tempfile.TemporaryDirectory(prefix="prefzoo-bench-") as work:
        a.work = work
        data, model_dir = make_inputs(Path(work), rows=a.steps * a.batch, vocab=a.vocab)
        from transformers import AutoModelForCausalLM

        n_params = sum(t.numel() for t in AutoModelForCausalLM.from_pretrained(model_dir).parameters())
        tokens = tokens_per_step(data, model_dir, a.batch, a.steps, a.max_length)
        runs: dict[str, list[dict]] = {s: [] for s in sides}
        for rnd in range(a.rounds):
            for side in sides:
                t0 = time.time()
                runs[side].append(run_side(side, a, data, model_dir))
                print(f"round {rnd + 1}/{a.rounds} {side:15s} done in {time.time() - t0:5.1f} s", flush=True)

    load = os.getloadavg()[0]
    print(f"\nmodel: Llama {n_params / 1e6:.2f}M params ({MODEL['num_hidden_layers']} layers, hidden "
          f"{MODEL['hidden_size']}, vocab {a.vocab + 6}); batch {a.batch} pairs, max_length {a.max_length}, fp32, "
          f"lr {a.lr} constant; {a.steps} steps, {a.warmup} warm-up, {a.rounds} rounds; torch threads {a.threads}; "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    timed_tokens = statistics.mean(tokens[a.warmup:])
    summary = {}
    for side in sides:
        times = [t for r in runs[side] for t in step_times(r, a.warmup)]
        med = statistics.median(times)
        losses = runs[side][0]["losses"]
        summary[side] = {"median_step_s": med, "steps_per_s": 1 / med, "tokens_per_s": timed_tokens / med,
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[side]),
                         "loss_first": losses[0], "loss_last": losses[-1], "losses": losses[:5]}
    header = f"{'side':15s} {'median step':>12s} {'steps/s':>8s} {'tokens/s':>9s} {'peak RSS':>9s}  loss[0] .. loss[-1]"
    print(header)
    for side, s in summary.items():
        print(f"{side:15s} {s['median_step_s'] * 1000:9.1f} ms {s['steps_per_s']:8.2f} {s['tokens_per_s']:9.0f} "
              f"{s['peak_rss_mb']:6.0f} MB  {s['loss_first']:.6f} .. {s['loss_last']:.4f}")
    ratios = {}
    if "ours" in summary:
        for peer in (s for s in sides if s != "ours"):
            ratios[peer] = {"speedup": summary[peer]["median_step_s"] / summary["ours"]["median_step_s"],
                            "rss_ratio": summary["ours"]["peak_rss_mb"] / summary[peer]["peak_rss_mb"],
                            "max_abs_loss_diff": max(abs(x - y) for x, y in
                                                     zip(runs["ours"][0]["losses"], runs[peer][0]["losses"]))}
            print(f"ours vs {peer:15s} speed-up {ratios[peer]['speedup']:.2f}x, peak RSS ratio "
                  f"{ratios[peer]['rss_ratio']:.2f}, max |loss diff| over {a.steps} steps "
                  f"{ratios[peer]['max_abs_loss_diff']:.2e}")
    ln2 = math.log(2)
    print(json.dumps({"model_params": n_params, "steps": a.steps, "warmup": a.warmup, "rounds": a.rounds,
                      "batch": a.batch, "max_length": a.max_length, "threads": a.threads, "load_avg": load,
                      "ln2_step0": {s: abs(v["loss_first"] - ln2) < 1e-4 for s, v in summary.items()},
                      "sides": {s: {k: v for k, v in d.items() if k != "losses"} for s, d in summary.items()},
                      "ratios": ratios}))


if __name__ == "__main__":
    main()
