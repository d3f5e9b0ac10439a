"""Converters between record kinds, and splitting a transcript pair into prompt and completions.

``pairs`` → ``unpaired`` / ``sft`` / ``prompts``; Anthropic-HH and TRL implicit-prompt pairs →
``(prompt, chosen, rejected)``. Used by :mod:`prefzoo.data.loaders` and re-exported from it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import datasets

from .records import OPTIONAL_COLUMNS, PAIRS, PROMPTS, SFT, UNPAIRED
from .validate import DataError, missing_columns_error

HH_ASSISTANT = "\n\nAssistant:"
HH_HUMAN = "\n\nHuman:"


def pairs_to_unpaired(ds: datasets.Dataset) -> datasets.Dataset:
    """Each pair → ``(prompt, chosen, label)`` and ``(prompt, rejected, not label)``.

    ``label`` is True (chosen desirable) unless a ``p_chosen`` column says ``p_chosen < 0.5``.
    ``category``/``id`` are carried over; ``p_chosen`` is not (unpaired records have no soft label).
    """
    _need(ds, PAIRS, "pairs_to_unpaired")
    carry = [c for c in OPTIONAL_COLUMNS[UNPAIRED] if c in ds.column_names]
    batch = ds.select_columns(["prompt", "chosen", "rejected", *carry]).to_dict()
    good = _chosen_preferred(ds)
    out: dict[str, list] = {"prompt": [], "completion": [], "label": [], **{c: [] for c in carry}}
    for j, first_good in enumerate(good):
        for completion, label in ((batch["chosen"][j], first_good), (batch["rejected"][j], not first_good)):
            out["prompt"].append(batch["prompt"][j])
            out["completion"].append(completion)
            out["label"].append(label)
            for c in carry:
                out[c].append(batch[c][j])
    features = datasets.Features(
        prompt=ds.features["prompt"], completion=ds.features["chosen"], label=datasets.Value("bool"),
        **{c: ds.features[c] for c in carry},
    )
    return datasets.Dataset.from_dict(out, features=features)


def pairs_to_sft(ds: datasets.Dataset) -> datasets.Dataset:
    """Each pair → ``(prompt, completion)`` with the preferred completion: ``chosen``, or
    ``rejected`` where a ``p_chosen`` column says ``p_chosen < 0.5``."""
    _need(ds, PAIRS, "pairs_to_sft")
    carry = [c for c in OPTIONAL_COLUMNS[SFT] if c in ds.column_names]
    if "p_chosen" not in ds.column_names:
        keep = ds.select_columns(["prompt", "chosen", *carry])
        return keep.rename_column("chosen", "completion")

    batch = ds.select_columns(["prompt", "chosen", "rejected", *carry]).to_dict()
    best = [c if g else r for c, r, g in zip(batch["chosen"], batch["rejected"], _chosen_preferred(ds))]
    features = datasets.Features(
        prompt=ds.features["prompt"], completion=ds.features["chosen"], **{c: ds.features[c] for c in carry}
    )
    return datasets.Dataset.from_dict(
        {"prompt": batch["prompt"], "completion": best, **{c: batch[c] for c in carry}}, features=features
    )


def _chosen_preferred(ds: datasets.Dataset) -> list[bool]:
    """Per pair: is ``chosen`` the preferred one? (``p_chosen >= 0.5``, or no soft label.)"""
    if "p_chosen" not in ds.column_names:
        return [True] * len(ds)
    return [p is None or p >= 0.5 for p in ds.select_columns(["p_chosen"]).to_dict()["p_chosen"]]


def to_prompts(ds: datasets.Dataset, *, unique: bool = False) -> datasets.Dataset:
    """Records of any kind → prompt records (``prompt`` plus ``category``/``id`` if present).

    ``unique=True`` keeps the first row of each distinct prompt (for unpaired data, where each
    prompt appears twice); the default keeps every row.
    """
    if "prompt" not in ds.column_names:
        raise DataError(f"to_prompts: no 'prompt' column; columns present: {ds.column_names}")
    out = ds.select_columns(["prompt", *[c for c in OPTIONAL_COLUMNS[PROMPTS] if c in ds.column_names]])
    if unique:
        seen: set[str] = set()
        keep = []
        for i, p in enumerate(out["prompt"]):
            key = json.dumps(p, sort_keys=True)
            if key not in seen:
                seen.add(key)
                keep.append(i)
        out = out.select(keep)
    return out


def split_hh(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split two Anthropic-HH transcripts into ``(prompt, chosen, rejected)``.

    The prompt is everything up to and including the last ``"\\n\\nAssistant:"`` the two share;
    the completions are the remainders, stripped. Raises ValueError when they share none.
    """
    n = _common_prefix_len(chosen, rejected)
    at = chosen.rfind(HH_ASSISTANT, 0, n)
    if at < 0:
        raise ValueError(f"no shared {HH_ASSISTANT!r} turn to split at")
    cut = at + len(HH_ASSISTANT)
    return chosen[:cut], chosen[cut:].strip(), rejected[cut:].strip()


def split_shared_prefix(chosen: Any, rejected: Any) -> tuple[Any, Any, Any]:
    """Split two full conversations (TRL implicit-prompt format) at their shared prefix.

    Messages: the shared leading messages are the prompt. Text: the shared prefix, cut back to
    the last whitespace so no word is split; the completions keep their leading whitespace, so
    ``prompt + chosen`` is the original text (as in TRL).
    """
    if isinstance(chosen, str):
        n = _common_prefix_len(chosen, rejected)
        if n < min(len(chosen), len(rejected)):  # they diverge inside both texts
            k = n
            while k and not chosen[k - 1].isspace():  # back to the start of the diverging word
                k -= 1
            while k and chosen[k - 1].isspace():  # whitespace before it goes to the completion
                k -= 1
            n = k  # 0 when they diverge in the first word: no shared prompt, never half a word
        return chosen[:n], chosen[n:], rejected[n:]
    n = 0
    while n < min(len(chosen), len(rejected)) and _same_message(chosen[n], rejected[n]):
        n += 1
    return list(chosen[:n]), list(chosen[n:]), list(rejected[n:])


def _need(ds: datasets.Dataset, kind: str, fn: str) -> None:
    err = missing_columns_error(kind, ds.column_names, f"{fn}: ")
    if err:
        raise err


def _common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _same_message(a: Mapping, b: Mapping) -> bool:
    return a.get("role") == b.get("role") and a.get("content") == b.get("content")
