"""Validation of record sets: every row checked, every problem named by row and field.

Errors (wrong type, missing column, empty completion, ``p_chosen`` outside [0, 1], ...) raise
:class:`DataError`. The one recoverable defect, a pair whose chosen and rejected completions are
identical, is dropped and counted in a :class:`~prefzoo.data.records.DropReport`. Nothing is
dropped silently.
"""
from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import datasets

from .records import KINDS, OPTIONAL_COLUMNS, PAIRS, REQUIRED_COLUMNS, DropReport

log = logging.getLogger(__name__)

IDENTICAL = "chosen identical to rejected"
MAX_LISTED_ERRORS = 10
# Fields holding a prompt or a completion: plain text or chat messages.
TEXT_FIELDS = ("prompt", "chosen", "rejected", "completion")
COMPLETION_FIELDS = ("chosen", "rejected", "completion")


class DataError(ValueError):
    """A record set that cannot be used as it is. ``errors`` lists every problem found."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = list(errors) if errors else [message]


# ----------------------------------------------------------------------------- helpers


def is_messages(x: Any) -> bool:
    """True for a non-empty list of chat messages: dicts with string ``role`` and ``content``."""
    return (
        isinstance(x, (list, tuple))
        and len(x) > 0
        and all(
            isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in x
        )
    )


def message_text(x: str | list[dict], *, roles: bool = False, sep: str = "\n\n") -> str:
    """Plain text of a prompt or completion.

    A string is returned as is. Messages are joined by ``sep``: their contents only (the default,
    so a one-message prompt or completion gives exactly its content), or ``"role: content"`` when
    ``roles=True``.
    """
    if isinstance(x, str):
        return x
    if is_messages(x):
        return sep.join(f"{m['role']}: {m['content']}" if roles else m["content"] for m in x)
    raise TypeError(f"expected str or list of messages, got {_type_name(x)}")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataError(f"unknown record kind {kind!r}{hint}; kinds are: {', '.join(KINDS)}")
    return kind


def _type_name(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, (list, tuple)):
        if not x:
            return "empty list"
        if is_messages(x):
            return "list of messages"
        if isinstance(x[0], Mapping):
            return "list of dicts that are not messages"
        return f"list of {type(x[0]).__name__}"
    return type(x).__name__


ROLES = ("system", "user", "assistant", "tool")  # the roles chat templates render


def _message_problem(x: list, completion: bool = False) -> str | None:
    """Why a list is not a valid message list (None when it is). A completion is assistant turns only: a
    'user' message there would be rendered as nothing but the end-of-turn token."""
    for j, m in enumerate(x):
        if not isinstance(m, Mapping):
            return f"message {j} is {type(m).__name__}, expected a dict with 'role' and 'content'"
        for key in ("role", "content"):
            if key not in m:
                return f"message {j} has no {key!r} (keys: {sorted(m)})"
            if not isinstance(m[key], str):
                return f"message {j} {key!r} is {_type_name(m[key])}, expected str"
        if m["role"] not in ROLES:
            return f"message {j} has role {m['role']!r}; roles are {', '.join(ROLES)}"
        if completion and m["role"] != "assistant":
            return f"message {j} has role {m['role']!r}; a completion holds assistant messages only"
    return None


def _is_empty(x: str | list) -> bool:
    if isinstance(x, str):
        return not x.strip()
    return all(not m["content"].strip() for m in x)


def _plain(x: Any) -> Any:
    """A copy of a text or message value as plain Python (dicts, lists, str)."""
    if isinstance(x, (list, tuple)):
        return [dict(m) for m in x]
    return x


def missing_columns_error(kind: str, present: Iterable[str], where: str = "") -> DataError | None:
    required = REQUIRED_COLUMNS[kind]
    present = list(present)
    missing = [c for c in required if c not in present]
    if not missing:
        return None
    return DataError(
        f"{where}missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
        f"for kind {kind!r}: required {list(required)}, optional {list(OPTIONAL_COLUMNS[kind])}; "
        f"columns present: {present}"
    )


# ----------------------------------------------------------------------------- core


def validate_rows(
    rows: Iterable[Mapping[str, Any]],
    kind: str,
    *,
    columns: Iterable[str] | None = None,
    where: str = "",
    row_ids: Iterable[int] | None = None,
) -> tuple[datasets.Dataset, DropReport]:
    """Check rows of ``kind``; return the canonical Dataset and what was dropped.

    ``columns`` are the columns of the source (default: the union of the rows' keys); ``where``
    prefixes messages (e.g. the file name); ``row_ids`` are the source row numbers reported in
    errors and drops (default 0, 1, 2, ...).
    """
    check_kind(kind)
    rows = list(rows)
    keep_cols = _kept_columns(rows, kind, columns, where)
    ids = list(row_ids) if row_ids is not None else list(range(len(rows)))
    if not rows:
        raise DataError(f"{where}no rows")

    errors: list[str] = []
    report = DropReport()
    out: list[dict] = []
    form: dict[str, tuple[str, int]] = {}  # field -> ("text" | "messages" | a type name, first row)
    for i, row in zip(ids, rows):
        fail = _failer(errors, i)
        rec = _check_row(row, i, keep_cols, form, fail)
        if rec is None:
            continue
        # Content checks, after types. Identical pairs are dropped, unless both are empty.
        if kind == PAIRS and rec["chosen"] == rec["rejected"] and not _is_empty(rec["chosen"]):
            report.drop(IDENTICAL, i)
            continue
        if not _is_empty_ok(rec, kind, fail):
            continue
        out.append(rec)
    return _build(out, errors, report, kind, where)


def _kept_columns(rows: list, kind: str, columns: Iterable[str] | None, where: str) -> list[str]:
    """The columns of ``kind`` that are kept (required, then the optional ones present); the rest are logged."""
    if columns is None:
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        columns = list(seen)
    columns = list(columns)
    err = missing_columns_error(kind, columns, where)
    if err:
        raise err
    keep_cols = [c for c in REQUIRED_COLUMNS[kind]] + [c for c in OPTIONAL_COLUMNS[kind] if c in columns]
    extra = [c for c in columns if c not in keep_cols]
    if extra:
        log.info("%scolumns %s are not part of kind %r and are not kept", where, extra, kind)
    return keep_cols


def _failer(errors: list[str], i: int):
    """``fail(field, msg)`` for row ``i``: records the problem in ``errors``."""

    def fail(field: str, msg: str) -> None:
        errors.append(f"row {i}, field {field!r}: {msg}")

    return fail


_BAD = object()  # a field value that failed its check (the problem is already recorded)


def _check_row(row: Any, i: int, keep_cols: list[str], form: dict, fail) -> dict | None:
    """The canonical record of one row, or None when any field failed its type check (each one recorded)."""
    rec: dict[str, Any] = {}
    bad = False
    for c in keep_cols:
        v = row.get(c) if isinstance(row, Mapping) else None
        value = _check_field(c, v, i, form, fail)
        if value is _BAD:
            bad = True
            continue
        rec[c] = value
    return None if bad else rec


def _check_field(c: str, v: Any, i: int, form: dict, fail) -> Any:
    """The canonical value of field ``c`` in row ``i``, or ``_BAD`` after calling ``fail``."""
    if c in TEXT_FIELDS:
        return _check_text(c, v, i, form, fail)
    if c == "label":
        if not isinstance(v, bool):
            fail(c, f"expected bool (True = desirable), got {_type_name(v)}")
            return _BAD
        return v
    if c == "p_chosen":
        if v is None:  # a partly present column: this row has no soft label, i.e. a hard one
            return 1.0
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            fail(c, f"expected a number in [0, 1], got {_type_name(v)}")
            return _BAD
        if not (0.0 <= float(v) <= 1.0) or math.isnan(float(v)):
            fail(c, f"p_chosen must be in [0, 1], got {v}")
            return _BAD
        return float(v)
    # category, id: kept as given, one type per column (None allowed)
    if v is not None:
        first = form.setdefault(c, (type(v).__name__, i))
        if first[0] != type(v).__name__:
            fail(c, f"is {type(v).__name__} but row {first[1]} is {first[0]}; use one type per column")
            return _BAD
    return v


def _check_text(c: str, v: Any, i: int, form: dict, fail) -> Any:
    """A prompt or completion: plain text or chat messages, one form per column."""
    completion = c in COMPLETION_FIELDS
    if isinstance(v, str):
        f = "text"
    elif isinstance(v, (list, tuple)) and v and _message_problem(v, completion) is None:
        f = "messages"
    elif isinstance(v, (list, tuple)) and not v:
        what = "completion" if c in COMPLETION_FIELDS else "prompt"
        fail(c, f"empty {what} (empty message list)")
        return _BAD
    elif isinstance(v, (list, tuple)):
        fail(c, f"expected str or list of messages, got a list where {_message_problem(v, completion)}")
        return _BAD
    else:
        fail(c, f"expected str or list of messages, got {_type_name(v)}")
        return _BAD
    first = form.setdefault(c, (f, i))
    if first[0] != f:
        fail(c, f"is {'chat messages' if f == 'messages' else 'plain text'} but row {first[1]} "
                f"is {'chat messages' if first[0] == 'messages' else 'plain text'}; "
                "use one form per column")
        return _BAD
    return _plain(v)


def _build(out: list[dict], errors: list[str], report: DropReport, kind: str, where: str
           ) -> tuple[datasets.Dataset, DropReport]:
    """Raise every recorded problem at once, or build the Dataset of the kept records."""
    if errors:
        raise _many(errors, where, kind)
    report.kept = len(out)
    if report.total_dropped:
        log.warning("%s%s", where, report.summary())
    if not out:
        raise DataError(f"{where}no rows left for kind {kind!r}: {report.summary()}")
    try:
        ds = datasets.Dataset.from_list(out)
    except Exception as e:  # e.g. an 'id' column mixing ints and strings
        raise DataError(f"{where}could not build a Dataset of kind {kind!r}: {e}") from e
    return ds, report


def _is_empty_ok(rec: dict, kind: str, fail) -> bool:
    ok = True
    if "prompt" in rec and _is_empty(rec["prompt"]):
        fail("prompt", "empty prompt")
        ok = False
    for c in COMPLETION_FIELDS:
        if c in rec and _is_empty(rec[c]):
            fail(c, "empty completion")
            ok = False
    return ok


def _many(errors: list[str], where: str, kind: str) -> DataError:
    if len(errors) == 1:
        return DataError(f"{where}{errors[0]}", errors)
    shown = "\n  ".join(errors[:MAX_LISTED_ERRORS])
    more = f"\n  ... and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
    return DataError(f"{where}{len(errors)} problems in records of kind {kind!r}:\n  {shown}{more}", errors)


def validate(ds: datasets.Dataset, kind: str) -> tuple[datasets.Dataset, DropReport]:
    """Validate a Dataset already in ``kind``'s canonical columns; drop identical pairs (reported).

    Extra columns not in ``OPTIONAL_COLUMNS[kind]`` are not kept. Raises :class:`DataError`.
    """
    check_kind(kind)
    if not isinstance(ds, datasets.Dataset):
        raise DataError(f"validate expects a datasets.Dataset, got {type(ds).__name__}")
    err = missing_columns_error(kind, ds.column_names)
    if err:
        raise err
    keep = [c for c in ds.column_names if c in REQUIRED_COLUMNS[kind] or c in OPTIONAL_COLUMNS[kind]]
    return validate_rows(ds.select_columns(keep), kind, columns=ds.column_names)


__all__ = [
    "DataError",
    "IDENTICAL",
    "check_kind",
    "is_messages",
    "message_text",
    "validate",
    "validate_rows",
]
