"""Recipes: YAML files mapped onto typed dataclasses (see ``prefzoo.config``).

A training recipe names one algorithm, its parameters, a base model, data and the loop settings.
Every key is documented where it is declared; unknown keys are rejected with a suggestion.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from prefzoo.config import REQUIRED, ConfigError, apply_overrides, from_dict


def default_cache_dir() -> str:
    """Where caches go unless a recipe says (``cache_dir``): ``$PREFZOO_CACHE``, default ``~/.cache/prefzoo``;
    one absolute folder, wherever the command is run from."""
    return os.path.abspath(os.path.expanduser(os.environ.get("PREFZOO_CACHE") or "~/.cache/prefzoo"))


@dataclass
class LoraConfig:
    r: int = 16                       # adapter rank; 8-64 is the usual range
    alpha: int = 32                   # scaling = alpha / r
    dropout: float = 0.0              # 0: dropout makes log-prob ratios noisy in RL (Huang et al. 2024)
    target_modules: Any = "all-linear"  # peft's selector, or a list of module names

    def __post_init__(self):
        at_least(self, 1, "r", "alpha")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass
class ModelConfig:
    base: str = REQUIRED              # hub id | local path | "tiny" | offline alias (e.g. smollm2-135m-instruct)
    lora: LoraConfig | None = None    # None: full fine-tuning
    dtype: Literal["float32", "bfloat16", "float64"] = "float32"
    max_length: int = 256             # prompt + completion tokens; longer completions are truncated
    max_prompt_length: int | None = None  # None: over-long prompts are dropped (counted), never cut silently
    gradient_checkpointing: bool = False
    tiny: dict = field(default_factory=dict)  # overrides for base: tiny (hidden_size, num_hidden_layers, ...)

    def __post_init__(self):
        at_least(self, 2, "max_length")  # a prompt token and a completion token
        if self.max_prompt_length is not None and not 1 <= self.max_prompt_length < self.max_length:
            raise ValueError(f"max_prompt_length must be in 1..max_length-1 ({self.max_length - 1}), "
                             f"got {self.max_prompt_length}")


@dataclass
class DataConfig:
    path: str | None = None           # JSONL/JSON/Parquet file or hub id (relative paths: to the recipe)
    kind: Literal["pairs", "unpaired", "sft", "prompts"] | None = None  # None: what the algorithm needs
    format: Literal["auto", "standard", "conversational", "implicit", "hh"] = "auto"
    split: str = "train"
    eval_fraction: float = 0.0        # held out from `path` for evaluation metrics


@dataclass
class TrainConfig:
    lr: float = 5e-6                  # DPO paper: 1e-6 for full fine-tuning of large models; tiny models want ~1e-3
    batch_size: int = 8               # examples per micro-step, split across processes; per optimizer step: batch_size * grad_accum
    grad_accum: int = 1
    epochs: int = 1
    max_steps: int | None = None      # caps optimizer steps; None: run `epochs`
    warmup_steps: int = 0
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    max_grad_norm: float = 1.0        # clip; 0 disables
    weight_decay: float = 0.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    precision: Literal["fp32", "bf16"] = "fp32"
    fused_adamw: bool = False         # torch's fused AdamW kernel instead of its single-tensor loop: faster on CPU
                                      # (~3x on the optimizer step, benchmarks/README.md), floats move by rounding
    log_every: int = 1
    checkpoint_every: int = 0         # optimizer steps between checkpoints; 0: only at the end
    precompute_reference: bool = True  # reference log-probs computed once and cached on disk
    length_groups: int | None = None  # offline steps: a micro-batch's rows sorted by length and run in this many
                                      # forwards, each padded to its own longest (less padding: fewer FLOPs;
                                      # one process; policy objectives, not the reward model's); None: one
                                      # forward. Floats move by rounding (~1e-7)
    cache_dir: str = field(default_factory=default_cache_dir)  # $PREFZOO_CACHE, default ~/.cache/prefzoo
    tracker: Literal["none", "wandb", "tensorboard"] = "none"
    progress: bool = True
    shuffle: bool = True
    resume: bool = False              # continue from the newest checkpoint in the output folder

    def __post_init__(self):
        at_least(self, 1, "batch_size", "grad_accum", "epochs", "log_every")
        at_least(self, 0, "warmup_steps", "checkpoint_every", "max_grad_norm", "weight_decay")
        if self.length_groups is not None and self.length_groups < 1:
            raise ValueError(f"length_groups must be >= 1 (or null: one forward), got {self.length_groups}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 (or null: run `epochs`), got {self.max_steps}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if len(self.adam_betas) != 2 or not all(0.0 <= b < 1.0 for b in self.adam_betas):
            raise ValueError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas}")


def at_least(cfg, low: float, *names: str) -> None:
    """Every field in ``names`` is a finite number >= ``low`` (the message names the key)."""
    for name in names:
        v = getattr(cfg, name)
        if not (math.isfinite(v) and v >= low):
            raise ValueError(f"{name} must be >= {low}, got {v}")


@dataclass
class TrainRecipe:
    algorithm: str = REQUIRED         # a registered name: `prefzoo list`
    params: dict = field(default_factory=dict)  # the algorithm's own Config (checked against it)
    model: ModelConfig = REQUIRED
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    plugins: list[str] = field(default_factory=list)  # .py files or modules that register algorithms
    seed: int = 0
    world: str | None = None          # a testbed that supplies prompts/gold feedback (e.g. "toy")
    name: str | None = None


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"recipe {str(path)!r} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"recipe {str(path)!r} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"recipe {str(path)!r} is not valid YAML{at}: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {str(path)!r}: expected a mapping at the top level")
    return data


def load_train_recipe(path: str | Path | dict, overrides: list[str] | None = None) -> TrainRecipe:
    """A train recipe from a YAML file (or a dict), ``--set`` overrides applied."""
    data = dict(path) if isinstance(path, dict) else read_yaml(path)
    if "arms" in data and "algorithm" not in data:
        raise ConfigError(f"{path} is a compare recipe (it has arms:, no algorithm:): run prefzoo compare {path}")
    return from_dict(TrainRecipe, apply_overrides(data, overrides or []))
