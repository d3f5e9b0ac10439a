"""Where a result came from: ``environment.json`` beside every compare result.

Float results differ from one CPU to another even where each machine is deterministic, so a committed
table says what produced it: package versions, the CPU and its thread settings, torch's determinism
flags, and the git commit (and whether the tree had uncommitted changes)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("prefzoo", "torch", "transformers", "accelerate", "peft", "datasets", "trl")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu() -> dict:
    info = {"machine": platform.machine(), "processor": platform.processor() or None, "cores": os.cpu_count()}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text(errors="replace").splitlines()
        model = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), None)
        flags = next((x.split(":", 1)[1].split() for x in lines if x.startswith("flags")), [])
        info.update(model=model, flags=sorted(f for f in flags if f.startswith(("avx", "fma", "amx", "sse4"))))
    return info


def _git(root: Path) -> dict:
    def run(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def environment() -> dict:
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(),
            "packages": {p: _version(p) for p in PACKAGES}, "cpu": _cpu(),
            "threads": {"torch": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "git": _git(Path(__file__).resolve().parent)}


def write_environment(out_dir: str | Path) -> Path:
    path = Path(out_dir) / "environment.json"
    path.write_text(json.dumps(environment(), indent=2) + "\n")
    return path
