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


def write_environment(out_dir: str | Path, keep_earlier: bool = False) -> Path:
    """``environment.json``: this invocation's environment. ``keep_earlier`` (a rerun that reuses results an
    earlier one made): the earlier file's environments go under ``earlier_runs``, newest last, so the
    commit and machine that trained the reused arms are not lost."""
    path = Path(out_dir) / "environment.json"
    env = environment()
    if keep_earlier and path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if isinstance(old, dict):
            env["earlier_runs"] = [*old.pop("earlier_runs", []), old]
    path.write_text(json.dumps(env, indent=2) + "\n")
    return path


# ----------------------------------------------------------------------------- fingerprints of compare results
# what does not change an arm's numbers: left out of its fingerprint
UNFINGERPRINTED_TRAIN = ("progress", "tracker", "cache_dir", "resume", "checkpoint_every", "log_every")


def _version_of_prefzoo() -> str:
    from prefzoo import __version__

    return __version__


def pairs_fingerprint(recipe, seed: int, base_hash: str) -> dict:
    """What one seed's human pairs depend on: the label budget, the seed, the base, the prompts, the world."""
    return {"label_budget": recipe.label_budget, "seed": seed, "base": base_hash, "world": recipe.world,
            "train_prompts": recipe.train_prompts, "sample_max_new_tokens": recipe.sample_max_new_tokens,
            "prefzoo": _version_of_prefzoo()}


def resolved_params(algorithm: str, params: dict, base_dir=None) -> dict:
    """``params`` through the algorithm's Config (defaults filled in), or as given where that fails (the arm
    will fail in training and be recorded)."""
    from prefzoo import registry
    from prefzoo.config import from_dict, to_dict

    try:
        return to_dict(from_dict(registry.get(algorithm, base_dir).Config, params))
    except Exception:
        return dict(params)


def arm_fingerprint(arm, seed: int, base_hash: str, data_hash: str, recipe, base_dir=None) -> dict:
    """What one arm's row depends on: its resolved config, the seed, the base's weights hash, the data (human
    pairs, train and eval prompts; the untrained base uses none), the evaluation settings, the package version."""
    from prefzoo.config import to_dict

    params = {} if arm.algorithm == "base" else resolved_params(arm.algorithm, arm.params, base_dir)
    train = {k: v for k, v in to_dict(arm.train).items() if k not in UNFINGERPRINTED_TRAIN}
    return {"algorithm": arm.algorithm, "params": params, "train": train, "seed": seed, "base": base_hash,
            "data": None if arm.algorithm == "base" else data_hash, "eval": to_dict(recipe.eval), "world": recipe.world, "prefzoo": _version_of_prefzoo()}


def fingerprint_diff(saved: dict | None, wanted: dict) -> list[str]:
    """The keys in which an earlier result's fingerprint differs from this run's (``saved`` None: a result
    written before prefzoo recorded fingerprints, which cannot be trusted to match)."""
    from prefzoo.config import differing_keys

    if not isinstance(saved, dict):
        return ["fingerprint (none recorded: written by an older prefzoo)"]
    from prefzoo.config import flat_keys

    old, new = json.loads(json.dumps(saved)), json.loads(json.dumps(wanted, default=str))
    recorded = flat_keys(old)
    # a setting added to prefzoo since the earlier run, left unset now (None or false), changes nothing
    return [k for k in differing_keys(old, new) if k in recorded or flat_keys(new).get(k) not in (None, False)]
