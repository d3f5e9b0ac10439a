"""Which process am I, for code that writes files: under ``accelerate launch`` / ``torchrun`` every
process runs the same program, and only the main one may write a shared file.

These read the launcher's environment (``RANK``, ``WORLD_SIZE``) and ``torch.distributed``, so they
work in code that has no Accelerator at hand (label caches, the base builder, reports) and before
one exists. With one process they are no-ops: ``is_main()`` is True and ``barrier()`` returns.
"""
from __future__ import annotations

import contextlib
import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    """Wait for every process (a no-op with one, or before the process group exists)."""
    import torch.distributed as td

    if world_size() > 1 and td.is_available() and td.is_initialized():
        td.barrier()


@contextlib.contextmanager
def main_first():
    """The main process runs the block first (e.g. builds and caches something); the others wait,
    then run it too (and find the cache)."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


__all__ = ["rank", "world_size", "is_main", "barrier", "main_first"]
