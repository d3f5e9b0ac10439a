"""The algorithm registry: name -> algorithm class.

Every algorithm file registers itself with ``@register("name")``. A duplicate name raises (no
silent overwrite); an unknown name raises with the closest names and the full list. Plug-ins
(a ``.py`` file or an importable module) are loaded by ``load_plugins`` and register the same way.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from pathlib import Path

_ALGOS: dict[str, type] = {}
_BUILTINS_LOADED = False


class RegistryError(KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def register(name: str):
    """Class decorator: make an algorithm available under ``name``."""

    def wrap(cls: type) -> type:
        if name in _ALGOS and _ALGOS[name] is not cls:
            raise RegistryError(
                f"algorithm name {name!r} is already registered by {_ALGOS[name].__module__}."
                f"{_ALGOS[name].__qualname__}; pick another name")
        for attr in ("family", "data_kind", "summary", "paper", "Config"):
            if not hasattr(cls, attr):
                raise TypeError(f"algorithm {name!r} ({cls.__qualname__}) lacks the class attribute {attr!r}")
        cls.name = name
        _ALGOS[name] = cls
        return cls

    return wrap


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        import prefzoo.algos  # noqa: F401  (each module registers itself on import)


def get(name: str) -> type:
    _load_builtins()
    if name not in _ALGOS:
        close = sorted(difflib.get_close_matches(name, list(_ALGOS), n=4, cutoff=0.5),
                       key=lambda c: _edit_distance(name, c))  # stable: ties keep difflib's order
        hint = f" did you mean {close[0]!r}?" if close else ""
        if len(close) > 1:
            hint += f" (also close: {', '.join(repr(c) for c in close[1:])})"
        raise RegistryError(
            f"unknown algorithm {name!r}.{hint} Available: {', '.join(sorted(_ALGOS))}. "
            f"(Plug-ins are loaded with `plugins: [path/to/file.py]` in the recipe.)")
    return _ALGOS[name]


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def names() -> list[str]:
    _load_builtins()
    return sorted(_ALGOS)


def describe(name: str) -> dict:
    cls = get(name)
    return {"name": name, "family": cls.family, "data_kind": cls.data_kind,
            "summary": cls.summary, "paper": cls.paper}


def load_plugins(specs: list[str], base_dir: str | Path | None = None) -> None:
    """Import each plug-in (a path to a .py file, relative to ``base_dir``, or a module name)."""
    _load_builtins()
    for spec in specs:
        path = Path(spec)
        if not path.is_absolute() and base_dir is not None and (Path(base_dir) / path).exists():
            path = Path(base_dir) / path
        if spec.endswith(".py") or path.exists():
            if not path.exists():
                raise FileNotFoundError(f"plug-in file {spec!r} not found (looked in {path.resolve()})")
            mod_name = f"prefzoo_plugin_{path.stem}_{abs(hash(str(path.resolve())))}"
            if mod_name in sys.modules:
                continue
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[mod_name] = module
            module_spec.loader.exec_module(module)
        else:
            importlib.import_module(spec)
