"""The real model: a LoRA DPO step and a LoRA GRPO step on SmolLM2-135M-Instruct, prefzoo against TRL at
its fastest correct CPU setting, with a minimal hand-written torch loop as the lower bound for DPO.

DPO (8 pairs = 16 sequences of 128 tokens, every sequence cut at ``--max-length``; prompts from prefzoo's
real prompt suite, chat template applied; LoRA r=16 alpha 32 on all linear layers, no dropout, adapters
drawn under seed 0 on every side; lr 1e-4 constant, clipping at 1.0, beta 0.1):

    ours          prefzoo's offline loop (``dpo_vs_trl.py``'s worker): reference log-probs precomputed once
                  (adapters disabled), fp32, plain AdamW
    trl-best      DPOTrainer with ``peft_config``: fp32, no gradient checkpointing, precompute_ref_log_probs,
                  the fastest AdamW measured on the LoRA parameters (``--best-optim``)
    torch-min     the lower bound: tokenized once, then per step one forward of [chosen; rejected] (LM head
                  over the completion span), log-softmax, gather, the DPO loss, backward, clip, AdamW (the
                  same variant as trl-best); the reference log-probs precomputed once like the others
    (optional: trl-default, and torch-min-liveref: the reference forward inside every step)

GRPO (4 prompts x 4 generations x 32 new tokens; LoRA as above, reference = adapters disabled; beta 0.04,
TRL's use_bias_correction_kl off; a rule reward, 1 at 15 words falling linearly either side):

    ours          prefzoo's online loop (``rloo_vs_trl.py``'s worker, algorithm grpo)
    trl-best      GRPOTrainer with ``peft_config``: fp32, no gradient checkpointing, the same AdamW
    (optional: trl-default)

Each side is its own process; rounds interleave every side of both parts; step time is the gap between
step ends after ``--warmup`` steps (wall clock and CPU time); precompute is excluded from the step times on
every DPO side and printed beside them. Defaults (1 round of the five sides, 4 DPO and 4 GRPO steps each, 1
warm-up) took 5.5 minutes at load average 2 on this 2-core machine; with 2 threads a busy machine slows a
step several-fold (a DPO step of ours took 8.2 s at load 2 and 43 s at load 4), so compare rounds run
together. Run from the repo root:

    .venv/bin/python benchmarks/smollm2_vs_trl.py
    .venv/bin/python benchmarks/smollm2_vs_trl.py --rounds 2 --steps 6 --dpo-sides ours,trl-best,torch-min,trl-default

The last line is JSON with ``dpo_speedup_vs_trl_best``, ``grpo_speedup_vs_trl_best``, ``dpo_vs_torch_min``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dpo_vs_trl  # noqa: E402
import rloo_vs_trl  # noqa: E402
from dpo_vs_trl import (OPTIMS, ROOT, Stamps, code_state, env_of, gaps, interleave, load_avg, median_step,  # noqa: E402
                        peak_rss_mb, per_step, peft_lora, pick_optimizer, run_worker, worker_env)

ALIAS = "smollm2-135m-instruct"
ADAMW = {"plain": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def model_dir() -> str:
    sys.path.insert(0, str(ROOT))
    import prefzoo.models  # noqa: F401  (registers the offline aliases)
    from prefzoo.models.policy import ALIASES

    return str(ALIASES[ALIAS]())


def write_pairs(path: Path, n: int) -> None:
    """``n`` pairs from the suite's train prompts (smollm2_dpo_step.py's texts), TRL's conversational format."""
    from smollm2_dpo_step import build_pairs

    with path.open("w") as f:
        for r in build_pairs(n):
            f.write(json.dumps({"prompt": [{"role": "user", "content": r["prompt"]}],
                                "chosen": [{"role": "assistant", "content": r["chosen"]}],
                                "rejected": [{"role": "assistant", "content": r["rejected"]}]}) + "\n")


def grpo_work(work: str, path: str, steps: int) -> dict:
    """The GRPO part's spec for rloo_vs_trl.py's workers: 64 suite prompts, 4 x 4 x 32 tokens, LoRA r=16."""
    from prefzoo.worlds.suite import suite_prompts

    return dict(work=work, model=path, steps=steps, algo="grpo",
                prompts=[q["prompt"] for q in suite_prompts("train", n=64, seed=0)],
                work_overrides=dict(group=4, new_tokens=32, batch=16, lr=1e-4, reward="concise", lora=16,
                                    max_prompt_length=128))


# ----------------------------------------------------------------------------- the minimal torch loop
def encode_batch(tok, rows: list[dict], max_length: int):
    """[chosen rows; rejected rows] right-padded: input ids, attention mask, completion mask."""
    import torch

    seqs = []  # (tokens cut at max_length, prompt length)
    for key in ("chosen", "rejected"):
        for r in rows:
            p = tok(tok.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False),
                    add_special_tokens=False).input_ids
            c = tok(r[key][0]["content"], add_special_tokens=False).input_ids + [tok.eos_token_id]
            seqs.append(((p + c)[:max_length], len(p)))
    T = max(len(s) for s, _ in seqs)
    ids = torch.full((len(seqs), T), tok.pad_token_id or tok.eos_token_id, dtype=torch.long)
    attn, mask = torch.zeros_like(ids), torch.zeros_like(ids)
    for i, (s, n_prompt) in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        attn[i, :len(s)] = 1
        mask[i, n_prompt:len(s)] = 1
    return ids, attn, mask


def seq_logps(model, ids, attn, mask):
    """Summed completion log-probs per row; the LM head over the span from one before the first completion."""
    import torch

    first = int(mask.float().argmax(-1).min())
    keep = ids.shape[1] - first + 1
    logits = model(input_ids=ids, attention_mask=attn, use_cache=False, logits_to_keep=keep).logits[:, :-1]
    lp = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, -keep + 1:].unsqueeze(-1)).squeeze(-1)
    return (lp * mask[:, -keep + 1:]).sum(-1)


def worker_min(s: dict, live_ref: bool) -> dict:
    import torch
    import torch.nn.functional as F
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(s["model"])
    model = AutoModelForCausalLM.from_pretrained(s["model"], dtype=torch.float32)
    torch.manual_seed(0)
    model = get_peft_model(model, peft_lora(s["lora"]))
    model.train()
    rows = [json.loads(line) for line in Path(s["data"]).read_text().splitlines()]
    b = s["batch"]
    batches = [encode_batch(tok, rows[i * b:(i + 1) * b], s["max_length"]) for i in range(s["steps"])]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=s["lr"], **ADAMW[s["best_optim"]])

    def reference(batch):
        with torch.no_grad(), model.disable_adapter():
            return seq_logps(model, *batch)

    t = time.perf_counter()
    refs = [None] * len(batches) if live_ref else [reference(x) for x in batches]
    pre_s = time.perf_counter() - t
    stamps, losses = Stamps(), []
    for step, batch in enumerate(batches):
        pol = seq_logps(model, *batch)
        ref = reference(batch) if live_ref else refs[step]
        z = s["beta"] * ((pol[:b] - ref[:b]) - (pol[b:] - ref[b:]))
        loss = -F.logsigmoid(z).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        stamps()
    return {**stamps.result(), "losses": losses, "precompute_s": pre_s,
            "settings": {"reference": "every step" if live_ref else "precomputed once", "optim": s["best_optim"]}}


def worker(side: str, spec: dict) -> None:
    worker_env(spec["threads"])
    out = worker_min(spec, side == "torch-min-liveref")
    out["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver
def run_one(label: str, a, dpo_spec: dict, grpo_spec: dict) -> dict:
    part, side = label.split(":")
    if part == "grpo":
        return run_worker(rloo_vs_trl.__file__, side, grpo_spec, a.threads)
    script = __file__ if side.startswith("torch-min") else dpo_vs_trl.__file__
    return run_worker(script, side, dpo_spec, a.threads)


def dpo_table(runs: dict, a) -> dict:
    out = {}
    print(f"\nDPO, LoRA r=16: {a.pairs} pairs x {a.max_length} tokens per step, {a.steps} steps ({a.warmup} warm-up) x "
          f"{a.rounds} rounds")
    print(f"{'side':18s} {'wall/step':>9s} {'CPU/step':>9s} {'sys/step':>9s} {'faults':>8s} {'precompute':>10s} "
          f"{'peak RSS':>9s}  losses")
    for side, rs in runs.items():
        out[side] = {"median_step_s": median_step(rs, a.warmup), "median_cpu_s": median_step(rs, a.warmup, "cpu_ends"),
                     "sys_s_per_step": per_step(rs, a.warmup, "sys_ends"),
                     "faults_per_step": per_step(rs, a.warmup, "fault_ends"),
                     "precompute_s": statistics.median(r["precompute_s"] for r in rs),
                     "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "losses": rs[0]["losses"],
                     "settings": rs[0]["settings"], "steps_timed": sum(len(gaps(r["ends"], a.warmup)) for r in rs)}
        o = out[side]
        print(f"{side:18s} {o['median_step_s']:7.2f} s {o['median_cpu_s']:7.2f} s {o['sys_s_per_step']:7.2f} s "
              f"{o['faults_per_step'] / 1000:7.1f}k {o['precompute_s']:9.2f}s {o['peak_rss_mb']:6.0f} MB  "
              f"{[round(x, 6) for x in o['losses']]}  {o['settings']}")
    if "ours" in out:
        for peer in (s for s in out if s != "ours"):
            diff = max(abs(x - y) for x, y in zip(out["ours"]["losses"], out[peer]["losses"]))
            out[peer]["ours_speedup"] = out[peer]["median_step_s"] / out["ours"]["median_step_s"]
            out[peer]["ours_speedup_cpu"] = out[peer]["median_cpu_s"] / out["ours"]["median_cpu_s"]
            out[peer]["max_abs_loss_diff"] = diff
            print(f"DPO ours vs {peer:18s} {out[peer]['ours_speedup']:.2f}x faster per step (CPU time "
                  f"{out[peer]['ours_speedup_cpu']:.2f}x; ours "
                  f"{out['ours']['median_step_s']:.2f} s, {peer} {out[peer]['median_step_s']:.2f} s), "
                  f"max |loss diff| {diff:.2e}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=4, help="DPO steps per run, warm-up included")
    p.add_argument("--grpo-steps", type=int, default=4, help="GRPO steps per run, warm-up included")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--dpo-sides", default="ours,trl-best,torch-min")
    p.add_argument("--grpo-sides", default="ours,trl-best")
    p.add_argument("--best-optim", choices=("auto",) + OPTIMS, default="auto")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable for every side")
    p.add_argument("--ours-env", action="append", default=[], metavar="KEY=VALUE", help="one for ours only")
    p.add_argument("--worker", choices=("torch-min", "torch-min-liveref"), help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, json.loads(a.spec))
    load0, path = load_avg(), model_dir()
    with tempfile.TemporaryDirectory(prefix="prefzoo-bench-") as work:
        data = Path(work) / "pairs.jsonl"
        write_pairs(data, a.steps * a.pairs)
        dpo_spec = dict(work=work, data=str(data), model=path, steps=a.steps, batch=a.pairs, lr=1e-4, beta=0.1,
                        max_length=a.max_length, lora=16, env=env_of(a.env),
                        ours_env=env_of(a.ours_env))
        dpo_spec["best_optim"], probe = pick_optimizer(dpo_vs_trl.__file__, dpo_spec, a.threads, a.best_optim)
        grpo_spec = {**grpo_work(work, path, a.grpo_steps), "best_optim": dpo_spec["best_optim"],
                     "env": dpo_spec["env"], "ours_env": dpo_spec["ours_env"]}
        labels = [f"dpo:{s}" for s in a.dpo_sides.split(",") if s] + [f"grpo:{s}" for s in a.grpo_sides.split(",") if s]
        runs = interleave(labels, a.rounds, lambda label: run_one(label, a, dpo_spec, grpo_spec))
    load1 = load_avg()
    by_part = {part: {lab.split(":")[1]: rs for lab, rs in runs.items() if lab.startswith(part + ":")}
               for part in ("dpo", "grpo")}
    print(f"\n{ALIAS}, torch threads {a.threads}; load average {load0} at start, {load1} at end, on "
          f"{os.cpu_count()} CPUs; AdamW for trl-best and torch-min: {dpo_spec['best_optim']} {probe or ''}")
    dpo = dpo_table(by_part["dpo"], a) if by_part["dpo"] else {}
    grpo_summary = rloo_vs_trl.summarize(by_part["grpo"], a.warmup) if by_part["grpo"] else {}
    grpo = rloo_vs_trl.report(grpo_summary, f"GRPO, LoRA r=16: 4 prompts x 4 generations x 32 new tokens, "
                              f"{a.grpo_steps} steps ({a.warmup} warm-up) x {a.rounds} rounds") if grpo_summary else {}
    result = {"benchmark": "smollm2_vs_trl", "code": code_state(), "model": ALIAS, "threads": a.threads,
              "cpu_count": os.cpu_count(),
              "load_avg_start": load0, "load_avg_end": load1, "env": dpo_spec["env"], "ours_env": dpo_spec["ours_env"],
              "rounds": a.rounds, "dpo_steps": a.steps, "grpo_steps": a.grpo_steps, "warmup": a.warmup,
              "pairs": a.pairs, "max_length": a.max_length,
              "trl_best_optim": dpo_spec["best_optim"], "optim_probe_ms": probe, "dpo": dpo, "grpo": grpo_summary}
    for key, peer in (("dpo_speedup_vs_trl_best", "trl-best"), ("dpo_speedup_vs_trl_default", "trl-default"),
                      ("dpo_vs_torch_min", "torch-min"), ("dpo_vs_torch_min_liveref", "torch-min-liveref")):
        if "ours_speedup" in dpo.get(peer, {}):
            result[key] = dpo[peer]["ours_speedup"]
            result[key + "_cpu"] = dpo[peer]["ours_speedup_cpu"]
    for key, peer in (("grpo_speedup_vs_trl_best", "trl-best"), ("grpo_speedup_vs_trl_default", "trl-default")):
        if peer in grpo:
            result[key] = grpo[peer]["speedup"]
            result[key + "_cpu"] = grpo[peer]["speedup_cpu"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
