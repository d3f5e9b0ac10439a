"""Stage: critique and revise (Constitutional AI's supervised stage; Bai et al. 2022, sec. 3.1).

For each prompt: sample a response; then, for each of ``rounds`` rounds, sample a principle at
random and hold the conversation

    [user: prompt, assistant: response, user: critique_request,
     assistant: critique, user: revision_request, assistant: revision]

rendered by ``Policy.prompt_text`` (the one place a chat template is applied). The next round
critiques the latest revision in a fresh conversation of the same shape (the paper keeps appending;
restarting keeps the context short, which small models need). An empty revision keeps the previous
response (counted). All prompts of a round are generated in one batch.

``split_red_team`` picks the prompts to critique; ``critique_records`` flattens the rounds into the
critiques dataset saved beside the run.
"""
from __future__ import annotations

import random
from typing import Any

import torch

from prefzoo.constitutions import Constitution


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def _as_messages(prompt: Any) -> list[dict]:
    return [_user(prompt)] if isinstance(prompt, str) else [dict(m) for m in prompt]


def split_red_team(rows: list[dict], categories: list[str]) -> tuple[list[dict], list[dict], bool]:
    """(red-team rows, other rows, whether categories were known). Unknown categories: all red-team."""
    if not rows or not any(r.get("category") is not None for r in rows):
        return rows, [], False
    red = [r for r in rows if r.get("category") in categories]
    return red, [r for r in rows if r.get("category") not in categories], True


def critique_records(crit: list[dict]) -> list[dict]:
    """One row per critique round (the critiques dataset)."""
    return [{"prompt": c["prompt"], "response": c["response"], "round": k, **rnd,
             **{x: c[x] for x in ("category", "id") if x in c}}
            for c in crit for k, rnd in enumerate(c["rounds"])]


def critique_and_revise(policy, rows: list[dict], constitution: Constitution, *, rounds: int = 1,
                        rng: random.Random | None = None, temperature: float = 1.0, max_new_tokens: int = 32,
                        critique_max_new_tokens: int | None = None, batch_size: int = 64, seed: int = 0,
                        responses: list[str] | None = None) -> tuple[list[dict], dict]:
    """Returns (one record per prompt, stats). A record: ``prompt``, ``response`` (the original),
    ``revision`` (the final one), ``rounds`` (principle, critique, revision per round), and the row's
    ``category``/``id``. ``responses`` (optional) are the originals, when already sampled."""
    rng = rng or random.Random(seed)
    crit_tokens = critique_max_new_tokens or max_new_tokens
    prompts = [r["prompt"] for r in rows]
    gen = dict(temperature=temperature, do_sample=True, batch_size=batch_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if responses is None:
            responses = policy.generate(prompts, max_new_tokens=max_new_tokens, **gen)
        current = list(responses)
        history: list[list[dict]] = [[] for _ in rows]
        kept_previous = 0
        for _ in range(rounds):
            principles = [rng.choice(constitution.principles) for _ in rows]
            convs = [_as_messages(p) + [_assistant(c), _user(pr.critique_request)]
                     for p, c, pr in zip(prompts, current, principles)]
            critiques = policy.generate(convs, max_new_tokens=crit_tokens, **gen)
            convs = [conv + [_assistant(cr), _user(pr.revision_request)]
                     for conv, cr, pr in zip(convs, critiques, principles)]
            revisions = policy.generate(convs, max_new_tokens=max_new_tokens, **gen)
            for i, (pr, cr, rev) in enumerate(zip(principles, critiques, revisions)):
                if not rev.strip():
                    kept_previous += 1
                    rev = current[i]
                history[i].append({"principle": pr.name, "critique_request": pr.critique_request,
                                   "critique": cr, "revision_request": pr.revision_request, "revision": rev})
                current[i] = rev
    out = []
    for r, resp, rev, hist in zip(rows, responses, current, history):
        out.append({"prompt": r["prompt"], "response": resp, "revision": rev, "rounds": hist,
                    **{k: r[k] for k in ("category", "id") if r.get(k) is not None}})
    changed = sum(o["revision"].strip() != o["response"].strip() for o in out)
    return out, {"prompts": len(rows), "rounds": rounds, "revised": changed, "empty_revisions_kept_previous": kept_previous}


__all__ = ["critique_and_revise", "critique_records", "split_red_team"]
