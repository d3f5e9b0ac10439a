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

``--smollm2`` (issue #17): the real SmolLM2-135M-Instruct (offline alias ``smollm2-135m-instruct``), LoRA
r=16 alpha=32 on every linear layer (dropout 0, as the recipes), DPO beta=0.1, 8 pairs per optimizer step,
every sequence 128 tokens (prompt from the real suite + a completion cut at ``--max-length``), through
``prefzoo.runner.run_recipe`` with the reference table precomputed (32 pairs, the loop's chunk of 32 pairs
= 64 rows). Each configuration (``SMOL_CONFIGS``) in its own process; peak RSS per phase (load, reference
table, steps; /proc/self/clear_refs restarts the count between them), median step time, CPU and faults:

    .venv/bin/python benchmarks/memory.py --smollm2 --threads 2                   # before vs after, ~4 min idle
    .venv/bin/python benchmarks/memory.py --smollm2 --configs before,fused,2x4,after,env-mmap
    .venv/bin/python benchmarks/memory.py --smollm2 --breakdown before            # where the step's memory goes
    .venv/bin/python benchmarks/memory.py --smollm2 --timing 8x1,2x4-fused --threads 1   # step time, interleaved
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



# ------------------------------------------------------------------ SmolLM2 LoRA DPO step (issue #17)
SMOLLM2 = "smollm2-135m-instruct"
# name -> what it sets: micro = (train.batch_size, train.grad_accum), default 8x1, 8 pairs per optimizer
# step either way; fused = Policy.fused_lm_head (default on; off = the code before); ref_live = the
# reference forward every step instead of the precomputed table; env = glibc malloc variables
SMOL_CONFIGS = {
    "before": {"fused": False},
    "after": {"micro": (2, 4)},
    "fused": {},
    "4x2": {"fused": False, "micro": (4, 2)},
    "2x4": {"fused": False, "micro": (2, 4)},
    "4x2-fused": {"micro": (4, 2)},
    "1x8-fused": {"micro": (1, 8)},
    "ref-live": {"fused": False, "ref_live": True},
    "ref-live-after": {"micro": (2, 4), "ref_live": True},
    "env-arena2": {"fused": False, "env": {"MALLOC_ARENA_MAX": "2"}},
    "env-mmap": {"fused": False, "env": {"MALLOC_MMAP_THRESHOLD_": "1048576"}},
    "env-mmap-after": {"micro": (2, 4), "env": {"MALLOC_MMAP_THRESHOLD_": "1048576"}},
}


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, from /proc."""
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith(field + ":")) / 1024


def _reset_peak() -> None:
    """Restart the peak-RSS count (Linux >= 4.0: VmHWM and ru_maxrss), so each phase gets its own peak."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _smol_recipe(spec: dict, tmp: Path):
    from prefzoo.recipe import load_train_recipe
    from smollm2_dpo_step import build_pairs  # the same long texts: every sequence cut at max_length

    data = tmp / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in build_pairs(spec["data_pairs"])))
    batch, accum = spec["micro"]
    return load_train_recipe({
        "name": "smollm2-memory", "algorithm": "dpo", "params": {"beta": 0.1},
        "model": {"base": SMOLLM2, "lora": {"r": 16, "alpha": 32}, "max_length": spec["max_length"]},
        "data": {"path": str(data), "format": "standard"},
        "train": {"lr": 1e-4, "batch_size": batch, "grad_accum": accum, "max_steps": spec["steps"],
                  "shuffle": False, "progress": False, "cache_dir": str(tmp / "cache"),
                  "precompute_reference": not spec["ref_live"]}})


def smollm2_child(spec: dict) -> dict:
    """One configuration through ``prefzoo.runner.run_recipe`` (the real training path), peak RSS per
    phase: load (model built, records encoded), reference (the precomputed table, chunks of 32 pairs),
    steps (every optimizer step and the adapter save)."""
    import torch

    torch.set_num_threads(spec["threads"])
    import peft  # noqa: F401  (imported here so that the floor holds every import the run makes)

    import prefzoo.algos  # noqa: F401
    from prefzoo.engine import offline
    from prefzoo.engine.loop import accelerator_for
    from prefzoo.engine.tracking import read_metrics
    from prefzoo.models.policy import Policy
    from prefzoo.runner import run_recipe

    Policy.fused_lm_head = spec["fused"]  # class-wide, before any Policy exists
    marks: dict[str, float] = {}
    real_reference = offline.reference

    def reference(*args, **kwargs):  # phase marks around the loop's reference phase (instrument only)
        marks["load_peak_mb"] = _status_mb("VmHWM")
        _reset_peak()
        out = real_reference(*args, **kwargs)
        marks["reference_peak_mb"] = _status_mb("VmHWM")
        _reset_peak()
        return out

    real_step, cpu = offline.step, []

    def step(*args, **kwargs):  # user and system CPU seconds of each optimizer step (system: page faults)
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        out = real_step(*args, **kwargs)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu.append((r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime, r1.ru_minflt - r0.ru_minflt))
        return out

    offline.reference, offline.step = reference, step
    with tempfile.TemporaryDirectory(prefix="prefzoo-mem-") as tmp:
        recipe = _smol_recipe(spec, Path(tmp))
        accelerator_for(recipe.train)
        marks["floor_mb"] = _status_mb("VmHWM")
        t0 = time.time()
        run_recipe(recipe, Path(tmp) / "out")
        wall = time.time() - t0
        marks["steps_peak_mb"] = _status_mb("VmHWM")
        rows = read_metrics(Path(tmp) / "out")
    timed = [r["step_s"] for r in rows[1:]] or [r["step_s"] for r in rows]  # step 1 warms up
    return {**marks, "peak_rss_mb": max(v for k, v in marks.items() if k.endswith("peak_mb")), "wall_s": wall,
            "step_s": sorted(timed)[len(timed) // 2], "step_s_all": [r["step_s"] for r in rows],
            **{k: statistics.median(c[i] for c in cpu[1:] or cpu) for i, k in enumerate(("user_s", "sys_s", "faults"))},
            "losses": [r["loss"] for r in rows], "grad_norms": [r.get("grad_norm") for r in rows],
            "tokens_per_step": rows[0]["tokens"]}


def smollm2_main(args) -> int:
    """Each configuration in its own process; a table, the after/before ratio, one JSON line."""
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in SMOL_CONFIGS]
    if unknown:
        print(f"unknown config(s) {unknown}; known: {', '.join(SMOL_CONFIGS)}", file=sys.stderr)
        return 2
    results = []
    for _ in range(args.rounds):
        for name in names:
            c = SMOL_CONFIGS[name]
            spec = {"config": name, "micro": c.get("micro", (8, 1)), "fused": c.get("fused", True),
                    "env": c.get("env", {}), "ref_live": c.get("ref_live", False),
                    "steps": args.steps, "max_length": args.max_length, "threads": args.threads,
                    "data_pairs": max(32, 8 * args.steps)}
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
                   **c.get("env", {})}
            load = os.getloadavg()[0]
            proc = subprocess.run([sys.executable, __file__, "--smollm2-child", json.dumps(spec)], cwd=ROOT,
                                  env=env, capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(f"{name} FAILED:\n{proc.stderr[-3000:]}", file=sys.stderr)
                return 1
            r = {**spec, "loadavg_1m": load, **json.loads(line[len("RESULT "):])}
            results.append(r)
            print(f"  {name}: peak RSS {r['peak_rss_mb']:.0f} MB, step {r['step_s']:.2f}s, load {load:.1f}",
                  file=sys.stderr)
    print(f"SmolLM2-135M-Instruct, LoRA r=16 all-linear, DPO, 8 pairs x {args.max_length} tokens per sequence "
          f"per optimizer step, {args.threads} thread(s), {args.steps} steps (median step: steps 2..)")
    head = ("| config | micro-batch x accum | floor | load peak | reference peak | steps peak | peak RSS (MB) |"
            " median step (s) | CPU user + sys (s) | loss per step | grad norm step 1 | load avg |")
    print(head + "\n|" + "---|" * (head.count("|") - 1))
    for r in results:
        print(f"| {r['config']} | {r['micro'][0]}x{r['micro'][1]} | {r['floor_mb']:.0f} | {r['load_peak_mb']:.0f} | "
              f"{r['reference_peak_mb']:.0f} | {r['steps_peak_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['step_s']:.2f} | "
              f"{r['user_s']:.1f} + {r['sys_s']:.1f} | "
              f"{' '.join(f'{x:.6f}' for x in r['losses'])} | {r['grad_norms'][0]:.6f} | {r['loadavg_1m']:.1f} |")
    by = {}
    for r in results:
        by.setdefault(r["config"], []).append(r)
    if "before" in by and "after" in by:
        med = {k: {f: statistics.median(r[f] for r in v) for f in ("peak_rss_mb", "steps_peak_mb", "step_s")}
               for k, v in by.items()}
        b, a = med["before"], med["after"]
        print(f"after vs before: peak RSS {a['peak_rss_mb']:.0f} / {b['peak_rss_mb']:.0f} MB "
              f"({a['peak_rss_mb'] / b['peak_rss_mb']:.2f}x), steps peak {a['steps_peak_mb'] / b['steps_peak_mb']:.2f}x, "
              f"step time {a['step_s']:.2f} / {b['step_s']:.2f} s ({a['step_s'] / b['step_s']:.2f}x)")
    print(json.dumps({"benchmark": "memory --smollm2", "max_length": args.max_length, "steps": args.steps,
                      "threads": args.threads, "results": results}))
    return 0


SAVED_KINDS = {  # innermost module class -> what autograd keeps there for the backward
    "LlamaAttention": "attention: q, k, v after RoPE, output, softmax stats",
    "LlamaMLP": "MLP: SiLU(gate) and up (for their product)",
    "SiLUActivation": "MLP: gate (the SiLU input)",
    "SiLU": "MLP: gate (the SiLU input)",
    "LlamaRMSNorm": "RMSNorm: input and 1/rms",
    "Embedding": "embedding",
    "outside": "LM head span: logits (fp32) for the logsumexp backward; fused: d logp / d h, [N, H]",
}


def _kind(module: str, shape: tuple, rank: int) -> str:
    if module == "Linear":  # inside a LoRA layer: lora_A keeps its input x, lora_B keeps A(x)
        return "LoRA: A(x), r wide" if shape[-1] == rank else "LoRA: inputs x of the adapted linears"
    return SAVED_KINDS.get(module, module)


def _saved_bytes_by_kind(model, rank: int):
    """A context manager and a Counter: bytes autograd saves, per kind, attributed to the innermost module
    of the decoder (``model``'s LlamaModel) running when each tensor was saved, "outside" for the LM head
    and the log-probs; each storage counted once, parameters not counted. (No hook goes on the wrappers or
    the head: a hook there would turn Policy.fused_lm_head off.)"""
    import collections
    import contextlib

    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    stack: list[str] = []
    counted: set[int] = set()
    by_kind: collections.Counter = collections.Counter()

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and ptr not in counted:
            counted.add(ptr)
            by_kind[_kind(stack[-1] if stack else "outside", tuple(t.shape), rank)] += t.untyped_storage().nbytes()
        return t

    def enter(module, _args) -> None:
        stack.append(type(module).__name__)

    def leave(_module, _args, _out) -> None:  # returns None: the module's output is left alone
        stack.pop()

    @contextlib.contextmanager
    def hooks():
        handles = [h for m in model.get_base_model().model.modules()
                   for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
        try:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                yield
        finally:
            for h in handles:
                h.remove()
    return hooks, by_kind


def breakdown_child(spec: dict) -> dict:
    """One DPO optimizer step by hand on the same Policy calls the loop makes (forward_logps,
    reference_logps, prefzoo's DPO loss, backward per micro-batch, clip, AdamW), RSS read between them."""
    import torch

    torch.set_num_threads(spec["threads"])
    from prefzoo.algos.dpo import DPO
    from prefzoo.api import PairLogps
    from prefzoo.data.records import PAIRS
    from prefzoo.models.policy import Policy
    from prefzoo.recipe import LoraConfig, ModelConfig
    from smollm2_dpo_step import build_pairs

    Policy.fused_lm_head = spec["fused"]
    torch.manual_seed(0)  # the LoRA A init: the same adapters (and grad norm) in every configuration
    mb = {"floor": _status_mb("VmRSS")}
    policy = Policy.load(ModelConfig(base=SMOLLM2, lora=LoraConfig(r=16, alpha=32), max_length=spec["max_length"]))
    model = policy.model.train()
    mb["loaded"] = _status_mb("VmRSS")
    encoded, _ = policy.encode(build_pairs(8), PAIRS)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, objective = torch.optim.AdamW(trainable, lr=1e-4), DPO(DPO.Config(beta=0.1))
    hooks, saved = _saved_bytes_by_kind(model, 16)
    per, micro = spec["micro"]
    for start in range(0, 8, per):
        batch = encoded[start: start + per]
        seqs = policy.sequences([e.prompt for e in batch] * 2,
                                [e.completions[0] for e in batch] + [e.completions[1] for e in batch])
        _reset_peak()
        ref = policy.reference_logps(seqs).sum(-1)
        mb.setdefault("reference_peak", _status_mb("VmHWM"))
        mb.setdefault("before_forward", _status_mb("VmRSS"))
        with hooks():
            tok = policy.forward_logps(seqs)
        mb.setdefault("after_forward", _status_mb("VmRSS"))
        sums, lens = tok.sum(-1), seqs.loss_mask.sum(-1).to(tok.dtype)
        out = objective.loss(PairLogps(sums[:per], sums[per:], lens[:per], lens[per:]),
                             PairLogps(ref[:per], ref[per:], lens[:per], lens[per:]))
        (out.loss / micro).backward()
        mb.setdefault("backward_peak", _status_mb("VmHWM"))
        if start == 0:
            first_saved = dict(saved)
    norm = torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    optimizer.step()
    mb["after_optimizer"] = _status_mb("VmRSS")
    weights = {p.untyped_storage().data_ptr(): p.untyped_storage().nbytes() for p in model.parameters()}
    state = sum(t.nbytes for st in optimizer.state.values() for t in st.values() if torch.is_tensor(t))
    return {"rss_mb": mb, "saved_mb": {k: v / 2**20 for k, v in first_saved.items()},
            "weights_mb": sum(weights.values()) / 2**20, "optimizer_state_mb": state / 2**20,
            "grads_mb": sum(p.numel() * p.element_size() for p in trainable) / 2**20,
            "grad_norm": float(norm), "attn_implementation": model.config._attn_implementation,
            "lora_dropout": [type(m).__name__ for n, m in model.named_modules() if n.endswith("lora_dropout.default")][:1],
            "rows_per_forward": 2 * per}


def breakdown_main(args) -> int:
    """The breakdown table for ``--breakdown CONFIG`` (its own process)."""
    c = SMOL_CONFIGS[args.breakdown]
    spec = {"micro": c.get("micro", (8, 1)), "fused": c.get("fused", True),
            "max_length": args.max_length, "threads": args.threads}
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), **c.get("env", {})}
    proc = subprocess.run([sys.executable, __file__, "--breakdown-child", json.dumps(spec)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    r = json.loads(line[len("RESULT "):])
    mb, saved = r["rss_mb"], r["saved_mb"]
    total_saved = sum(saved.values())
    rows = [("import floor (torch, transformers, peft, prefzoo)", mb["floor"], "RSS"),
            ("weights, fp32 (135M parameters, tied head; resident once first used)", r["weights_mb"], "counted"),
            *((f"saved for backward: {k}", v, "saved-tensor hooks") for k, v in sorted(saved.items(), key=lambda kv: -kv[1])),
            (f"saved for backward, total ({r['rows_per_forward']} rows per forward)", total_saved, "saved-tensor hooks"),
            ("allocator: freed but not returned during the forward", mb["after_forward"] - mb["before_forward"] - total_saved,
             "RSS after - before forward - saved"),
            ("backward transients above the forward", mb["backward_peak"] - mb["after_forward"], "peak RSS - RSS"),
            ("reference forward (no grad) transient", mb["reference_peak"] - mb["before_forward"], "peak RSS - RSS"),
            ("LoRA grads + AdamW state", r["grads_mb"] + r["optimizer_state_mb"], "counted"),
            ("peak RSS of the step (backward)", mb["backward_peak"], "RSS")]
    print(f"config {args.breakdown}: attention {r['attn_implementation']}, LoRA dropout {r['lora_dropout']}, "
          f"grad norm {r['grad_norm']:.6f}, load average {os.getloadavg()[0]:.1f}")
    print("| where | MB | how measured |\n|---|---|---|")
    for name, v, how in rows:
        print(f"| {name} | {v:.0f} | {how} |")
    print(json.dumps({"breakdown": args.breakdown, **r}))
    return 0


TIMING_VARIANTS = {"8x1": (8, False), "8x1-fused": (8, True), "4x2": (4, False), "4x2-fused": (4, True),
                   "2x4-fused": (2, True), "1x8-fused": (1, True)}  # name -> (pairs per micro-batch, fused head)


def timing_child(spec: dict) -> dict:
    """Step time of several variants in one process, one step of each in turn per round (ABAB...), so that
    a shared machine's changing load falls on every variant alike. A step is what the loop's step does
    with the reference table: forward_logps, DPO loss, backward per micro-batch, clip, AdamW."""
    import torch

    torch.set_num_threads(spec["threads"])
    from prefzoo.algos.dpo import DPO
    from prefzoo.api import PairLogps
    from prefzoo.data.records import PAIRS
    from prefzoo.models.policy import Policy
    from prefzoo.recipe import LoraConfig, ModelConfig
    from smollm2_dpo_step import build_pairs

    torch.manual_seed(0)
    policy = Policy.load(ModelConfig(base=SMOLLM2, lora=LoraConfig(r=16, alpha=32), max_length=spec["max_length"]))
    model = policy.model.train()
    encoded, _ = policy.encode(build_pairs(8), PAIRS)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, objective = torch.optim.AdamW(trainable, lr=1e-4), DPO(DPO.Config(beta=0.1))
    seqs = {per: [policy.sequences([e.prompt for e in encoded[i: i + per]] * 2,
                                   [e.completions[0] for e in encoded[i: i + per]] +
                                   [e.completions[1] for e in encoded[i: i + per]]) for i in range(0, 8, per)]
            for per in {TIMING_VARIANTS[v][0] for v in spec["variants"]}}
    refs = {per: [policy.reference_logps(s).sum(-1) for s in ss] for per, ss in seqs.items()}

    def step(per: int, fused: bool) -> None:
        Policy.fused_lm_head = fused
        for s, ref in zip(seqs[per], refs[per]):
            tok = policy.forward_logps(s)
            sums, lens = tok.sum(-1), s.loss_mask.sum(-1).to(tok.dtype)
            out = objective.loss(PairLogps(sums[:per], sums[per:], lens[:per], lens[per:]),
                                 PairLogps(ref[:per], ref[per:], lens[:per], lens[per:]))
            (out.loss / len(seqs[per])).backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(8, False)  # warm-up: weights paged in, kernels chosen
    times = {v: [] for v in spec["variants"]}
    for _ in range(spec["rounds"]):
        for v in spec["variants"]:
            w0, c0, f0 = time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            step(*TIMING_VARIANTS[v])
            times[v].append((time.perf_counter() - w0, time.process_time() - c0,
                             resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0))
    return {"times": times}


def timing_main(args) -> int:
    """``--timing``: the variants' step times. A variant ending in ``+mmap`` runs in a second process with
    ``MALLOC_MMAP_THRESHOLD_=1048576`` (glibc returns every freed block from 1 MiB up to the OS)."""
    variants = [v.strip() for v in args.timing.split(",") if v.strip()]
    groups = {env: [v.removesuffix("+mmap") for v in variants if v.endswith("+mmap") == env] for env in (False, True)}
    rows: dict[str, list] = {}
    for _ in range(args.rounds):
        for mmap, names in groups.items():
            if not names:
                continue
            spec = {"variants": names, "rounds": args.steps, "threads": args.threads, "max_length": args.max_length}
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
                   **({"MALLOC_MMAP_THRESHOLD_": "1048576"} if mmap else {})}
            proc = subprocess.run([sys.executable, __file__, "--timing-child", json.dumps(spec)], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            for v, ts in json.loads(line[len("RESULT "):])["times"].items():
                rows.setdefault(v + ("+mmap" if mmap else ""), []).extend(ts)
            print(f"  {names}{' +mmap' if mmap else ''} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    med = {v: [statistics.median(t[i] for t in rows[v]) for i in range(3)] for v in variants}
    b = med[variants[0]]
    print(f"step time, {args.threads} thread(s), {args.steps} steps x {args.rounds} process(es) per variant, "
          f"variants interleaved step by step; load average {os.getloadavg()[0]:.1f}; ratios against {variants[0]}")
    print("| variant | median wall (s) | median CPU (s) | page faults | wall ratio | CPU ratio |\n|---|---|---|---|---|---|")
    for v, (w, c, f) in med.items():
        print(f"| {v} | {w:.2f} | {c:.2f} | {f:.0f} | {w / b[0]:.2f} | {c / b[1]:.2f} |")
    print(json.dumps({"timing": variants, "threads": args.threads, "rows": rows}))
    return 0

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, default=256, help="tiny Llama width (intermediate = 2x)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2, help="optimizer steps (dpo) / rollout steps (ppo)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per child")
    ap.add_argument("--only", default="", help="comma-separated algo:switch list (default: all)")
    ap.add_argument("--smollm2", action="store_true", help="the SmolLM2-135M LoRA DPO step instead (issue #17)")
    ap.add_argument("--configs", default="before,after", help=f"--smollm2: any of {', '.join(SMOL_CONFIGS)}")
    ap.add_argument("--breakdown", metavar="CONFIG", help="--smollm2: where one config's step memory goes")
    ap.add_argument("--max-length", type=int, default=128, help="--smollm2: tokens per sequence")
    ap.add_argument("--rounds", type=int, default=1, help="--smollm2: processes per config, interleaved")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--smollm2-child", help=argparse.SUPPRESS)
    ap.add_argument("--timing", metavar="VARIANTS", help=f"--smollm2: step time of {', '.join(TIMING_VARIANTS)}")
    ap.add_argument("--breakdown-child", help=argparse.SUPPRESS)
    ap.add_argument("--timing-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    for flag, fn in ((args.child, child), (args.smollm2_child, smollm2_child), (args.breakdown_child, breakdown_child),
                     (args.timing_child, timing_child)):
        if flag:
            print("RESULT " + json.dumps(fn(json.loads(flag))), flush=True)
            return 0
    if args.smollm2:
        return breakdown_main(args) if args.breakdown else timing_main(args) if args.timing else smollm2_main(args)

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
