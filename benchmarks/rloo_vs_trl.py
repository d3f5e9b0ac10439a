"""prefzoo's RLOO (or GRPO) against TRL's RLOOTrainer (GRPOTrainer) at its defaults and at its fastest
correct setting on this CPU.

Equal work on every side: the same locally built tiny Llama (saved once, loaded by each side), the same
prompts (recipes/data/tiny_pairs.jsonl, chat template applied), the same rule reward (the fraction of
"blue" in the response), group size 4, 16 new tokens, 16 completions per step (4 prompts x 4),
temperature 1, top-p 1, no top-k, one optimizer step per rollout batch (1 PPO-style epoch, 1
minibatch), lr 1e-5 constant (the policy, and with it the completion lengths, barely move during the
run, so each side does the same expected work per step), clipping at 1.0, the same KL weight (RLOO 0.05
in the reward; GRPO 0.04 k3 in the loss, with TRL's ``use_bias_correction_kl`` off so that its loss is
the paper's, as prefzoo's is).

    ours          prefzoo's online loop: its KV-cache decoder, old log-probs from the sampler, fp32,
                  plain AdamW
    trl-default   RLOOConfig / GRPOConfig with only the work set: bf16 autocast, gradient checkpointing
                  and fused AdamW are TRL's defaults and stay (GRPO's default beta 0 is set to 0.04: a
                  different algorithm otherwise)
    trl-best      fp32, no gradient checkpointing, the fastest AdamW measured on the model's parameters
                  at this thread count (see dpo_vs_trl.py); ``cache_implementation`` as ``--trl-cache``
                  (default: TRL's, the dynamic cache; "static" cost the same CPU time here, 160 vs 161 ms
                  a step)

By design TRL's RLOO runs three forwards a step (generation aside): old log-probs, reference, training;
prefzoo's two (reference, training; old log-probs come from the sampler). TRL's GRPO with one iteration
runs two, like ours. Samples differ (each side has its own sampler and RNG), so loss trajectories are not
comparable; what is compared is the work (completion and prompt tokens per step, from each side's log)
and the mean reward and completion length over the run. Run from the repo root:

    .venv/bin/python benchmarks/rloo_vs_trl.py                      # 30 steps, 5 warm-up, 2 rounds, 1 thread
    .venv/bin/python benchmarks/grpo_vs_trl.py --rounds 3

The last line is JSON (``speedup_vs_trl_best``, ``speedup_vs_trl_default``, settings, load, threads).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dpo_vs_trl import (OPTIMS, ROOT, Stamps, code_state, env_of, gaps, interleave, load_avg, median_step,  # noqa: E402
                        peak_rss_mb, per_round, per_step, peft_lora, pick_optimizer, print_optim_probe, run_worker,
                        trl_clock, trl_optim, trl_settings, use_foreach, worker_env)

PAIRS = ROOT / "recipes" / "data" / "tiny_pairs.jsonl"
SIDES = ("ours", "trl-default", "trl-best", "ours-fused", "ours-shared")  # opt-in: train.fused_adamw, share_prompts
GROUP, NEW_TOKENS, BATCH = 4, 16, 16
LR = 1e-5  # small: the policy, and with it the completions' lengths, barely move, so every side does the same work
BETA = {"rloo": 0.05, "grpo": 0.04}
TINY = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=4)  # ~1.7M parameters with this vocabulary


def blue_fraction(prompt, response: str) -> float:
    words = response.split()
    return sum(w == "blue" for w in words) / len(words) if words else 0.0


def concise(prompt, response: str) -> float:
    """1 at 15 words, falling linearly either side (the SmolLM2 benchmark's rule reward)."""
    return 1.0 - abs(len(response.split()) - 15) / 15


REWARDS = {"blue": blue_fraction, "concise": concise}


def work_of(spec: dict) -> dict:
    """The work every side does: the tiny benchmark's defaults, overridden by the spec (SmolLM2)."""
    return {"group": GROUP, "new_tokens": NEW_TOKENS, "batch": BATCH, "lr": LR, "beta": BETA[spec["algo"]],
            "reward": "blue", "lora": 0, "max_prompt_length": 64, **spec.get("work_overrides", {})}


def build_model(out: Path) -> int:
    from prefzoo.models.tiny import tiny_llama, word_tokenizer, words_of

    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    tok = word_tokenizer(words_of(r[k] for r in rows for k in ("prompt", "chosen", "rejected")))
    model = tiny_llama(len(tok), seed=0, **TINY)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def prompts() -> list[str]:
    return [json.loads(line)["prompt"] for line in PAIRS.read_text().splitlines()]


# ----------------------------------------------------------------------------- workers
def worker_ours(s: dict, on_step=None) -> dict:
    """prefzoo's side; ``on_step(metrics)``, if given, is called at each logged step end (profile_step.py)."""
    import datasets
    import torch

    from prefzoo.algos.grpo import GRPO
    from prefzoo.algos.rloo import RLOO
    from prefzoo.feedback.base import RuleFeedback
    from prefzoo.job import Job
    from prefzoo.models.policy import Policy
    from prefzoo.recipe import LoraConfig, ModelConfig, TrainConfig

    w = work_of(s)
    policy = Policy.load(ModelConfig(base=s["model"], max_length=w["max_prompt_length"] + w["new_tokens"]))
    if w["lora"]:
        torch.manual_seed(0)
        policy.add_lora(LoraConfig(r=w["lora"], alpha=2 * w["lora"]))
    stamps, rows = Stamps(), []

    class Clock:  # a Tracker stand-in
        def log(self, step, metrics):
            stamps()
            if on_step:
                on_step(metrics)
            rows.append({k: float(v) for k, v in metrics.items()})
            return {"step": step, **metrics}

        def close(self):
            pass

    algo_cls = {"rloo": RLOO, "grpo": GRPO}[s["algo"]]
    cfg = algo_cls.Config(reward="judge", steps=s["steps"], prompts_per_step=w["batch"] // w["group"],
                          samples_per_prompt=w["group"], max_new_tokens=w["new_tokens"], beta=w["beta"],
                          max_prompt_length=w["max_prompt_length"], share_prompts=bool(s.get("share_prompts")))
    out = Path(tempfile.mkdtemp(prefix="ours-", dir=s["work"]))
    fused = bool(s.get("fused_adamw"))  # the ours-fused side: train.fused_adamw (opt-in, floats move by rounding)
    job = Job(policy=policy, train=TrainConfig(lr=w["lr"], progress=False, max_grad_norm=1.0, fused_adamw=fused),
              out_dir=out,
              data={"prompts": datasets.Dataset.from_dict({"prompt": s.get("prompts") or prompts()})},
              feedback=RuleFeedback(REWARDS[w["reward"]]), tracker=Clock())
    algo_cls(cfg).run(job)
    return {**stamps.result(), "reward": [r["reward_mean"] for r in rows],
            "completion_tokens": [r["response_length"] * w["batch"] for r in rows],
            "all_tokens": [r["tokens_per_s"] * r["step_s"] for r in rows],
            "shares": {k: [r[f"{k}_share"] for r in rows] for k in ("generate", "score", "train")},
            "settings": {"precision": "fp32", "gradient_checkpointing": False,
                         "optim": "torch AdamW (fused)" if fused else "torch AdamW (single-tensor loop)",
                         "old_logps": "from the sampler", "rollout": "prefzoo KV-cache loop",
                         "share_prompts": bool(s.get("share_prompts"))}}


def worker_trl(s: dict, side: str) -> dict:
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    w = work_of(s)
    tok = AutoTokenizer.from_pretrained(s["model"])
    model = AutoModelForCausalLM.from_pretrained(s["model"], dtype=torch.float32)
    work = dict(output_dir=tempfile.mkdtemp(prefix="trl-", dir=s["work"]), per_device_train_batch_size=w["batch"],
                num_generations=w["group"], max_completion_length=w["new_tokens"], max_steps=s["steps"],
                learning_rate=w["lr"], beta=w["beta"], temperature=1.0, top_p=1.0, use_cpu=True, report_to="none",
                save_strategy="no", logging_steps=1, disable_tqdm=True, max_grad_norm=1.0, seed=0,
                lr_scheduler_type="constant")
    if s["algo"] == "grpo":
        work["use_bias_correction_kl"] = False  # the paper's k3 term, as prefzoo's GRPO
    variant = "default" if side == "trl-default" else s["best_optim"]
    if variant != "default":
        work.update(bf16=False, gradient_checkpointing=False, **trl_optim(variant))
        if s.get("trl_cache"):
            work["cache_implementation"] = s["trl_cache"]
    config_cls, trainer_cls = (RLOOConfig, RLOOTrainer) if s["algo"] == "rloo" else (GRPOConfig, GRPOTrainer)
    cfg = config_cls(**work)
    rows = [[{"role": "user", "content": p}] for p in s.get("prompts") or prompts()]
    ds = datasets.Dataset.from_dict({"prompt": rows})
    clock, reward = trl_clock(), REWARDS[w["reward"]]

    def trl_reward(prompts, completions, **kw):
        texts = [c if isinstance(c, str) else "".join(m["content"] for m in c) for c in completions]
        return [reward(p, c) for p, c in zip(prompts, texts)]

    torch.manual_seed(0)  # the LoRA adapters (if any) are drawn inside the trainer
    trainer = trainer_cls(model=model, reward_funcs=trl_reward, args=cfg, train_dataset=ds, processing_class=tok,
                          callbacks=[clock], peft_config=peft_lora(w["lora"]) if w["lora"] else None)
    use_foreach(trainer, variant)
    trainer.train()
    logs = [r for r in clock.logs if "reward" in r]
    totals = [r["num_tokens"] for r in logs]
    return {**clock.stamps.result(), "reward": [r["reward"] for r in logs],
            "completion_tokens": [r["completions/mean_length"] * w["batch"] for r in logs],
            "all_tokens": [b - a for a, b in zip([0.0] + totals, totals)], "settings": trl_settings(cfg, variant)}


def worker(side: str, spec: dict) -> None:
    worker_env(spec["threads"])
    if side == "optim-probe":
        return print_optim_probe(spec["model"], work_of(spec)["lora"])
    if side.startswith("ours"):
        out = worker_ours({**spec, "fused_adamw": side == "ours-fused", "share_prompts": side == "ours-shared"})
    else:
        out = worker_trl(spec, side)
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver
def summarize(runs: dict, warmup: int) -> dict:
    summary = {}
    for side, rs in runs.items():
        def mean_of(key, rs=rs):
            return statistics.mean(x for r in rs for x in r[key][warmup:])

        summary[side] = {"median_step_s": median_step(rs, warmup), "median_cpu_s": median_step(rs, warmup, "cpu_ends"),
                         "sys_s_per_step": per_step(rs, warmup, "sys_ends"),
                         "faults_per_step": per_step(rs, warmup, "fault_ends"), "rounds": per_round(rs, warmup),
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                         "reward_mean": mean_of("reward"), "completion_tokens_per_step": mean_of("completion_tokens"),
                         "all_tokens_per_step": mean_of("all_tokens"), "settings": rs[0]["settings"],
                         "steps_timed": sum(len(gaps(r["ends"], warmup)) for r in rs)}
        if "shares" in rs[0]:
            summary[side]["shares"] = {k: statistics.median(x for r in rs for x in r["shares"][k][warmup:])
                                       for k in rs[0]["shares"]}
    return summary


def report(summary: dict, header: str) -> dict:
    """Print the table and the ratios of ours against each peer; return the ratios."""
    print("\n" + header)
    print(f"{'side':12s} {'wall/step':>11s} {'CPU/step':>11s} {'sys/step':>9s} {'faults':>8s} {'peak RSS':>9s} "
          f"{'compl. tok':>10s} {'all tok':>8s} "
          f"{'reward':>7s}  settings")
    for side, s in summary.items():
        print(f"{side:12s} {s['median_step_s'] * 1000:8.1f} ms {s['median_cpu_s'] * 1000:8.1f} ms "
              f"{s['sys_s_per_step'] * 1000:6.0f} ms {s['faults_per_step'] / 1000:7.1f}k "
              f"{s['peak_rss_mb']:6.0f} MB {s['completion_tokens_per_step']:10.1f} {s['all_tokens_per_step']:8.1f} "
              f"{s['reward_mean']:7.3f}  {s['settings']}")
    for side, v in summary.items():
        print(f"{side:12s} per round: wall {v['rounds']['wall_ms']} ms, CPU {v['rounds']['cpu_ms']} ms")
    if "shares" in summary.get("ours", {}):
        shares = summary["ours"]["shares"]
        print("ours, median share of a step: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))
    ratios = {}
    for peer in (s for s in summary if s != "ours" and "ours" in summary):
        ours, them = summary["ours"], summary[peer]
        ratios[peer] = {"speedup": them["median_step_s"] / ours["median_step_s"],
                        "speedup_cpu": them["median_cpu_s"] / ours["median_cpu_s"],
                        "speedup_per_token": (them["median_step_s"] / them["all_tokens_per_step"])
                        / (ours["median_step_s"] / ours["all_tokens_per_step"]),
                        "rss_ratio": ours["peak_rss_mb"] / them["peak_rss_mb"]}
        r = ratios[peer]
        print(f"ours vs {peer:12s} {r['speedup']:.2f}x faster per step (CPU time {r['speedup_cpu']:.2f}x; per "
              f"prompt+completion token {r['speedup_per_token']:.2f}x), peak RSS ratio {r['rss_ratio']:.2f}")
    return ratios


def main(algo: str = "rloo") -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30, help="steps per run, warm-up included")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="OMP/torch threads for every side")
    p.add_argument("--sides", default=",".join(SIDES[:3]))  # + ours-fused, ours-shared: opt-in
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable for every side")
    p.add_argument("--ours-env", action="append", default=[], metavar="KEY=VALUE", help="one for ours only")
    p.add_argument("--best-optim", choices=("auto",) + OPTIMS, default="auto")
    p.add_argument("--trl-cache", default="", help="trl-best's cache_implementation (e.g. static); empty: TRL's")
    p.add_argument("--algo", default=algo, choices=sorted(BETA))
    p.add_argument("--worker", choices=SIDES + ("optim-probe",), help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, json.loads(a.spec))
    sys.path.insert(0, str(ROOT))
    sides, load0 = a.sides.split(","), load_avg()
    with tempfile.TemporaryDirectory(prefix="prefzoo-bench-") as work:
        model_dir = Path(work) / "model"
        n_params = build_model(model_dir)
        spec = dict(work=work, model=str(model_dir), steps=a.steps, algo=a.algo, trl_cache=a.trl_cache,
                    env=env_of(a.env),
                    ours_env=env_of(a.ours_env))
        spec["best_optim"], probe = pick_optimizer(__file__, spec, a.threads, a.best_optim)
        runs = interleave(sides, a.rounds, lambda side: run_worker(__file__, side, spec, a.threads))
    load1 = load_avg()
    summary = summarize(runs, a.warmup)
    w = work_of(spec)
    ratios = report(summary, f"{a.algo}: Llama {n_params / 1e6:.2f}M params; {w['batch'] // w['group']} prompts x "
                    f"{w['group']} samples x {w['new_tokens']} new tokens per step, {a.steps} steps ({a.warmup} "
                    f"warm-up) x {a.rounds} rounds; torch threads {a.threads}; load average {load0} at start, "
                    f"{load1} at end, on {os.cpu_count()} CPUs")
    result = {"benchmark": f"{a.algo}_vs_trl", "code": code_state(), "model_params": n_params, "steps": a.steps,
              "warmup": a.warmup,
              "rounds": a.rounds, "threads": a.threads, "cpu_count": os.cpu_count(), "load_avg_start": load0,
              "load_avg_end": load1, "work": w, "env": spec["env"], "ours_env": spec["ours_env"], "sides": summary,
              "ratios": ratios, "trl_best_optim": spec["best_optim"], "optim_probe_ms": probe}
    for peer, tag in (("trl-best", "best"), ("trl-default", "default")):
        if peer in ratios:
            result[f"speedup_vs_trl_{tag}"] = ratios[peer]["speedup"]
            result[f"speedup_cpu_vs_trl_{tag}"] = ratios[peer]["speedup_cpu"]
    trl_sides = [peer for peer in ("trl-best", "trl-default") if peer in ratios]
    if trl_sides:  # on 256-wide layers TRL's bf16 default is sometimes its faster setting: ours against whichever was
        fastest = min(trl_sides, key=lambda peer: summary[peer]["median_step_s"])
        result["trl_fastest_side"] = fastest
        result["speedup_vs_trl_fastest"] = ratios[fastest]["speedup"]
        print(f"ours vs TRL's fastest side in this run ({fastest}): {ratios[fastest]['speedup']:.2f}x faster per step")
    for side, tag, what in (("ours-fused", "fused", "train.fused_adamw"), ("ours-shared", "shared", "share_prompts")):
        if side in summary and "trl-best" in summary:  # an opt-in setting against TRL's best and its fastest side
            f = summary[side]
            for peer, key in (("trl-best", "best"), (fastest, "fastest")):
                result[f"speedup_{tag}_vs_trl_{key}"] = summary[peer]["median_step_s"] / f["median_step_s"]
            result[f"speedup_cpu_{tag}_vs_trl_best"] = summary["trl-best"]["median_cpu_s"] / f["median_cpu_s"]
            print(f"{side} ({what}) vs trl-best {result[f'speedup_{tag}_vs_trl_best']:.2f}x faster per step (CPU time "
                  f"{result[f'speedup_cpu_{tag}_vs_trl_best']:.2f}x), vs TRL's fastest side "
                  f"{result[f'speedup_{tag}_vs_trl_fastest']:.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
