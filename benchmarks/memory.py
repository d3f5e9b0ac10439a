"""Peak memory of `dpo` and `ppo` under each memory switch, on a tiny Llama built locally.

Every configuration runs in a fresh Python process (peak memory is a high-water mark: it never goes
down, so configurations cannot share a process). Each child runs the real loops through
``prefzoo.runner.run_recipe`` on ``recipes/tiny-dpo.yaml`` / ``recipes/tiny-ppo.yaml`` with the model
widened to a few million parameters, and reports:

* CPU: ``ru_maxrss`` of the child (peak resident set, imports included) and the same number taken
  just before the model is built (the import floor); ``delta`` = peak - floor is what training added.
* GPU: ``torch.cuda.max_memory_allocated()`` over the run (tensors only; no import floor).

Switches (one at a time, against ``baseline`` = fp32 weights, full fine-tuning):
``grad-ckpt`` (model.gradient_checkpointing), ``bf16-autocast`` (train.precision=bf16: fp32 master
weights, bf16 compute), ``bf16-weights`` (model.dtype=bfloat16), ``no-precompute`` (dpo:
train.precompute_reference=false, a frozen reference copy kept and run every step) and
``lora-ref`` (LoRA r=8 on every linear layer; the reference is the same weights with the adapters
off, so no second copy exists).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory.py              # CPU, ~2.5 min on 2 busy cores
    .venv/bin/python benchmarks/memory.py --hidden 512 --layers 8        # bigger model
    .venv/bin/python benchmarks/memory.py --only dpo:baseline,dpo:lora-ref

Prints a table, then one JSON line (the last line) with every measurement.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"

SWITCHES = {
    "baseline": [],
    "grad-ckpt": ["model.gradient_checkpointing=true"],
    "bf16-autocast": ["train.precision=bf16"],
    "bf16-weights": ["model.dtype=bfloat16"],
    "no-precompute": ["train.precompute_reference=false"],
    "lora-ref": ["model.lora.r=8", "model.lora.alpha=16"],
}
ALGOS = {  # recipe, switches that apply, run-length overrides
    "dpo": ("tiny-dpo.yaml", ["baseline", "grad-ckpt", "bf16-autocast", "bf16-weights", "no-precompute", "lora-ref"],
            lambda steps: [f"train.max_steps={steps}"]),
    "ppo": ("tiny-ppo.yaml", ["baseline", "grad-ckpt", "bf16-autocast", "bf16-weights", "lora-ref"],
            lambda steps: [f"params.steps={steps}", "params.epochs=1", "params.minibatches=1"]),
}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(spec: dict) -> dict:
    """Run one configuration in this (fresh) process; return its measurements."""
    import torch

    torch.set_num_threads(spec["threads"])
    from prefzoo.engine.tracking import read_metrics
    from prefzoo.recipe import load_train_recipe
    from prefzoo.runner import run_recipe

    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(prefix="prefzoo-mem-") as tmp:
        overrides = [f"model.tiny.hidden_size={spec['hidden']}", f"model.tiny.intermediate_size={spec['hidden'] * 2}",
                     f"model.tiny.num_hidden_layers={spec['layers']}", "model.tiny.num_attention_heads=4",
                     "model.tiny.num_key_value_heads=4", "train.progress=false", f"train.cache_dir={tmp}/cache",
                     *spec["run"], *SWITCHES[spec["switch"]]]
        recipe = load_train_recipe(RECIPES / spec["recipe"], overrides)
        # the import floor: everything the run imports (lazily, too) and the accelerator, but no model yet
        import peft  # noqa: F401
        from transformers import LlamaForCausalLM  # noqa: F401

        import prefzoo.algos  # noqa: F401  (every algorithm and both loops)
        from prefzoo.engine.loop import accelerator_for
        accelerator_for(recipe.train)
        floor = _maxrss_mb()
        t0 = time.time()
        result = run_recipe(recipe, Path(tmp) / "out", recipe_dir=RECIPES)
        wall = time.time() - t0
        rows = read_metrics(Path(tmp) / "out")
    model = result.policy.model
    out = {"params_m": sum(p.numel() for p in model.parameters()) / 1e6,
           "trainable_m": sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
           "peak_rss_mb": _maxrss_mb(), "floor_rss_mb": floor, "wall_s": wall,
           "step_s": sorted(r["step_s"] for r in rows)[len(rows) // 2],
           "tokens_per_s": sorted(r["tokens_per_s"] for r in rows)[len(rows) // 2]}
    if cuda:
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, default=256, help="tiny Llama width (intermediate = 2x)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2, help="optimizer steps (dpo) / rollout steps (ppo)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per child")
    ap.add_argument("--only", default="", help="comma-separated algo:switch list (default: all)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    results = []
    for algo, (recipe, switches, run) in ALGOS.items():
        for switch in switches:
            if only and f"{algo}:{switch}" not in only:
                continue
            spec = {"recipe": recipe, "switch": switch, "run": run(args.steps), "hidden": args.hidden,
                    "layers": args.layers, "threads": args.threads}
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                err = (proc.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{algo:4} {switch:14} FAILED: {err}", file=sys.stderr)
                results.append({"algorithm": algo, "switch": switch, "error": err})
                continue
            r = {"algorithm": algo, "switch": switch, **json.loads(line[len("RESULT "):])}
            results.append(r)
            print(f"  {algo} {switch}: peak RSS {r['peak_rss_mb']:.0f} MB ({r['wall_s']:.1f}s)", file=sys.stderr)

    gpu = any("cuda_max_allocated_mb" in r for r in results)
    base = {r["algorithm"]: r for r in results if r["switch"] == "baseline" and "error" not in r}
    head = "| algorithm | switch | params (M) | trainable (M) | peak RSS (MB) | training delta (MB) | vs baseline |"
    head += " CUDA max alloc (MB) |" if gpu else ""
    head += " median step (s) | tokens/s |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in results:
        if "error" in r:
            print(f"| {r['algorithm']} | {r['switch']} | failed: {r['error'][:60]} |")
            continue
        delta = r["peak_rss_mb"] - r["floor_rss_mb"]
        b = base.get(r["algorithm"])
        if gpu:
            rel = f"{r['cuda_max_allocated_mb'] - b['cuda_max_allocated_mb']:+.0f} MB" if b else "-"
        else:  # CPU: compare what training added (the import floor differs a little between processes)
            rel = f"{delta - (b['peak_rss_mb'] - b['floor_rss_mb']):+.0f} MB" if b else "-"
        cells = [r["algorithm"], r["switch"], f"{r['params_m']:.2f}", f"{r['trainable_m']:.2f}",
                 f"{r['peak_rss_mb']:.0f}", f"{delta:.0f}", rel]
        if gpu:
            cells.append(f"{r['cuda_max_allocated_mb']:.0f}")
        cells += [f"{r['step_s']:.3f}", f"{r['tokens_per_s']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    print(json.dumps({"hidden": args.hidden, "layers": args.layers, "steps": args.steps, "threads": args.threads,
                      "device": "cuda" if gpu else "cpu", "results": results}))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
