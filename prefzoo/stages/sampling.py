"""Stages: sample two responses per prompt, label them with feedback, and check the labeller.

- ``prompt_rows``: the prompts a composite samples for (the job's data, or else the world's).
- ``sample_pairs``: two samples per prompt from a policy (RLAIF sec. 3; CAI sec. 4.1).
- ``label_pairs``: any ``Feedback`` labels the pairs; soft label P(a better); each pair is ordered
  so that ``chosen`` is the preferred one and ``p_chosen = max(p, 1 - p)``. An LLM judge also
  reports both orders, from which the position-bias rate follows.
- ``labeler_alignment``: agreement of the AI's hard labels with gold labels on the same pairs
  (RLAIF sec. 4.1, "AI labeler alignment"), ties excluded on either side.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch

from prefzoo.data.records import PROMPTS
from prefzoo.job import JobError

CARRY = ("category", "id")


def prompt_rows(job, n: int | None, seed: int) -> list[dict]:
    """Prompt rows (prompt, category?, id?): the job's data, or else the world's train prompts.
    ``n``: a seeded random subset of that many (None: all)."""
    if job.data:
        rows = job.records(PROMPTS).to_list()
    elif job.world is not None and hasattr(job.world, "prompts"):
        rows = job.world.prompts("train", n or 256, seed)
    else:
        raise JobError("no prompts: give data (data.path with data.kind: prompts, or pairs) or a world")
    if n is not None and n < len(rows):
        keep = sorted(random.Random(seed).sample(range(len(rows)), n))
        rows = [rows[i] for i in keep]
    return rows


def sample_pairs(policy, rows: list[dict], *, temperature: float = 1.0, top_p: float = 1.0,
                 max_new_tokens: int = 32, batch_size: int = 64, seed: int = 0) -> list[dict]:
    """``{"prompt", "a", "b", category?, id?}`` per prompt row: two independent samples."""
    prompts = [r["prompt"] for r in rows]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        texts = policy.generate(prompts + prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                                top_p=top_p, do_sample=True, batch_size=batch_size)
    n = len(prompts)
    return [{"prompt": r["prompt"], "a": texts[i], "b": texts[n + i],
             **{k: r[k] for k in CARRY if r.get(k) is not None}} for i, r in enumerate(rows)]


def label_pairs(feedback, pairs: list[dict], *, templates: list[str | None] | None = None,
                principles: list[str | None] | None = None) -> tuple[list[dict], dict]:
    """Label ``pairs`` (from ``sample_pairs``) with ``feedback``.

    ``templates``: per-pair judge templates (a sampled comparison principle); ``principles`` their
    names, kept in the records. Pairs with an empty or two identical responses carry no preference
    and are dropped (counted). Returns (pair records, stats); each record has prompt, chosen,
    rejected, p_chosen, and where known category, id, principle, p_a_first, p_a_second, rationale.
    """
    keep, dropped = [], {"identical": 0, "empty": 0}
    for i, p in enumerate(pairs):
        if not p["a"].strip() or not p["b"].strip():
            dropped["empty"] += 1
        elif p["a"].strip() == p["b"].strip():
            dropped["identical"] += 1
        else:
            keep.append(i)
    prompts = [pairs[i]["prompt"] for i in keep]
    a = [pairs[i]["a"] for i in keep]
    b = [pairs[i]["b"] for i in keep]
    tmpl = [templates[i] for i in keep] if templates else None
    judgements = None
    if hasattr(feedback, "judge_pairs"):
        judgements = feedback.judge_pairs(prompts, a, b, tmpl) if keep else []
        probs = [j.p_a for j in judgements]
    else:
        if tmpl and any(tmpl):
            raise ValueError(f"feedback {getattr(feedback, 'name', feedback)!r} cannot take comparison principles; "
                             f"use an LLM judge for constitutional feedback")
        probs = feedback.prefer(prompts, a, b).tolist() if keep else []
    records = []
    for k, i in enumerate(keep):
        if judgements is not None and judgements[k].failed:
            dropped["judge_failed"] = dropped.get("judge_failed", 0) + 1  # counted, reported, not a crash
            continue
        p = float(probs[k])
        first = p >= 0.5
        rec = {"prompt": prompts[k], "chosen": a[k] if first else b[k], "rejected": b[k] if first else a[k],
               "p_chosen": p if first else 1.0 - p,
               **{c: pairs[i][c] for c in CARRY if c in pairs[i]}}
        if principles is not None and principles[i] is not None:
            rec["principle"] = principles[i]
        if judgements is not None:
            j = judgements[k]
            rec["p_a_first"], rec["p_a_second"] = j.p_a_first, j.p_a_second
            rec["a_is_chosen"] = first
            if j.rationale is not None:
                rec["rationale"] = j.rationale
        records.append(rec)
    if judgements is not None:  # position bias and cache counts over the labels that exist
        judgements = [j for j in judgements if not j.failed]
    stats = {"pairs": len(pairs), "labelled": len(records), "dropped": dropped,
             "mean_confidence": sum(r["p_chosen"] for r in records) / len(records) if records else None}
    if judgements is not None:
        stats["position_bias"] = position_bias(judgements)
        stats["cached_labels"] = sum(j.cached for j in judgements)
    return records, stats


def position_bias(judgements) -> float | None:
    """Share of pairs where the judge picked the same slot in both orders (None without swaps).
    0 is an order-blind judge; 1 always picks one slot whatever is in it."""
    same = [j.same_slot for j in judgements if j.same_slot is not None]
    return sum(same) / len(same) if same else None


def labeler_alignment(world: Any, records: list[dict], seed: int = 0) -> dict | None:
    """Agreement of the AI labels in ``records`` with the world's gold labels on the same pairs.

    Gold comes from ``world.gold`` (scores of chosen vs rejected) or else ``world.rate_pair`` (a
    simulated human label, seeded). Ties (p_chosen == 0.5, or equal gold scores) are excluded.
    Returns None when the world has neither, or does not know these prompts.
    """
    gold = getattr(world, "gold", None)
    rate = getattr(world, "rate_pair", None)
    if world is None or (gold is None and rate is None) or not records:
        return None
    decided = [r for r in records if r["p_chosen"] != 0.5]
    try:
        if gold is not None:
            prompts = [r["prompt"] for r in decided]
            sc = gold.score(prompts, [r["chosen"] for r in decided]).tolist()
            sr = gold.score(prompts, [r["rejected"] for r in decided]).tolist()
            votes = [None if c == x else c > x for c, x in zip(sc, sr)]
            source = "gold"
        else:
            rng = random.Random(seed)
            votes = [rate({"prompt": r["prompt"], **{c: r[c] for c in CARRY if c in r}} if "category" in r
                          else r["prompt"], r["chosen"], r["rejected"], rng) == 1.0 for r in decided]
            source = "rate_pair"
    except KeyError as e:  # the world does not know these prompts (data from elsewhere)
        return {"agreement": None, "n": 0, "reason": f"gold labels unavailable: {e}"}
    counted = [v for v in votes if v is not None]
    return {"agreement": sum(counted) / len(counted) if counted else None, "n": len(counted),
            "ties_excluded": len(records) - len(counted), "source": source}


def save_jsonl(rows: list[dict], path: str | Path) -> Path:
    """Write records as JSONL (one dataset beside the run's output)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


__all__ = ["prompt_rows", "sample_pairs", "label_pairs", "labeler_alignment", "position_bias", "save_jsonl"]
