"""Loaders: local JSONL/JSON/Parquet files, saved datasets, hub ids, and the common preference
formats (TRL standard, conversational and implicit-prompt; Anthropic-HH transcripts), all turned
into one of the record kinds of :mod:`prefzoo.data.records`, validated, with drops reported.

Reading a source lives in :mod:`prefzoo.data.readers`, the kind converters and transcript splitting in
:mod:`prefzoo.data.convert`; both are re-exported here.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import datasets

from .convert import (
    HH_ASSISTANT,
    HH_HUMAN,
    pairs_to_sft,
    pairs_to_unpaired,
    split_hh,
    split_shared_prefix,
    to_prompts,
)
from .readers import _columns_of, _read_source
from .records import KINDS, PAIRS, PROMPTS, REQUIRED_COLUMNS, SFT, UNPAIRED, DropReport
from .validate import (
    IDENTICAL,
    DataError,
    _many,
    _message_problem,
    _type_name,
    check_kind,
    is_messages,
    missing_columns_error,
    validate_rows,
)

FORMATS = ("auto", "standard", "conversational", "implicit", "hh")


# ----------------------------------------------------------------------------- public API


def load_records(
    source: str | os.PathLike, kind: str, *, split: str = "train", format: str = "auto"
) -> tuple[datasets.Dataset, DropReport]:
    """Load ``source`` as records of ``kind``; return ``(dataset, drop_report)``.

    ``source``: a ``.jsonl``/``.ndjson``/``.json``/``.parquet`` file (``.gz`` for the JSON ones), a
    directory written by ``Dataset.save_to_disk``, or a hub id (``owner/name``) loaded with
    ``datasets.load_dataset(id, split=split)``. Local files have the one split ``"train"``;
    slices such as ``"train[:100]"`` or ``"train[10%:]"`` work for them too.

    ``format``: ``auto`` (detect), ``standard`` (text prompt/chosen/rejected), ``conversational``
    (the same columns as chat messages), ``implicit`` (``chosen``/``rejected`` full conversations,
    split at their shared prefix) or ``hh`` (Anthropic-HH transcripts, split after the last shared
    ``"\\n\\nAssistant:"``). A kind other than ``pairs`` may be loaded from preference data: the
    pairs are read first, then converted (:func:`pairs_to_unpaired`, :func:`pairs_to_sft`,
    :func:`to_prompts`). ``sft`` also reads a ``messages`` column (TRL conversational
    language-modeling format): the last assistant message is the completion.

    Raises :class:`DataError` naming the row and field of every problem.
    """
    check_kind(kind)
    _check_format(format)
    rows, columns, row_ids, where = _read_source(source, split)
    return _from_rows(rows, columns, row_ids, kind, format, where)


def records_from_list(
    rows: Sequence[Mapping[str, Any]], kind: str, *, format: str = "auto"
) -> tuple[datasets.Dataset, DropReport]:
    """In-memory rows → records of ``kind``, with the same conversion and validation as
    :func:`load_records`."""
    check_kind(kind)
    _check_format(format)
    rows = list(rows)
    problems = [f"row {i}: expected a dict, got {_type_name(r)}"
                for i, r in enumerate(rows) if not isinstance(r, Mapping)]
    if problems:
        raise _many(problems, "", kind)
    return _from_rows(rows, _columns_of(rows), list(range(len(rows))), kind, format, "")


# ----------------------------------------------------------------------------- conversion


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise DataError(f"unknown format {format!r}; formats are: {', '.join(FORMATS)}")


def _from_rows(
    rows: list[Mapping], columns: list[str], row_ids: list[int], kind: str, format: str, where: str
) -> tuple[datasets.Dataset, DropReport]:
    cols = set(columns)
    has_kind_cols = all(c in cols for c in REQUIRED_COLUMNS[kind])
    pair_like = {"chosen", "rejected"} <= cols

    # sft from TRL's conversational language-modeling format: {"messages": [...]}
    if kind == SFT and not has_kind_cols and "messages" in cols and format in ("auto", "conversational"):
        rows, columns = _split_messages_rows(rows, columns, row_ids, where)
        return validate_rows(rows, SFT, columns=columns, where=where, row_ids=row_ids)

    via_pairs = kind != PAIRS and (format in ("implicit", "hh") or (not has_kind_cols and pair_like))
    if kind == PAIRS or via_pairs:
        report = DropReport()
        rows, columns, row_ids = _to_pair_rows(rows, columns, row_ids, format, where, report)
        _check_form(rows, row_ids, format, where, PAIRS)
        ds, rep2 = validate_rows(rows, PAIRS, columns=columns, where=where, row_ids=row_ids)
        report = _merge(report, rep2)
        if kind == PAIRS:
            report.kept = len(ds)
            return ds, report
        ds = {UNPAIRED: pairs_to_unpaired, SFT: pairs_to_sft, PROMPTS: to_prompts}[kind](ds)
        report.kept = len(ds)
        return ds, report

    _check_form(rows, row_ids, format, where, kind)
    if not has_kind_cols:
        raise missing_columns_error(kind, columns, where)
    return validate_rows(rows, kind, columns=columns, where=where, row_ids=row_ids)


def _to_pair_rows(
    rows: list[Mapping], columns: list[str], row_ids: list[int], format: str, where: str, report: DropReport
) -> tuple[list[dict], list[str], list[int]]:
    """Preference rows in any supported format → rows with prompt/chosen/rejected."""
    cols = set(columns)
    if format == "auto":
        if "prompt" in cols:
            return list(rows), columns, row_ids
        if {"chosen", "rejected"} <= cols:
            format = "hh" if _looks_hh(rows) else "implicit"
        else:
            raise missing_columns_error(PAIRS, columns, where)
    if format in ("standard", "conversational"):
        return list(rows), columns, row_ids
    # implicit or hh: the prompt comes out of chosen/rejected
    need = [c for c in ("chosen", "rejected") if c not in cols]
    if need:
        raise DataError(
            f"{where}format {format!r} needs columns 'chosen' and 'rejected' (full conversations); "
            f"missing {need}; columns present: {columns}"
        )
    if "prompt" in cols:
        raise DataError(
            f"{where}format {format!r} takes the prompt from 'chosen'/'rejected', but there is a "
            "'prompt' column; use format='standard' or 'conversational' (or 'auto')"
        )
    errors: list[str] = []
    out, ids = [], []
    for i, row in zip(row_ids, rows):
        c, r = row.get("chosen"), row.get("rejected")
        problem = None
        for field, v in (("chosen", c), ("rejected", r)):
            if format == "hh" and not isinstance(v, str):
                problem = f"row {i}, field {field!r}: format 'hh' expects a text transcript, got {_type_name(v)}"
            elif not (isinstance(v, str) or (isinstance(v, list) and v and _message_problem(v) is None)):
                problem = f"row {i}, field {field!r}: expected str or list of messages, got {_type_name(v)}"
            if problem:
                break
        if problem is None and isinstance(c, str) != isinstance(r, str):
            problem = f"row {i}, field 'rejected': is {_type_name(r)} but 'chosen' is {_type_name(c)}; use one form"
        if problem:
            errors.append(problem)
            continue
        if c == r:
            report.drop(IDENTICAL, i)
            continue
        try:
            p, cc, rr = split_hh(c, r) if format == "hh" else split_shared_prefix(c, r)
        except ValueError as e:
            errors.append(f"row {i}, field 'chosen': {e}")
            continue
        new = {k: v for k, v in row.items() if k not in ("chosen", "rejected")}
        new.update(prompt=p, chosen=cc, rejected=rr)
        out.append(new)
        ids.append(i)
    if errors:
        raise _many(errors, where, PAIRS)
    if not out and report.total_dropped:
        raise DataError(f"{where}no rows left for kind 'pairs': {report.summary()}")
    return out, ["prompt", *[c for c in columns if c != "prompt"]], ids


def _split_messages_rows(
    rows: list[Mapping], columns: list[str], row_ids: list[int], where: str
) -> tuple[list[dict], list[str]]:
    errors, out = [], []
    for i, row in zip(row_ids, rows):
        m = row.get("messages")
        if not is_messages(m):
            errors.append(f"row {i}, field 'messages': expected a list of messages, got {_type_name(m)}")
            continue
        last = max((k for k, msg in enumerate(m) if msg["role"] == "assistant"), default=-1)
        if last <= 0:
            errors.append(f"row {i}, field 'messages': no assistant message after a prompt to use as the completion")
            continue
        new = {k: v for k, v in row.items() if k != "messages"}
        new.update(prompt=list(m[:last]), completion=[m[last]])
        out.append(new)
    if errors:
        raise _many(errors, where, SFT)
    return out, ["prompt", "completion", *[c for c in columns if c != "messages"]]


def _check_form(rows: list[Mapping], row_ids: list[int], format: str, where: str, kind: str) -> None:
    """format='standard' means plain text everywhere; 'conversational' means messages."""
    if format not in ("standard", "conversational"):
        return
    errors = []
    for i, row in zip(row_ids, rows):
        for field in ("prompt", "chosen", "rejected", "completion"):
            v = row.get(field)
            if format == "standard" and isinstance(v, list):
                errors.append(f"row {i}, field {field!r}: format 'standard' expects plain text, got chat "
                              "messages (use format='conversational' or 'auto')")
            elif format == "conversational" and isinstance(v, str):
                errors.append(f"row {i}, field {field!r}: format 'conversational' expects a list of messages, "
                              "got str (use format='standard' or 'auto')")
    if errors:
        raise _many(errors, where, kind)


def _looks_hh(rows: list[Mapping]) -> bool:
    for row in rows:
        c = row.get("chosen")
        if isinstance(c, str):
            return HH_ASSISTANT in c and (HH_HUMAN in c or c.startswith("Human:"))
        if c is not None:
            return False
    return False


def _merge(a: DropReport, b: DropReport) -> DropReport:
    for reason, rows in b.dropped.items():
        a.dropped.setdefault(reason, []).extend(rows)
        a.dropped[reason].sort()
    a.kept = b.kept
    return a


__all__ = [
    "FORMATS",
    "KINDS",
    "load_records",
    "records_from_list",
    "pairs_to_unpaired",
    "pairs_to_sft",
    "to_prompts",
    "split_hh",
    "split_shared_prefix",
]
