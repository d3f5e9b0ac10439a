"""Loaders: local JSONL/JSON/Parquet files, saved datasets, hub ids, and the common preference
formats (TRL standard, conversational and implicit-prompt; Anthropic-HH transcripts), all turned
into one of the record kinds of :mod:`prefzoo.data.records`, validated, with drops reported.
"""
from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets

from .records import KINDS, OPTIONAL_COLUMNS, PAIRS, PROMPTS, REQUIRED_COLUMNS, SFT, UNPAIRED, DropReport
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
HH_ASSISTANT = "\n\nAssistant:"
HH_HUMAN = "\n\nHuman:"
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
JSON_SUFFIXES = (".json", ".json.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
FILE_SUFFIXES = JSONL_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_LOCAL_SPLIT = re.compile(r"^train(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?$")


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
    problems = [f"row {i}: expected a dict, got {_type_name(r)}" for i, r in enumerate(rows) if not isinstance(r, Mapping)]
    if problems:
        raise _many(problems, "", kind)
    return _from_rows(rows, _columns_of(rows), list(range(len(rows))), kind, format, "")


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
            if k:
                n = k
        return chosen[:n], chosen[n:], rejected[n:]
    n = 0
    while n < min(len(chosen), len(rejected)) and _same_message(chosen[n], rejected[n]):
        n += 1
    return list(chosen[:n]), list(chosen[n:]), list(rejected[n:])


# ----------------------------------------------------------------------------- reading


def _read_source(source: str | os.PathLike, split: str) -> tuple[list[dict], list[str], list[int], str]:
    """rows, columns, source row numbers, and a prefix naming the source for messages."""
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_file():
        where = f"{path}: "
        name = path.name.lower()
        if name.endswith(JSONL_SUFFIXES):
            rows = _read_jsonl(path, where)
        elif name.endswith(JSON_SUFFIXES):
            rows = _read_json(path, where)
        elif name.endswith(PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(path)
            except Exception as e:
                raise DataError(f"{where}cannot read Parquet: {e}") from e
            rows, columns = table.to_pylist(), list(table.column_names)
            ids = list(range(len(rows)))
            rows, ids = _slice_local(rows, ids, split, where)
            return rows, columns, ids, where
        else:
            raise DataError(f"{where}unsupported file type; supported: {', '.join(FILE_SUFFIXES)}")
        ids = list(range(len(rows)))
        rows, ids = _slice_local(rows, ids, split, where)
        return rows, _columns_of(rows), ids, where
    if path.is_dir():
        where = f"{path}: "
        if not any((path / f).exists() for f in ("state.json", "dataset_dict.json")):
            raise DataError(
                f"{where}a directory, but not one written by Dataset.save_to_disk; "
                f"give a file ({', '.join(FILE_SUFFIXES)})"
            )
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{where}no split {split!r}; splits: {list(loaded)}")
            loaded = loaded[split]
        return loaded.to_list(), list(loaded.column_names), list(range(len(loaded))), where
    if text.lower().endswith(FILE_SUFFIXES) or not _HUB_ID.match(text):
        raise DataError(f"file not found: {path.resolve()}")
    return _read_hub(text, split)


def _read_hub(repo_id: str, split: str) -> tuple[list[dict], list[str], list[int], str]:
    where = f"hub dataset {repo_id!r} (split {split!r}): "
    try:
        ds = datasets.load_dataset(repo_id, split=split)
    except Exception as e:
        raise DataError(
            f"{where}could not load ({type(e).__name__}: {e}). Not a local file either; "
            "if the hub is unreachable, download the data and pass the file path."
        ) from e
    if isinstance(ds, datasets.DatasetDict):  # split=None or similar
        raise DataError(f"{where}got several splits {list(ds)}; pass split=")
    return ds.to_list(), list(ds.column_names), list(range(len(ds))), where


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _read_jsonl(path: Path, where: str) -> list[dict]:
    rows: list[dict] = []
    with _open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}line {lineno} (row {len(rows)}): invalid JSON: {e}") from e
            if not isinstance(obj, dict):
                raise DataError(f"{where}line {lineno} (row {len(rows)}): expected a JSON object, got {_type_name(obj)}")
            rows.append(obj)
    return rows


def _read_json(path: Path, where: str) -> list[dict]:
    with _open_text(path) as f:
        raw = f.read()
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        # A .json file holding JSON lines is common enough to accept.
        if len([ln for ln in raw.splitlines() if ln.strip()]) > 1:
            try:
                return _read_jsonl(path, where)
            except DataError:
                pass
        raise DataError(f"{where}invalid JSON: {e}") from e
    if isinstance(obj, dict):
        values = list(obj.values())
        if len(obj) == 1 and isinstance(values[0], list) and all(isinstance(r, dict) for r in values[0]):
            obj = values[0]  # {"data": [{...}, ...]}
        elif obj and all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
            obj = [dict(zip(obj, vals)) for vals in zip(*values)]  # columns: {"prompt": [...], ...}
        else:
            raise DataError(
                f"{where}expected a list of row objects, {{'<key>': [rows]}}, or columns of equal length; "
                f"got an object with keys {list(obj)[:10]}"
            )
    if not isinstance(obj, list):
        raise DataError(f"{where}expected a list of row objects, got {_type_name(obj)}")
    for i, r in enumerate(obj):
        if not isinstance(r, dict):
            raise DataError(f"{where}row {i}: expected a JSON object, got {_type_name(r)}")
    return obj


def _slice_local(rows: list, ids: list[int], split: str, where: str) -> tuple[list, list[int]]:
    m = _LOCAL_SPLIT.match(split.strip()) if isinstance(split, str) else None
    if not m:
        raise DataError(f"{where}a local file has the one split 'train' (slices like 'train[:100]' work); got {split!r}")
    n = len(rows)

    def bound(b: str | None) -> int | None:
        if b is None:
            return None
        return round(n * int(b[:-1]) / 100) if b.endswith("%") else int(b)

    s = slice(bound(m.group(1)), bound(m.group(2)))
    return rows[s], ids[s]


def _columns_of(rows: Sequence[Mapping]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        seen.update(dict.fromkeys(r))
    return list(seen)


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


def _need(ds: datasets.Dataset, kind: str, fn: str) -> None:
    err = missing_columns_error(kind, ds.column_names, f"{fn}: ")
    if err:
        raise err


def _merge(a: DropReport, b: DropReport) -> DropReport:
    for reason, rows in b.dropped.items():
        a.dropped.setdefault(reason, []).extend(rows)
        a.dropped[reason].sort()
    a.kept = b.kept
    return a


def _common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _same_message(a: Mapping, b: Mapping) -> bool:
    return a.get("role") == b.get("role") and a.get("content") == b.get("content")


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
