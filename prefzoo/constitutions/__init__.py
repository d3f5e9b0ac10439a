"""Constitutions for Constitutional AI (Bai et al. 2022, arXiv 2212.08073).

A constitution is YAML (or a world's dict) with:
- ``principles``: ``{name, critique_request, revision_request}``, one sampled per critique round;
- ``comparisons``: comparison principles for the feedback stage, either a question ("Which reply is
  less harmful?") set into ``comparison_frame`` ({prompt} {question} {a} {b}), or a full template
  with {prompt} {a} {b};
- optional ``options`` (the two answer strings of a comparison) and ``name``.

``load_constitution(None)`` is prefzoo's ``default.yaml``; a path loads that file; a dict (a world's
``constitution``) is used as given. ``resolve_constitution`` picks between a recipe's and a world's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).with_name("default.yaml")


class ConstitutionError(ValueError):
    pass


@dataclass
class Principle:
    name: str
    critique_request: str
    revision_request: str


@dataclass
class Constitution:
    principles: list[Principle]
    comparisons: list[str]                   # full templates with {prompt} {a} {b}
    options: tuple[str, str] | None = None  # None: the judge's (or world's) options
    name: str = "constitution"
    source: str = ""

    def words(self) -> list[str]:
        """All text the constitution writes into prompts (for a word-level tokenizer)."""
        texts = [x for p in self.principles for x in (p.critique_request, p.revision_request)]
        texts += [re.sub(r"\{(prompt|a|b)\}", " ", c) for c in self.comparisons]
        return texts + list(self.options or ())


def _frame(question: str, frame: str | None) -> str:
    if all(f"{{{k}}}" in question for k in ("prompt", "a", "b")):
        return question
    if frame is None:
        raise ConstitutionError(f"comparison {question!r} is not a template with {{prompt}} {{a}} {{b}} "
                                f"and the constitution has no comparison_frame")
    return frame.replace("{question}", question)


def from_mapping(data: dict, source: str = "") -> Constitution:
    where = f" in {source}" if source else ""
    if not isinstance(data, dict):
        raise ConstitutionError(f"a constitution is a mapping{where}, got {type(data).__name__}")
    unknown = set(data) - {"name", "options", "comparison_frame", "principles", "comparisons"}
    if unknown:
        raise ConstitutionError(f"unknown constitution keys{where}: {sorted(unknown)}")
    principles = []
    for i, p in enumerate(data.get("principles") or []):
        missing = [k for k in ("critique_request", "revision_request") if not p.get(k)]
        if missing:
            raise ConstitutionError(f"principle {i}{where} lacks {missing}")
        principles.append(Principle(str(p.get("name", f"principle-{i}")), p["critique_request"], p["revision_request"]))
    if not principles:
        raise ConstitutionError(f"the constitution{where} has no principles")
    frame = data.get("comparison_frame")
    comparisons = [_frame(str(c), frame) for c in data.get("comparisons") or []]
    options = data.get("options")
    if options is not None and (len(options) != 2 or len(set(map(str, options))) != 2):
        raise ConstitutionError(f"constitution options{where} must be two distinct strings, got {options}")
    return Constitution(principles, comparisons, tuple(map(str, options)) if options else None,
                        str(data.get("name", Path(source).stem if source else "constitution")), source)


def load_constitution(spec: str | Path | dict | Constitution | None = None) -> Constitution:
    """None or "default": prefzoo's default; a path: that YAML file; a dict: as given."""
    if isinstance(spec, Constitution):
        return spec
    if isinstance(spec, dict):
        return from_mapping(spec, "a world's constitution")
    path = DEFAULT_PATH if spec in (None, "default") else Path(spec)
    if not path.exists():
        raise ConstitutionError(f"constitution file {str(path)!r} not found")
    return from_mapping(yaml.safe_load(path.read_text()), str(path))


def resolve_constitution(spec: str | None, world: Any) -> Constitution:
    """The recipe's constitution file; else the world's (in its own vocabulary); else the default."""
    if spec is None and getattr(world, "constitution", None) is not None:
        c = world.constitution
        return load_constitution(c() if callable(c) else c)
    return load_constitution(spec)


__all__ = ["Constitution", "Principle", "ConstitutionError", "load_constitution", "resolve_constitution",
           "from_mapping", "DEFAULT_PATH"]
