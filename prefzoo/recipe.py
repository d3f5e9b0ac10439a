"""Recipes: YAML files mapped onto typed dataclasses (see ``prefzoo.config``).

A training recipe names one algorithm, its parameters, a base model, data and the loop settings.
Every key is documented where it is declared; unknown keys are rejected with a suggestion.
"""
from __future__ import annotations

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


@dataclass
class ModelConfig:
    base: str = REQUIRED              # hub id | local path | "tiny" | offline alias (e.g. smollm2-135m-instruct)
    lora: LoraConfig | None = None    # None: full fine-tuning
    dtype: Literal["float32", "bfloat16", "float64"] = "float32"
    max_length: int = 256             # prompt + completion tokens; longer completions are truncated
    max_prompt_length: int | None = None  # None: over-long prompts are dropped (counted), never cut silently
    gradient_checkpointing: bool = False
    tiny: dict = field(default_factory=dict)  # overrides for base: tiny (hidden_size, num_hidden_layers, ...)


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
    log_every: int = 1
    checkpoint_every: int = 0         # optimizer steps between checkpoints; 0: only at the end
    precompute_reference: bool = True  # reference log-probs computed once and cached on disk
    cache_dir: str = field(default_factory=default_cache_dir)  # $PREFZOO_CACHE, default ~/.cache/prefzoo
    tracker: Literal["none", "wandb", "tensorboard"] = "none"
    progress: bool = True
    shuffle: bool = True
    resume: bool = False              # continue from the newest checkpoint in the output folder


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
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {str(path)!r}: expected a mapping at the top level")
    return data


def load_train_recipe(path: str | Path | dict, overrides: list[str] | None = None) -> TrainRecipe:
    """A train recipe from a YAML file (or a dict), ``--set`` overrides applied."""
    data = dict(path) if isinstance(path, dict) else read_yaml(path)
    if "arms" in data and "algorithm" not in data:
        raise ConfigError(f"{path} is a compare recipe (it has arms:, no algorithm:): run prefzoo compare {path}")
    return from_dict(TrainRecipe, apply_overrides(data, overrides or []))
