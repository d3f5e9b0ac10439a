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

    if _initialized():
        td.barrier()


def shutdown() -> None:
    """End the process group once every process is done (a no-op with one). Left to interpreter exit, the
    group's background threads can still be running while a process is torn down, and that process then
    aborts ("terminate called without an active exception") after its work finished."""
    import torch.distributed as td

    if _initialized():
        td.barrier()
        td.destroy_process_group()


def _initialized() -> bool:
    import torch.distributed as td

    return world_size() > 1 and td.is_available() and td.is_initialized()


def from_main(compute):
    """``compute()`` run on the main process, its value handed to every process: answers that must be
    the same everywhere (is this file there yet, what does it hold) come from one place."""
    if not _initialized():
        return compute()
    import torch.distributed as td

    box = [compute() if is_main() else None]
    td.broadcast_object_list(box, src=0)
    return box[0]


def gather(value) -> list:
    """Every process's ``value``, in rank order, on every process."""
    if not _initialized():
        return [value]
    import torch.distributed as td

    out = [None] * world_size()
    td.all_gather_object(out, value)
    return out


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


__all__ = ["rank", "world_size", "is_main", "barrier", "main_first", "from_main", "gather"]
