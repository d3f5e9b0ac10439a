"""Reading a source into plain rows: JSONL/JSON/Parquet files (``.gz`` for the JSON ones), directories
written by ``Dataset.save_to_disk``, and hub ids. Every problem is a :class:`DataError` naming the source.
"""
from __future__ import annotations

import gzip
import zlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import datasets

from .validate import DataError, _type_name

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
JSON_SUFFIXES = (".json", ".json.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
FILE_SUFFIXES = JSONL_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_LOCAL_SPLIT = re.compile(r"^train(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?$")


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


def _lines(path: Path, where: str) -> list[tuple[int, str]]:
    """(line number, text) of a text file or a .gz of one, each line decoded as UTF-8 on its own so that
    a bad byte is named by its line; a corrupt .gz or an empty file is one clear error."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{where}cannot read the file ({type(e).__name__}: {e.strerror or e})") from None
    if path.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise DataError(f"{where}not a readable gzip file ({type(e).__name__}: {e}); "
                            f"re-create or re-download it") from None
    if not raw.strip():
        raise DataError(f"{where}the file is empty")
    out = []
    for lineno, line in enumerate(raw.splitlines(), 1):
        try:
            out.append((lineno, line.decode("utf-8")))
        except UnicodeDecodeError as e:
            raise DataError(f"{where}line {lineno}: not UTF-8 text (byte {line[e.start]:#04x} at column "
                            f"{e.start + 1}); save the file as UTF-8") from None
    return out


def _read_jsonl(path: Path, where: str) -> list[dict]:
    rows: list[dict] = []
    for lineno, line in _lines(path, where):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}line {lineno} (row {len(rows)}): invalid JSON: {e}") from e
        if not isinstance(obj, dict):
            raise DataError(
                f"{where}line {lineno} (row {len(rows)}): expected a JSON object, got {_type_name(obj)}"
            )
        rows.append(obj)
    return rows


def _read_json(path: Path, where: str) -> list[dict]:
    raw = "\n".join(line for _, line in _lines(path, where))
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
        raise DataError(
            f"{where}a local file has the one split 'train' (slices like 'train[:100]' work); got {split!r}"
        )
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
