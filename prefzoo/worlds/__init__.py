"""Testbeds with a known gold preference ("worlds"), by name.

``toy``: the toy assistant world, the embedded default (content in ``toy.py``, pure Python; the
world object with its base in ``toy_world.py``). ``suite``: the real prompt suite for pretrained
models (``suite.py``, ``refusal.py``). What a world offers is described in ``base.py``.
"""
import difflib

from . import toy

WORLDS = {"toy": "prefzoo.worlds.toy_world:ToyWorld", "suite": "prefzoo.worlds.suite_world:SuiteWorld"}


def get_world(name: str):
    """A fresh world object by name; unknown names get the closest match and the list."""
    import importlib

    if name not in WORLDS:
        close = difflib.get_close_matches(name, list(WORLDS), n=1)
        hint = f" did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown world {name!r}.{hint} Available: {', '.join(sorted(WORLDS))}")
    module, _, cls = WORLDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["toy", "get_world", "WORLDS"]
