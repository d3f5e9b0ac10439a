"""Testbeds with a known gold preference.

``toy``: the toy assistant world, the embedded default. It is pure Python (no torch), so prompts,
gold scores, simulated raters and the base model's training corpus can be produced and tested
anywhere.
"""
from . import toy

__all__ = ["toy"]
