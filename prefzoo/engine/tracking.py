"""Where metrics go: ``metrics.jsonl`` always (main process only), plus wandb or tensorboard."""
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
        if not enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / "metrics.jsonl"
        self._file = open(path, "a" if resume else "w")
        if kind == "wandb":
            import wandb

            self._backend = wandb.init(project=os.environ.get("WANDB_PROJECT", "prefzoo"), group=group, name=name,
                                       config=config, dir=str(self.out_dir), mode=_wandb_mode(), reinit="create_new")
        elif kind == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self._backend = SummaryWriter(str(self.out_dir / "tensorboard"))

    def log(self, step: int, metrics: dict) -> dict:
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        if not self.enabled:
            return row
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._kind == "wandb":
            self._backend.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=step)
        elif self._kind == "tensorboard":
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "step":
                    self._backend.add_scalar(k, v, step)
        return row

    def close(self) -> None:
        if not self.enabled:
            return
        self._file.close()
        if self._kind == "wandb":
            self._backend.finish()
        elif self._kind == "tensorboard":
            self._backend.close()


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
