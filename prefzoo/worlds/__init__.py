"""Testbeds with a known gold preference ("worlds"), by name: the ``WORLDS`` registry.

``toy``: the toy assistant world, the embedded default (content in ``toy.py``, pure Python; the
world object with its base in ``toy_world.py``). ``suite``: the real prompt suite for pretrained
models (``suite.py``, ``refusal.py``). ``dataset``: your own preference pairs, split into train and test
(``dataset.py``). ``sentiment``: continue movie reviews positively, scored by VADER (``sentiment_world.py``;
the ``sentiment`` extra). The interface is the ``World`` protocol in ``base.py``.
Entries are lazy (listing the worlds imports none); installed packages add worlds through the
entry-point group ``prefzoo.worlds``; a recipe may also name ``module:Class`` or ``file.py:Class``.
"""
from __future__ import annotations

from pathlib import Path

from prefzoo.registry import Registry

WORLDS = Registry("world", required=("name", "categories", "prompts", "gold_preference", "rate_pair",
                                     "category_rates"),
                  builtins={"toy": "prefzoo.worlds.toy_world:ToyWorld", "suite": "prefzoo.worlds.suite_world:SuiteWorld",
                            "dataset": "prefzoo.worlds.dataset:DatasetWorld",
                            "sentiment": "prefzoo.worlds.sentiment_world:SentimentWorld"},
                  entry_points="prefzoo.worlds")


def get_world(name: str, base_dir: str | Path | None = None):
    """A fresh world object by name; unknown names get the closest match and the list."""
    return WORLDS.get(name, base_dir)()


__all__ = ["get_world", "WORLDS"]
