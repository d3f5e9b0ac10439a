"""What an algorithm receives (``Job``) and returns (``TrainResult``). Nothing reads global config."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefzoo.data.records import PAIRS, PROMPTS, SFT, UNPAIRED
from prefzoo.models.policy import Policy
from prefzoo.recipe import TrainConfig


class JobError(ValueError):
    pass


@dataclass
class Job:
    policy: Policy                     # trained in place; a fresh copy of the base for each arm
    train: TrainConfig
    out_dir: Path
    seed: int = 0
    data: dict[str, Any] = field(default_factory=dict)  # record kind -> datasets.Dataset
    world: Any = None                  # a testbed: prompts, gold feedback, simulated raters
    feedback: Any = None               # a feedback source (reward model, judge, rule), where configured
    tracker: Any = None                # prefzoo.engine.tracking.Tracker; None: metrics.jsonl only
    label: str = ""                    # prefix for progress bars and tracker runs
    recipe_dir: Path | None = None     # where the recipe lives: relative paths in it resolve here (None: the
                                       # working directory); set by run_recipe and by every compare arm

    def records(self, kind: str):
        """The records of ``kind``, converting from pairs where that is well defined."""
        from prefzoo.data import loaders

        if kind in self.data:
            return self.data[kind]
        pairs = self.data.get(PAIRS)
        if pairs is not None:
            if kind == UNPAIRED:
                return loaders.pairs_to_unpaired(pairs)
            if kind == SFT:
                return loaders.pairs_to_sft(pairs)
            if kind == PROMPTS:
                return loaders.to_prompts(pairs)
        have = ", ".join(self.data) or "none"
        raise JobError(f"this algorithm needs {kind!r} records; the recipe supplied: {have}. "
                       f"Set data.path to a file of that kind (or of pairs, which convert).")

    def sub(self, name: str) -> "Job":
        """The same job writing under ``out_dir/name`` (a stage of a composite algorithm)."""
        from dataclasses import replace

        return replace(self, out_dir=self.out_dir / name, label=f"{self.label}/{name}" if self.label else name)


@dataclass
class TrainResult:
    policy: Policy
    history: list[dict] = field(default_factory=list)  # one dict per logged step
    info: dict = field(default_factory=dict)           # drop reports, accuracies, wall time, tokens
    artifacts: dict[str, Any] = field(default_factory=dict)  # e.g. a trained reward model

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}
