"""Our ``rloo`` against TRL's RLOOTrainer: same tiny Llama (built here, saved locally), same prompts,
reward function, group size 4, 16 new tokens, 16 completions per step (4 prompts x 4), lr, beta.

Each side runs in its own subprocess (fresh interpreter, same thread count), does WARMUP steps, then
MEASURE steps; per-step wall time is the gap between consecutive step ends (generation, reward,
reference and policy forwards, backward and optimizer step all included). Peak RSS is the process's
ru_maxrss. Prints both, their ratios, our share of step time spent generating; the last line is JSON.

    .venv/bin/python benchmarks/rloo_vs_trl.py [--steps 30] [--warmup 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "recipes" / "data" / "tiny_pairs.jsonl"
GROUP, NEW_TOKENS, BATCH, LR, BETA = 4, 16, 16, 1e-3, 0.05
TINY = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=4)  # ~1.7M parameters with this vocabulary


def blue_fraction(prompt, response: str) -> float:
    words = response.split()
    return sum(w == "blue" for w in words) / len(words) if words else 0.0


def build_model(out: Path) -> None:
    from prefzoo.models.tiny import tiny_llama, word_tokenizer, words_of

    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    tok = word_tokenizer(words_of(r[k] for r in rows for k in ("prompt", "chosen", "rejected")))
    model = tiny_llama(len(tok), seed=0, **TINY)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def prompts() -> list[str]:
    return [json.loads(line)["prompt"] for line in PAIRS.read_text().splitlines()]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(model_dir: str, steps: int) -> dict:
    import datasets
    import torch

    from prefzoo.algos.rloo import RLOO
    from prefzoo.feedback.base import RuleFeedback
    from prefzoo.job import Job
    from prefzoo.models.policy import Policy
    from prefzoo.recipe import ModelConfig, TrainConfig

    torch.manual_seed(0)
    policy = Policy.load(ModelConfig(base=model_dir, max_length=128))
    ends, gens = [], []

    class Clock:
        def log(self, step, metrics):
            ends.append(time.perf_counter())
            gens.append(metrics["generate_s"])
            return {"step": step, **metrics}

        def close(self):
            pass

    cfg = RLOO.Config(reward="judge", steps=steps, prompts_per_step=BATCH // GROUP, samples_per_prompt=GROUP,
                      max_new_tokens=NEW_TOKENS, beta=BETA, max_prompt_length=64)
    with tempfile.TemporaryDirectory() as out:
        job = Job(policy=policy, train=TrainConfig(lr=LR, progress=False, max_grad_norm=1.0), out_dir=Path(out),
                  data={"prompts": datasets.Dataset.from_dict({"prompt": prompts()})},
                  feedback=RuleFeedback(blue_fraction), tracker=Clock())
        RLOO(cfg).run(job)
    return {"ends": ends, "generate_s": gens}


def run_trl(model_dir: str, steps: int) -> dict:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import RLOOConfig, RLOOTrainer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ends = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            ends.append(time.perf_counter())

    def reward(prompts, completions, **kw):
        texts = [c if isinstance(c, str) else "".join(m["content"] for m in c) for c in completions]
        return [blue_fraction(p, c) for p, c in zip(prompts, texts)]

    with tempfile.TemporaryDirectory() as out:
        args = RLOOConfig(output_dir=out, per_device_train_batch_size=BATCH, num_generations=GROUP,
                          max_completion_length=NEW_TOKENS, max_steps=steps, learning_rate=LR, beta=BETA,
                          temperature=1.0, top_p=1.0, use_cpu=True, report_to="none", save_strategy="no",
                          logging_steps=10_000, disable_tqdm=True, max_grad_norm=1.0, seed=0,
                          lr_scheduler_type="constant")
        ds = datasets.Dataset.from_dict({"prompt": [{"role": "user", "content": p} for p in prompts()]})
        ds = ds.map(lambda r: {"prompt": [r["prompt"]]})  # conversational: TRL applies the chat template
        trainer = RLOOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=ds, processing_class=tok,
                              callbacks=[Clock()])
        trainer.train()
    return {"ends": ends}


def child(side: str, model_dir: str, steps: int, warmup: int) -> None:
    res = (run_ours if side == "ours" else run_trl)(model_dir, steps)
    gaps = [b - a for a, b in zip(res["ends"], res["ends"][1:])][warmup - 1:]
    out = {"side": side, "median_step_s": statistics.median(gaps), "steps_measured": len(gaps),
           "peak_rss_mb": peak_rss_mb()}
    if "generate_s" in res:
        out["median_generate_s"] = statistics.median(res["generate_s"][warmup:])
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="OMP/torch threads for both sides")
    ap.add_argument("--child", choices=["ours", "trl"])
    ap.add_argument("--model-dir")
    a = ap.parse_args()
    if a.child:
        import torch

        torch.set_num_threads(a.threads)
        child(a.child, a.model_dir, a.steps + a.warmup, a.warmup)
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        build_model(Path(tmp))
        for side in ("ours", "trl"):
            proc = subprocess.run([sys.executable, __file__, "--child", side, "--model-dir", tmp, "--steps",
                                   str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)],
                                  capture_output=True, text=True, cwd=ROOT, env=env)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not line:
                sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
                raise SystemExit(f"{side} failed")
            results[side] = json.loads(line[-1][7:])
    ours, trl = results["ours"], results["trl"]
    summary = {"ours_step_s": ours["median_step_s"], "trl_step_s": trl["median_step_s"],
               "speedup": trl["median_step_s"] / ours["median_step_s"],
               "ours_peak_rss_mb": ours["peak_rss_mb"], "trl_peak_rss_mb": trl["peak_rss_mb"],
               "rss_ratio": ours["peak_rss_mb"] / trl["peak_rss_mb"],
               "ours_generate_share": ours["median_generate_s"] / ours["median_step_s"],
               "threads": a.threads, "steps_measured": ours["steps_measured"], "group": GROUP,
               "new_tokens": NEW_TOKENS, "completions_per_step": BATCH}
    print(f"ours: {ours['median_step_s'] * 1e3:.1f} ms/step  ({1 / ours['median_step_s']:.2f} steps/s), "
          f"peak RSS {ours['peak_rss_mb']:.0f} MB, generation {summary['ours_generate_share']:.0%} of the step")
    print(f"trl:  {trl['median_step_s'] * 1e3:.1f} ms/step  ({1 / trl['median_step_s']:.2f} steps/s), "
          f"peak RSS {trl['peak_rss_mb']:.0f} MB")
    print(f"speed-up {summary['speedup']:.2f}x, memory ratio {summary['rss_ratio']:.2f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
