"""Where metrics go: ``metrics.jsonl`` always (main process only), plus wandb or tensorboard.

A composite algorithm's sub-stages (CAI's SL fine-tune, a reward model, the learner) log through
``Tracker.stage(name)``: one file per run, ``step`` strictly increasing across stages (wandb and
tensorboard need that), each row naming its ``stage`` and its ``stage_step``."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from prefzoo.dist import is_main


def _wandb_mode() -> str:
    """Respect WANDB_MODE; otherwise online only when the user is logged in, else offline."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    if netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def _optional(module: str, setting: str, extra: str):
    """Import an optional dependency, or stop with a recipe error saying how to install it."""
    import importlib

    from prefzoo.config import ConfigError

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"{setting} needs the {module} package, which is not installed: "
                          f"pip install 'prefzoo[{extra}]' (or set train.tracker: none)") from e


class Tracker:
    """One run's metric sink. ``kind`` is none | wandb | tensorboard; jsonl is always written.
    ``enabled`` defaults to "this is the main process": under ``accelerate launch`` a tracker on every
    process would write one ``metrics.jsonl`` several times."""

    def __init__(self, out_dir: str | Path, kind: str = "none", *, config: dict | None = None,
                 group: str | None = None, name: str | None = None, enabled: bool | None = None,
                 resume: bool = False):
        self.enabled = is_main() if enabled is None else enabled
        self.out_dir = Path(out_dir)
        self._backend = None
        self._kind = kind
        self.last_step = 0  # the highest step logged: where the next stage's steps start
        if not self.enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._path = path = self.out_dir / "metrics.jsonl"
        # resumed: the rows so far, a torn last line dropped; the first row logged replaces any at or after its step
        self._kept = read_jsonl_rows(path) if resume and path.exists() else None
        if self._kept is not None:
            path.write_text("".join(json.dumps(r) + "\n" for r in self._kept))
        self._file = open(path, "a" if resume else "w")
        if kind == "wandb":
            wandb = _optional("wandb", "train.tracker=wandb", "wandb")
            self._backend = wandb.init(project=os.environ.get("WANDB_PROJECT", "prefzoo"), group=group, name=name,
                                       config=config, dir=str(self.out_dir), mode=_wandb_mode(), reinit="create_new")
        elif kind == "tensorboard":
            _optional("tensorboard", "train.tracker=tensorboard", "tensorboard")
            from torch.utils.tensorboard import SummaryWriter

            self._backend = SummaryWriter(str(self.out_dir / "tensorboard"))

    def log(self, step: int, metrics: dict) -> dict:
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        self.last_step = max(self.last_step, step)  # on every process, so stage offsets agree
        if not self.enabled:
            return row
        if self._kept is not None:  # a resumed run: metrics.jsonl never holds a step twice
            kept, self._kept = [r for r in read_jsonl_rows(self._path) if r.get("step", 0) < step], None
            self._file.close()
            self._path.write_text("".join(json.dumps(r) + "\n" for r in kept))
            self._file = open(self._path, "a")
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._kind == "wandb":
            self._backend.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=step)
        elif self._kind == "tensorboard":
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "step":
                    self._backend.add_scalar(k, v, step)
        return row

    def stage(self, name: str, out_dir: str | Path | None = None) -> "StageTracker":
        """A view for the sub-stage ``name`` whose steps continue after every step logged so far."""
        return StageTracker(self, name, out_dir)

    def close(self) -> None:
        if not self.enabled:
            return
        self._file.close()
        if self._kind == "wandb":
            self._backend.finish()
        elif self._kind == "tensorboard":
            self._backend.close()


class StageTracker:
    """A sub-stage's view of its composite's ``Tracker``: a row the stage logs at its own step ``s``
    goes to the composite's file at ``step = offset + s`` with ``stage`` and ``stage_step = s``, where
    ``offset`` is the composite's last step when the view was made. ``out_dir``: the stage's own folder
    (its job's), not where the rows go. ``close`` is a no-op: the composite owns the file."""

    def __init__(self, parent: Tracker, name: str, out_dir: str | Path | None = None):
        self.parent, self.name, self.offset = parent, name, parent.last_step
        self.out_dir = Path(out_dir) if out_dir is not None else parent.out_dir
        self.enabled = parent.enabled

    @property
    def last_step(self) -> int:
        return self.parent.last_step

    def log(self, step: int, metrics: dict) -> dict:
        return self.parent.log(self.offset + step, {"stage": self.name, "stage_step": step, **metrics})

    def stage(self, name: str, out_dir: str | Path | None = None) -> "StageTracker":
        return StageTracker(self.parent, f"{self.name}/{name}", out_dir)

    def close(self) -> None:
        pass


def read_jsonl_rows(path: Path, what: str = "") -> list[dict]:
    """The rows of a JSONL file; a torn last line (an interrupted write) is dropped with a note."""
    lines = [x for x in Path(path).read_bytes().decode("utf-8", errors="replace").splitlines() if x.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except ValueError:
            if i != len(lines) - 1:
                raise ValueError(f"{path}: line {i + 1} is not JSON: {line[:80]!r}") from None
            print(f"note: {path}: dropped a torn last line {what}(an interrupted write): {line[:60]!r}")
    return rows


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of ``metrics.jsonl`` (or of a run folder's); a torn last line is dropped with a note."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return read_jsonl_rows(path)
