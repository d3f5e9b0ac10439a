"""An on-disk cache of AI labels, so an interrupted labelling run resumes without paying again.

One JSONL file per judge identity (``<cache_dir>/<identity hash>.jsonl``), one line per label:
``{"key": ..., "value": {...}}``. The key hashes what the label depends on besides the judge: the
kind of question, the template (the principle), the prompt and both responses. Every ``put`` is
appended and flushed at once, so a crash loses at most the label being computed; a torn last line
is skipped on the next open. The files are plain text: ``grep`` them to see what a judge said.

Under several processes each labels its own rows and appends to its own file (``<hash>.jsonl`` for
the main process, ``<hash>.rank<N>.jsonl`` for process N), so no two processes write one file; a
cache opens every file of its identity, so a rerun on any number of processes finds every label.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from prefzoo import dist


def stable_hash(obj: Any, size: int = 16) -> str:
    """A hash of a JSON-able object that is the same in every process and run."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size).hexdigest()


class LabelCache:
    """Labels of one judge identity. ``get(key)`` -> dict or None; ``put(key, value)`` appends."""

    def __init__(self, cache_dir: str | os.PathLike, identity: dict):
        self.identity = identity
        name = stable_hash(identity)
        shard = "" if dist.is_main() else f".rank{dist.rank()}"
        self.path = Path(cache_dir) / f"{name}{shard}.jsonl"
        self.hits = 0
        self.misses = 0
        self._values: dict[str, dict] = {}
        self._file = None
        for path in sorted(Path(cache_dir).glob(f"{name}*.jsonl")):
            self._load(path)

    def _load(self, path: Path) -> None:
        """Every label of one file. A torn last line (an interrupted write, perhaps cut inside a UTF-8
        character) is dropped with a note, and cut from this process's own file, so that the next label
        appended starts a line of its own; that label is computed again."""
        data = path.read_bytes()
        lines = data.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        for line in lines:
            try:
                row = json.loads(line.decode("utf-8"))
                self._values[row["key"]] = row["value"]
            except (ValueError, KeyError, TypeError):
                continue  # the identity line, or a line damaged by an earlier interrupted write
        if torn.strip():
            print(f"note: label cache {path}: dropped a torn last line (an interrupted write); "
                  f"that label is computed again")
            if path == self.path:
                with open(path, "r+b") as f:
                    f.truncate(len(data) - len(torn))

    @staticmethod
    def key(*parts: Any) -> str:
        return stable_hash(list(parts))

    def get(self, key: str) -> dict | None:
        value = self._values.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: dict) -> None:
        self._values[key] = value
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            self._file = open(self.path, "a", encoding="utf-8")
            if new:  # the first line says whose labels these are (skipped on load: no "value")
                self._file.write(json.dumps({"identity": self.identity}, default=str) + "\n")
        self._file.write(json.dumps({"key": key, "value": value}) + "\n")
        self._file.flush()

    def __len__(self) -> int:
        return len(self._values)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def stats(self) -> dict:
        return {"path": str(self.path), "hits": self.hits, "misses": self.misses, "size": len(self)}


__all__ = ["LabelCache", "stable_hash"]
