"""Registries: name -> object, for algorithms, worlds, judge backends and evaluation metrics.

One small class does the job for all of them (Gymnasium's ``register``/``make`` pattern):
- ``register(name)`` decorates a class; a duplicate name raises (no silent overwrite) and the
  registry's required attributes are checked at registration;
- entries can be lazy, ``name -> "module:Attr"``: a checked manifest of built-ins, so that listing a
  registry imports nothing heavy, and an entry-point group for installed plug-in packages;
- ``get(name)`` imports a lazy entry on first use; an unknown name raises with the closest names
  ("did you mean") and the full list; ``module:Attr`` and ``file.py:Attr`` names load that object.

``load_object`` is the one way prefzoo loads "a .py file or a module, then an attribute of it", with
relative paths resolved against a base folder (the recipe's).

The algorithm registry is this module's ``ALGORITHMS``; ``register``/``get``/``names``/``describe``/
``load_plugins`` at module level are its methods, kept as the plug-in author's interface.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable


class RegistryError(KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class PluginError(ImportError):
    """A plug-in file or module that cannot be found or raised while it was imported."""


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def did_you_mean(name: str, options: list[str]) -> str:
    """' did you mean 'x'? (also close: 'y')' or ''. Ties keep difflib's order (stable)."""
    close = sorted(difflib.get_close_matches(name, options, n=4, cutoff=0.5), key=lambda c: _edit_distance(name, c))
    hint = f" did you mean {close[0]!r}?" if close else ""
    if len(close) > 1:
        hint += f" (also close: {', '.join(repr(c) for c in close[1:])})"
    return hint


def recipe_path(spec: str | Path, base_dir: str | Path | None) -> Path:
    """A path named in a recipe: under ``base_dir`` (the recipe's folder) where it exists there, else as given.
    The one rule for every file a recipe names (plug-ins, rules, data, reward models, metrics)."""
    path = Path(spec)
    if not path.is_absolute() and base_dir is not None and (Path(base_dir) / path).exists():
        return Path(base_dir) / path
    return path


def load_module(spec: str, base_dir: str | Path | None = None):
    """Import a ``.py`` file (relative paths: to ``base_dir`` first, then the working folder) or a module
    by name. A file is imported once per resolved path; an error inside it is a ``PluginError`` naming it."""
    path = recipe_path(spec, base_dir)
    if spec.endswith(".py") or path.exists():
        if not path.exists():
            where = f"{Path(base_dir).resolve() / spec} or {path.resolve()}" if base_dir is not None else path.resolve()
            raise PluginError(f"file {spec!r} not found (looked for {where})")
        resolved = str(path.resolve())
        name = f"prefzoo_plugin_{path.stem}_{hashlib.blake2b(resolved.encode(), digest_size=6).hexdigest()}"
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[name]
            raise PluginError(f"{spec}: importing it raised {type(e).__name__}: {e}") from e
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as e:
        if e.name and spec.startswith(e.name):
            raise PluginError(f"no module named {spec!r} (and no file of that name)") from e
        raise PluginError(f"{spec}: importing it raised {type(e).__name__}: {e}") from e


def load_object(target: str, base_dir: str | Path | None = None) -> Any:
    """``"file.py:name"`` or ``"package.module:name"`` -> that object (``name`` may be dotted)."""
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise PluginError(f"{target!r}: expected FILE.py:NAME or MODULE:NAME")
    obj = load_module(where, base_dir)
    for part in attr.split("."):
        if not hasattr(obj, part):
            have = sorted(n for n in dir(obj) if not n.startswith("_"))
            raise PluginError(f"{target!r}: {where} has no {attr!r}; it has: {', '.join(have)}")
        obj = getattr(obj, part)
    return obj


class Registry:
    """name -> object. ``required``: attributes every registered object must have. ``builtins``: a
    manifest ``name -> "module:Attr"`` imported on first use. ``entry_points``: an importlib entry-point
    group whose entries (name = "module:Attr") are added lazily. ``on_register(name, obj)`` runs at
    registration (e.g. to set ``obj.name``)."""

    def __init__(self, kind: str, *, required: tuple[str, ...] = (), builtins: dict[str, str] | None = None,
                 entry_points: str | None = None, hint: str = "",
                 on_register: Callable[[str, Any], None] | None = None):
        self.kind, self.required, self.hint = kind, required, hint
        self.entry_points, self.on_register = entry_points, on_register
        self._loaded: dict[str, Any] = {}
        self._lazy: dict[str, str] = dict(builtins or {})
        self._scanned = entry_points is None

    # -- registration
    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator: make ``obj`` available under ``name``."""

        def wrap(obj: Any) -> Any:
            self.add(name, obj)
            return obj

        return wrap

    def add(self, name: str, obj: Any) -> None:
        have = self._loaded.get(name)
        if have is not None and have is not obj and _qualname(have) != _qualname(obj):
            raise RegistryError(f"{self.kind} name {name!r} is already registered by {_qualname(have)}; "
                                f"pick another name")
        for attr in self.required:
            if not hasattr(obj, attr):
                raise TypeError(f"{self.kind} {name!r} ({getattr(obj, '__qualname__', obj)!r}) lacks the "
                                f"attribute {attr!r}")
        if self.on_register is not None:
            self.on_register(name, obj)
        self._loaded[name] = obj

    def add_lazy(self, name: str, target: str) -> None:
        self._lazy.setdefault(name, target)

    # -- lookup
    def _scan_entry_points(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_points):
            self.add_lazy(ep.name, ep.value)

    def names(self) -> list[str]:
        self._scan_entry_points()
        return sorted(set(self._loaded) | set(self._lazy))

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def get(self, name: str, base_dir: str | Path | None = None) -> Any:
        self._scan_entry_points()
        if name in self._loaded:
            return self._loaded[name]
        if name in self._lazy:
            obj = load_object(self._lazy[name])
            self._loaded.setdefault(name, obj)  # a module that registered itself under this name already did
            if self._loaded[name] is not obj:
                raise RegistryError(f"{self.kind} {name!r}: {self._lazy[name]} registered another object under it")
            return obj
        if ":" in name:  # "module:Class" or "file.py:Class", named directly in a recipe
            return load_object(name, base_dir)
        raise RegistryError(f"unknown {self.kind} {name!r}.{did_you_mean(name, self.names())} "
                            f"Available: {', '.join(self.names())}.{(' ' + self.hint) if self.hint else ''}")

    def loaded(self) -> dict[str, Any]:
        """What is imported and registered so far (tests compare it with the manifest)."""
        return dict(self._loaded)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _name_algorithm(name: str, cls: Any) -> None:
    cls.name = name


def _builtin_algorithms() -> dict[str, str]:
    from prefzoo.algos import MANIFEST

    return MANIFEST


class _Algorithms(Registry):
    """The algorithm registry: its manifest is read from ``prefzoo.algos`` on first use (so that
    ``import prefzoo.registry`` stays a leaf)."""

    def _scan_entry_points(self) -> None:
        if not self._scanned:
            for name, target in _builtin_algorithms().items():
                self.add_lazy(name, target)
        super()._scan_entry_points()


ALGORITHMS = _Algorithms("algorithm", required=("family", "data_kind", "summary", "paper", "Config"),
                         entry_points="prefzoo.algorithms", on_register=_name_algorithm,
                         hint="(Plug-ins: `plugins: [path/to/file.py]` in the recipe, or MODULE:CLASS as the name.)")


def register(name: str):
    """Class decorator: make an algorithm available under ``name``."""
    return ALGORITHMS.register(name)


def get(name: str, base_dir: str | Path | None = None) -> type:
    """The algorithm class called ``name`` (a registered name, or ``module:Class`` / ``file.py:Class``)."""
    return ALGORITHMS.get(name, base_dir)


def names() -> list[str]:
    return ALGORITHMS.names()


def describe(name: str) -> dict:
    cls = get(name)
    return {"name": name, "family": cls.family, "data_kind": cls.data_kind,
            "summary": cls.summary, "paper": cls.paper}


def load_plugins(specs: list[str], base_dir: str | Path | None = None) -> None:
    """Import each plug-in (a path to a .py file, relative to ``base_dir``, or a module name); its
    decorators register what it defines."""
    for spec in specs:
        load_module(spec, base_dir)
