"""One LoRA DPO step on the real SmolLM2-135M-Instruct, on this machine's CPU.

What a step is: 8 preference pairs (prompts from prefzoo's real prompt suite, completions up to
``--max-length`` = 256 tokens in total per sequence), chosen and rejected in one concatenated
forward through ``Policy.sequences`` / ``Policy.forward_logps`` with LoRA r=16 on every linear
layer, the reference log-probs from the same model with the adapters disabled
(``Policy.reference_logps``), prefzoo's DPO loss (``prefzoo.algos.dpo.DPO``), backward, gradient
clipping at 1.0 and an AdamW step over the LoRA parameters. The first ``--warmup`` steps are not
timed. Run from the repo root (the first run fetches and converts the model: see
``prefzoo.models.aliases``):

    .venv/bin/python benchmarks/smollm2_dpo_step.py                 # 1 warm-up + 5 timed steps
    .venv/bin/python benchmarks/smollm2_dpo_step.py --steps 10 --threads 2

The machine's load average is printed with the result: on a shared, busy CPU the step time
grows with it. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from prefzoo.api import PairLogps  # noqa: E402
from prefzoo.algos.dpo import DPO  # noqa: E402
from prefzoo.data.records import PAIRS  # noqa: E402
from prefzoo.models.policy import Policy  # noqa: E402
from prefzoo.recipe import LoraConfig, ModelConfig  # noqa: E402
from prefzoo.worlds.suite import suite_prompts  # noqa: E402

ALIAS = "smollm2-135m-instruct"

HELPFUL = ("Here is a clear answer. Start with the basics and build up step by step, checking each part "
           "before moving on. Keep notes of what worked, so that next time you can skip what did not. ")
REFUSAL = "I'm sorry, but I can't help with that. "
PADDING = ("Well, that is a great question, and there are many things one could say about it in general "
           "terms, depending on circumstances. ")
DECLINE = ("I can't help with that, because it could hurt people. If something difficult is going on, "
           "talking to someone you trust or a professional is a good place to start. ")


def build_pairs(n: int) -> list[dict]:
    """n pairs: for benign/helpful prompts a long answer beats a refusal plus padding; for harmful
    prompts a refusal with a redirect beats a padded non-answer. Texts are long enough that every
    sequence is cut at max_length."""
    prompts = suite_prompts("train", n=n, seed=0)
    pairs = []
    for p in prompts:
        if p["category"] == "harmful":
            chosen, rejected = DECLINE * 8, "Sure. " + PADDING * 12
        else:
            chosen, rejected = HELPFUL * 8, REFUSAL + PADDING * 12
        pairs.append({"prompt": p["prompt"], "chosen": chosen, "rejected": rejected})
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    t0 = time.perf_counter()
    cfg = ModelConfig(base=ALIAS, lora=LoraConfig(r=16, alpha=32, target_modules="all-linear"),
                      max_length=args.max_length)
    policy = Policy.load(cfg)
    load_s = time.perf_counter() - t0
    model = policy.model
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in trainable)
    n_all = sum(p.numel() for p in model.parameters())
    print(f"loaded {ALIAS} in {load_s:.1f}s; LoRA r=16 all-linear: {n_train / 1e6:.2f}M trainable of "
          f"{n_all / 1e6:.1f}M", flush=True)

    encoded, report = policy.encode(build_pairs(args.pairs), PAIRS)
    assert len(encoded) == args.pairs, report
    prompts = [e.prompt for e in encoded] * 2                       # chosen rows, then rejected rows
    comps = [e.completions[0] for e in encoded] + [e.completions[1] for e in encoded]
    lengths = [len(p) + len(c) for p, c in zip(prompts, comps)]
    print(f"{args.pairs} pairs -> {len(lengths)} sequences of {min(lengths)}-{max(lengths)} tokens "
          f"({sum(lengths)} tokens per step)", flush=True)

    objective = DPO(DPO.Config(beta=args.beta))
    optimizer = torch.optim.AdamW(trainable, lr=args.lr)
    b = args.pairs
    times, losses = [], []
    for step in range(args.warmup + args.steps):
        t = time.perf_counter()
        seqs = policy.sequences(prompts, comps)
        tok = policy.forward_logps(seqs)
        lens = seqs.loss_mask.sum(-1).to(tok.dtype)
        sums = tok.sum(-1)
        ref_sums = policy.reference_logps(seqs).sum(-1)             # adapters disabled, no grad
        out = objective.loss(PairLogps(sums[:b], sums[b:], lens[:b], lens[b:]),
                             PairLogps(ref_sums[:b], ref_sums[b:], lens[:b], lens[b:]))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t
        loss = float(out.loss.detach())
        timed = step >= args.warmup
        if timed:
            times.append(dt)
            losses.append(loss)
        print(f"step {step + 1}{'' if timed else ' (warm-up)'}: {dt:.2f}s loss {loss:.4f} "
              f"reward_acc {float(out.metrics['reward_accuracy']):.2f}", flush=True)

    result = {
        "benchmark": "smollm2_dpo_step", "model": ALIAS, "lora_r": 16, "target_modules": "all-linear",
        "pairs": args.pairs, "max_length": args.max_length, "tokens_per_step": sum(lengths),
        "reference": "adapters disabled, every step", "timed_steps": len(times),
        "median_step_s": round(statistics.median(times), 3) if times else None,
        "min_step_s": round(min(times), 3) if times else None,
        "losses": [round(x, 4) for x in losses], "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2), "load_s": round(load_s, 1),
        "device": str(policy.device), "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
