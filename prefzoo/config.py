"""Typed configuration: plain dicts (from YAML) mapped onto dataclasses, strictly.

Unknown keys are errors with a "did you mean" suggestion; a field whose default is ``REQUIRED``
must be given and names itself when it is not; scalars are checked against the annotation.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from typing import Any

import yaml

REQUIRED: Any = "???"  # sentinel default for fields a recipe must set


class ConfigError(ValueError):
    pass


def _suggest(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


# a number as YAML 1.2 and Python write it; PyYAML follows YAML 1.1 and reads 1e-4 (no dot) as a string
_FLOAT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_SPECIAL = re.compile(r"([-+]?)\.?(inf|infinity|nan)", re.I)


def _number(value: Any) -> Any:
    """A string spelling a number (``1e-4``, ``5E-6``, ``.5``, ``1_000``, ``.inf``) as that number; else as is."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace("_", "")
    special = _SPECIAL.fullmatch(text)
    if special:
        return float(special.group(1) + special.group(2))
    if _FLOAT.fullmatch(text):
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    return value


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: cannot be {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return from_dict(tp, value, where)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if tp is float:
        value = _number(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        value = _number(value)
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def from_dict(cls: type, data: dict | None, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; reject unknown keys, name missing ones."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            loc = f"{where}.{key}" if where else key
            raise ConfigError(f"unknown key {loc!r}{_suggest(key, list(fields))}; "
                              f"known keys{' of ' + where if where else ''}: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        loc = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], loc)
        elif f.default is REQUIRED:
            raise ConfigError(f"missing required value {loc!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from e


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def flat_keys(d, prefix: str = "") -> dict:
    """A nested dict as {dotted key: leaf value} (an empty dict is a leaf)."""
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v})
    return out


def differing_keys(old: dict, new: dict) -> list[str]:
    """The dotted keys whose values differ between two nested dicts (missing on one side counts)."""
    a, b = flat_keys(old), flat_keys(new)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<missing>") != b.get(k, "<missing>"))


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``--set a.b.c=VALUE`` overrides (VALUE parsed as YAML) to a raw recipe dict."""
    data = dict(data)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.lr=1e-4")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({getattr(e, 'problem', None) or e})") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part!r} is not a mapping")
            node[part] = child = dict(child)
            node = child
        node[parts[-1]] = value
    return data
