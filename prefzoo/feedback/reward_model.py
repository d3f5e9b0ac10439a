"""A learned reward: a transformer backbone with a scalar head, and the ``Feedback`` that wraps it.

``ScalarHeadModel`` is the network: the SFT model's backbone (a deep copy, independent of the
policy; LoRA merged) and ``head = Linear(hidden, 1)``, giving one value per token. A reward model
reads the value at the last attended token of each right-padded row, which is the completion's EOS
(Ouyang et al. 2022; Stiennon et al. 2020). The PPO value model is the same network with a zero head.

``RewardModel`` is that network as feedback: it encodes (prompt, response) exactly as the policy it
was made from does (``Policy.encode_prompt`` / ``encode_completion``: one chat template, one place),
and returns normalised scores ``(raw - offset) / scale`` so that SFT samples score mean 0, std 1.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from prefzoo.feedback.base import Feedback
from prefzoo.models.policy import Policy, pad_sequences

HEAD_FILE = "head.pt"
META_FILE = "reward_model.json"
BACKBONE_DIR = "backbone"


def at_last_token(values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """values [B, T] -> [B]: the value at each row's last attended position (right padding: the EOS)."""
    positions = torch.arange(values.shape[-1], device=values.device)
    last = (attention_mask.to(values.device).long() * positions).argmax(-1)
    return values.gather(-1, last.unsqueeze(-1)).squeeze(-1)


def _backbone_of(causal_lm) -> nn.Module:
    """A deep copy of the causal LM's backbone (no LM head), with any LoRA adapter merged in."""
    def inner(model):
        backbone = getattr(model, "base_model", None)
        if backbone is None or backbone is model:
            getter = getattr(model, "get_decoder", None)
            backbone = getter() if getter is not None else model
        return backbone

    if hasattr(causal_lm, "disable_adapter") and hasattr(causal_lm, "peft_config"):  # peft: merge into a copy
        return inner(copy.deepcopy(causal_lm).merge_and_unload())
    return copy.deepcopy(inner(causal_lm))  # only the backbone: no second LM head in memory


class ScalarHeadModel(nn.Module):
    """Backbone + ``Linear(hidden, 1)``: ``forward(input_ids, attention_mask[, position_ids]) -> values [B, T]``
    (float32)."""

    def __init__(self, backbone: nn.Module, hidden_size: int | None = None, zero_head: bool = False):
        super().__init__()
        self.backbone = backbone
        hidden = hidden_size or backbone.config.hidden_size
        self.head = nn.Linear(hidden, 1)  # kept in float32 whatever the backbone's dtype
        with torch.no_grad():
            if zero_head:
                self.head.weight.zero_()
            else:  # small init so initial rewards are near 0 (Stiennon et al. 2020: std 1/sqrt(d+1))
                self.head.weight.normal_(0.0, 1.0 / math.sqrt(hidden + 1))
            self.head.bias.zero_()

    @classmethod
    def from_policy(cls, policy: Policy, zero_head: bool = False) -> "ScalarHeadModel":
        """Initialise from the SFT model: a deep copy of its backbone (LoRA merged), independent of it."""
        backbone = _backbone_of(policy.model)
        backbone.requires_grad_(True)
        module = cls(backbone, backbone.config.hidden_size, zero_head=zero_head)
        return module.to(next(backbone.parameters()).device)

    @property
    def config(self):
        return self.backbone.config

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor | None = None) -> torch.Tensor:
        # position_ids: the online critic passes those of left-padded rollouts (as the policy sees them)
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            use_cache=False)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return self.head(hidden.to(self.head.weight.dtype)).squeeze(-1).float()

    def last_token_values(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B]: the value at each row's last attended token."""
        return at_last_token(self(input_ids, attention_mask), attention_mask)


class RewardModel(Feedback):
    """A ``ScalarHeadModel`` as feedback. ``score`` = (raw - offset) / scale, batched, without grad.

    ``encoder`` is a model-less ``Policy`` sharing the tokenizer and length limits of the policy the
    reward model was made from, so prompts and responses are encoded exactly as in training.
    """

    name = "reward-model"

    def __init__(self, module: ScalarHeadModel, encoder: Policy, *, offset: float = 0.0, scale: float = 1.0,
                 batch_size: int = 32, base_name: str = ""):
        self.module = module
        self.encoder = encoder
        self.offset = float(offset)
        self.scale = float(scale)
        self.batch_size = batch_size
        self.base_name = base_name or encoder.base_name

    @classmethod
    def from_policy(cls, policy: Policy, zero_head: bool = False, **kwargs) -> "RewardModel":
        """An untrained reward model initialised from ``policy`` (the SFT model)."""
        return cls(ScalarHeadModel.from_policy(policy, zero_head=zero_head), encoder_of(policy),
                   base_name=policy.base_name, **kwargs)

    @property
    def tokenizer(self):
        return self.encoder.tokenizer

    @property
    def device(self) -> torch.device:
        return self.module.device

    # ---------------------------------------------------------------- encoding
    def encode(self, prompts: list[Any], responses: list[Any]) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids per row; the response is cut to fit ``max_length`` (its value then sits at the cut)."""
        ps, cs = [], []
        for prompt, response in zip(prompts, responses):
            p = self.encoder.encode_prompt(prompt)
            c = self.encoder.encode_completion(response)
            room = max(1, self.encoder.max_length - len(p))
            ps.append(p)
            cs.append(c[:room])
        return ps, cs

    def values_of_ids(self, prompts: list[list[int]], completions: list[list[int]], module=None) -> torch.Tensor:
        """Raw last-token values [N] of already-encoded rows, in one forward (grad flows if enabled)."""
        module = module if module is not None else self.module
        seqs = pad_sequences(prompts, completions, self.tokenizer.pad_token_id).to(self.device)
        return at_last_token(module(seqs.input_ids, seqs.attention_mask), seqs.attention_mask)

    # ---------------------------------------------------------------- scoring
    @torch.no_grad()
    def raw_scores(self, prompts: list[Any], responses: list[Any]) -> torch.Tensor:
        """Unnormalised rewards [N] (float32, CPU)."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        if not prompts:
            return torch.zeros(0)
        was_training = self.module.training
        self.module.eval()
        out = []
        try:
            for start in range(0, len(prompts), self.batch_size):
                ps, cs = self.encode(prompts[start: start + self.batch_size], responses[start: start + self.batch_size])
                out.append(self.values_of_ids(ps, cs).float().cpu())
        finally:
            self.module.train(was_training)
        return torch.cat(out)

    def score(self, prompts: list[Any], responses: list[Any]) -> torch.Tensor:
        return (self.raw_scores(prompts, responses) - self.offset) / self.scale

    def normalise(self, raw: torch.Tensor) -> None:
        """Set offset/scale so that ``raw`` (raw scores of a normalisation set) maps to mean 0, std 1
        (population std). A constant set keeps scale 1."""
        raw = torch.as_tensor(raw, dtype=torch.float64)
        self.offset = float(raw.mean())
        std = float(raw.std(correction=0)) if raw.numel() > 1 else 0.0
        self.scale = std if std > 1e-8 else 1.0

    # ---------------------------------------------------------------- saving
    def save(self, path: str | Path) -> None:
        """``path/backbone`` (save_pretrained), ``path/head.pt``, the tokenizer in ``path``, and
        ``path/reward_model.json`` with offset, scale, base name and length limits."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.module.backbone.save_pretrained(path / BACKBONE_DIR)
        torch.save({k: v.detach().cpu() for k, v in self.module.head.state_dict().items()}, path / HEAD_FILE)
        self.tokenizer.save_pretrained(path)
        meta = {"offset": self.offset, "scale": self.scale, "base": self.base_name,
                "max_length": self.encoder.max_length, "max_prompt_length": self.encoder.max_prompt_length,
                "hidden_size": self.module.head.in_features, "batch_size": self.batch_size,
                "backbone_class": type(self.module.backbone).__name__}
        (path / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "RewardModel":
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        if not (path / META_FILE).exists():
            raise FileNotFoundError(f"{path} is not a saved reward model (no {META_FILE})")
        meta = json.loads((path / META_FILE).read_text())
        backbone = AutoModel.from_pretrained(path / BACKBONE_DIR, dtype="auto")
        module = ScalarHeadModel(backbone, meta["hidden_size"])
        module.head.load_state_dict(torch.load(path / HEAD_FILE, weights_only=True))
        if device is not None:
            module = module.to(device)
        module.eval()
        tok = AutoTokenizer.from_pretrained(path)
        encoder = Policy(None, tok, max_length=meta["max_length"], max_prompt_length=meta["max_prompt_length"],
                         base_name=meta.get("base", ""))
        return cls(module, encoder, offset=meta["offset"], scale=meta["scale"],
                   batch_size=meta.get("batch_size", 32), base_name=meta.get("base", ""))


def encoder_of(policy: Policy) -> Policy:
    """A model-less Policy that shares ``policy``'s tokenizer (a copy) and length limits: it encodes
    prompts and completions exactly as the policy does, without holding a second set of weights."""
    return Policy(None, copy.deepcopy(policy.tokenizer), max_length=policy.max_length,
                  max_prompt_length=policy.max_prompt_length, base_name=policy.base_name)


__all__ = ["ScalarHeadModel", "RewardModel", "at_last_token", "encoder_of"]
