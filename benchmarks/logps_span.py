"""Forward+backward of ``Policy.forward_logps``: LM head over the scored span with a chunked logsumexp
(``new``, the current code) against full logits with one logsumexp over all of them (``old``, the code
before; kept below as ``old_forward_logps``).

Model: a randomly initialised Llama with SmolLM2-135M's shape (hidden 576, 9 heads, 3 kv heads,
intermediate 1536, vocab 49152, tied embeddings), built from its config: nothing is downloaded.
SmolLM2-135M has 30 layers; ``--layers`` takes fewer to keep a CPU run short (the LM head, the part
that changes, is the same at any depth; fewer layers make it a larger share of the step).
Batch: ``--pairs`` DPO pairs as the offline loop lays them out ([all chosen; all rejected], same
prompts), random token ids, prompts of ``--prompt`` tokens and completions of ``--completion`` tokens,
each drawn from [len/2, len] so rows end at different places. One step = forward_logps, a DPO-style
loss on the sequence sums, backward (no optimizer: the step is what the change touches).

Each side runs in its own fresh process (peak RSS is a high-water mark), ``--rounds`` times, sides
interleaved. Reported per side: median ms per step over the timed steps, peak RSS (``ru_maxrss``,
imports and the model included) and the step delta (peak RSS minus the peak before the first step);
on CUDA also ``torch.cuda.max_memory_allocated`` over the steps.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/logps_span.py --layers 4      # ~3 min on a busy 2-core CPU
    .venv/bin/python benchmarks/logps_span.py --layers 30 --device cuda

The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMOLLM2_135M = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    intermediate_size=1536, vocab_size=49152, max_position_embeddings=2048,
                    tie_word_embeddings=True)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def old_forward_logps(model, batch):
    """The code before the change: every position through the LM head, one logsumexp over [B, T-1, V]."""
    import torch

    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
    logits = logits[:, :-1].float() if logits.dtype in (torch.bfloat16, torch.float16) else logits[:, :-1]
    picked = torch.gather(logits, -1, batch.input_ids[:, 1:].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)
    out = torch.zeros(batch.input_ids.shape, dtype=picked.dtype, device=picked.device)
    out[:, 1:] = picked * batch.loss_mask[:, 1:]
    return out


def make_batch(spec: dict):
    """DPO-shaped rows of random token ids: [chosen x pairs; rejected x pairs], shared prompts."""
    import torch

    from prefzoo.models.policy import pad_sequences

    g = torch.Generator().manual_seed(0)
    V = SMOLLM2_135M["vocab_size"]

    def tokens(longest: int) -> list[int]:
        n = int(torch.randint(longest // 2, longest + 1, (1,), generator=g))
        return torch.randint(1, V, (n,), generator=g).tolist()

    prompts = [tokens(spec["prompt"]) for _ in range(spec["pairs"])]
    chosen = [tokens(spec["completion"]) for _ in range(spec["pairs"])]
    rejected = [tokens(spec["completion"]) for _ in range(spec["pairs"])]
    return pad_sequences(prompts * 2, chosen + rejected, pad_id=0)


def child(spec: dict) -> dict:
    """Time one side in this (fresh) process."""
    import torch
    import torch.nn.functional as F
    from transformers import LlamaConfig, LlamaForCausalLM

    from prefzoo.models.policy import Policy, first_logit_position

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**{**SMOLLM2_135M, "num_hidden_layers": spec["layers"]})).to(device)
    model.train()
    # Policy only needs a tokenizer for encoding; forward_logps uses the model and the batch.
    tok = type("Tok", (), {"pad_token_id": 0, "eos_token": "</s>", "padding_side": "right"})()
    policy = Policy(model, tok)
    batch = make_batch(spec).to(device)
    pairs = spec["pairs"]
    forward = (lambda: policy.forward_logps(batch)) if spec["side"] == "new" else \
        (lambda: old_forward_logps(model, batch))

    def step():
        sums = forward().sum(-1)
        loss = -F.logsigmoid(0.1 * (sums[:pairs] - sums[pairs:])).mean()
        loss.backward()
        model.zero_grad(set_to_none=True)
        return loss.item()

    cuda = device.type == "cuda"
    floor = _maxrss_mb()
    for _ in range(spec["warmup"]):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, loss = [], None
    for _ in range(spec["steps"]):
        t0 = time.perf_counter()
        loss = step()  # .item() waits for the device
        times.append(time.perf_counter() - t0)
    T = batch.input_ids.shape[1]
    out = {"ms": 1000 * statistics.median(times), "peak_rss_mb": _maxrss_mb(), "floor_rss_mb": floor,
           "loss": loss, "rows": batch.input_ids.shape[0], "width": T,
           "lm_head_positions": T - first_logit_position(batch.loss_mask) if spec["side"] == "new" else T,
           "params_m": sum(p.numel() for p in model.parameters()) / 1e6}
    out["step_delta_mb"] = out["peak_rss_mb"] - floor
    if cuda:
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=30, help="decoder layers (SmolLM2-135M: 30)")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--prompt", type=int, default=128, help="longest prompt, tokens")
    ap.add_argument("--completion", type=int, default=128, help="longest completion, tokens")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per process")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1, help="processes per side, interleaved")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per child")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for side in runs:
            spec = {"side": side, **{k: getattr(args, k) for k in ("layers", "pairs", "prompt", "completion", "steps",
                                                                    "warmup", "threads", "device")}}
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            runs[side].append(json.loads(line[len("RESULT "):]))
            print(f"  {side}: {runs[side][-1]['ms']:.0f} ms/step", file=sys.stderr)

    def summary(rs: list[dict]) -> dict:
        keys = [k for k in rs[0] if isinstance(rs[0][k], (int, float))]
        return {k: statistics.median(r[k] for r in rs) for k in keys}

    old, new = summary(runs["old"]), summary(runs["new"])
    first = runs["old"][0]
    print(f"Llama, SmolLM2-135M shape with {args.layers} layers ({first['params_m']:.1f}M params), "
          f"{first['rows']} rows x {first['width']} tokens, {args.threads} thread(s), {args.device}, load average "
          f"{os.getloadavg()[0]:.2f}; median over {args.rounds} process(es) x {args.steps} steps per side")
    gpu = "cuda_max_allocated_mb" in old
    head = "| side | LM-head positions | ms/step | peak RSS (MB) | step delta (MB) |"
    head += " CUDA max alloc (MB) |" if gpu else ""
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name, r in (("old", old), ("new", new)):
        row = (f"| {name} | {r['lm_head_positions']:.0f} | {r['ms']:.0f} | {r['peak_rss_mb']:.0f} "
               f"| {r['step_delta_mb']:.0f} |")
        print(row + (f" {r['cuda_max_allocated_mb']:.0f} |" if gpu else ""))
    ratios = {"speedup": old["ms"] / new["ms"], "peak_rss_ratio": new["peak_rss_mb"] / old["peak_rss_mb"],
              "step_delta_ratio": new["step_delta_mb"] / old["step_delta_mb"]}
    if gpu:
        ratios["cuda_max_allocated_ratio"] = new["cuda_max_allocated_mb"] / old["cuda_max_allocated_mb"]
    print("new vs old: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
          + f"; |loss difference| {abs(old['loss'] - new['loss']):.2e}")
    print(json.dumps({"args": vars(args), "old": runs["old"], "new": runs["new"], **ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
