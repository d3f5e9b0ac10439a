"""The model interface: one ``Policy`` wraps a causal LM and its tokenizer for every algorithm.

It loads from a hub id, a local path, a tiny config or an offline alias; applies the chat template
in exactly one place (``prompt_text``); tokenizes records with counted drops; computes per-token
log-probs of completions (chosen and rejected in one concatenated forward); gives a reference
(a frozen copy, or under LoRA the same model with adapters disabled); generates; saves and loads.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import torch

from prefzoo.data.records import PAIRS, SFT, UNPAIRED, DropReport
from prefzoo.models.sequences import (
    LOGSUMEXP_CHUNK,
    PLAIN_HEAD_MODEL_TYPES,
    Encoded,
    SeqBatch,
    accepts_logits_to_keep,
    completion_text,
    first_logit_position,
    head_returns_input,
    head_token_logps,
    length_groups,
    pad_sequences,
    plain_frozen_head,
    sum_logps,
    token_logps,
)
from prefzoo.recipe import LoraConfig, ModelConfig

PROMPT_TOO_LONG = "prompt too long for max_length (no completion token survives)"
IDENTICAL_AFTER_TOKENIZING = "chosen identical to rejected after tokenization and truncation"
COMPLETION_TRUNCATED = "completion truncated to fit max_length"
ALIASES: dict[str, Any] = {}  # offline aliases: name -> callable returning a local directory


class ModelError(ValueError):
    pass


def _messages(prompt: Any) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


class Policy:
    """A causal LM, its tokenizer and the length limits used to encode records for it."""

    # forward_logps scores the LM head from its input where plain_frozen_head allows (issue #17): the same
    # numbers (tests/test_memory_levers.py); benchmarks/memory.py --smollm2 turns it off to measure the code before
    fused_lm_head = True

    def __init__(self, model, tokenizer, *, max_length: int = 256, max_prompt_length: int | None = None,
                 base_name: str = "", ref_mode: str = "copy"):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_prompt_length = max_prompt_length
        self.base_name = base_name
        self._frozen_ref = None
        if tokenizer.pad_token_id is None:  # many causal LMs ship without one; eos is safe under masks
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer.padding_side = "right"

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, cfg: ModelConfig, *, vocab: Iterable[str] | None = None, seed: int = 0) -> "Policy":
        """Load ``cfg.base``: "tiny" (needs ``vocab``), an offline alias, a local directory or a hub id."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from prefzoo.models.tiny import tiny_llama, word_tokenizer

        dtype = getattr(torch, cfg.dtype)
        base = cfg.base
        if base == "tiny":
            if vocab is None:
                raise ModelError("base 'tiny' builds a word-level tokenizer from the data: no vocabulary given")
            tok = word_tokenizer(vocab)
            model = tiny_llama(len(tok), seed=seed, **cfg.tiny).to(dtype)
        else:
            path = ALIASES[base]() if base in ALIASES else base
            adapter = Path(path) / "adapter_config.json"
            if adapter.exists():
                return cls.load_saved(path, cfg)
            aliases = ", ".join(sorted(ALIASES)) or "none registered"
            hint = (f"Give a local directory with config.json, an offline alias ({aliases}), 'tiny', or a hub id "
                    f"while the hub is reachable.")
            if str(path).startswith(("/", ".", "~")) and not Path(path).expanduser().is_dir():  # a path, not a hub id
                raise ModelError(f"could not load model {base!r}: no such folder. {hint}")
            try:
                tok = AutoTokenizer.from_pretrained(path)
                model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
            except OSError as e:
                raise ModelError(f"could not load model {base!r}: {e}. {hint}") from e
        policy = cls(model, tok, max_length=cfg.max_length, max_prompt_length=cfg.max_prompt_length,
                     base_name=base)
        policy.configure(cfg)
        return policy

    def configure(self, cfg: ModelConfig) -> None:
        """Apply the training-time switches: dropout off, LoRA, gradient checkpointing."""
        for module in self.model.modules():  # dropout off everywhere (Huang et al. 2024, detail 1)
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        if cfg.lora is not None and not self.is_lora:
            self.add_lora(cfg.lora)
        if cfg.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
            self.model.config.use_cache = False

    def add_lora(self, lora: LoraConfig) -> None:
        from peft import LoraConfig as PeftLora
        from peft import get_peft_model

        peft_cfg = PeftLora(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=lora.target_modules, task_type="CAUSAL_LM")
        self.model = get_peft_model(self.model, peft_cfg)

    @property
    def is_lora(self) -> bool:
        return hasattr(self.model, "disable_adapter") and hasattr(self.model, "peft_config")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def clone(self) -> "Policy":
        """A fresh, independent copy (each comparison arm trains its own)."""
        twin = Policy(copy.deepcopy(self.model), copy.deepcopy(self.tokenizer), max_length=self.max_length,
                      max_prompt_length=self.max_prompt_length, base_name=self.base_name)
        return twin

    # ---------------------------------------------------------------- text
    def prompt_text(self, prompt: Any) -> str:
        """The one place a chat template is applied: prompt (text or messages) -> model input text."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(_messages(prompt), add_generation_prompt=True, tokenize=False)
        if isinstance(prompt, str):
            return prompt
        return "\n".join(m["content"] for m in prompt) + "\n"

    def encode_prompt(self, prompt: Any) -> list[int]:
        ids = self.tokenizer(self.prompt_text(prompt), add_special_tokens=False).input_ids
        if self.max_prompt_length is not None and len(ids) > self.max_prompt_length:
            ids = ids[-self.max_prompt_length:]  # keep the end: the question sits next to the answer
        return ids

    def encode_completion(self, completion: Any) -> list[int]:
        text = completion_text(completion)
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        return ids + [self.tokenizer.eos_token_id]

    def encode(self, ds, kind: str) -> tuple[list[Encoded], DropReport]:
        """Tokenize a record set. Completions are cut to fit ``max_length`` (counted in ``report.noted``); a
        prompt that leaves no room for a single completion token, and a pair whose two completions are the
        same tokens once tokenized and cut (a zero-signal pair), are dropped and counted, never silently."""
        report = DropReport()
        out: list[Encoded] = []
        for i, row in enumerate(ds):
            prompt = self.encode_prompt(row["prompt"])
            room = self.max_length - len(prompt)
            if room < 1:
                report.drop(PROMPT_TOO_LONG, i)
                continue
            if kind == PAIRS:
                comps = [self.encode_completion(row["chosen"]), self.encode_completion(row["rejected"])]
                p = row.get("p_chosen")
                label = 1.0 if p is None else float(p)
            elif kind in (SFT, UNPAIRED):
                comps = [self.encode_completion(row["completion"])]
                label = float(row["label"]) if kind == UNPAIRED else 1.0
            else:
                raise ModelError(f"cannot encode records of kind {kind!r} for training")
            if any(len(c) > room for c in comps):
                report.note(COMPLETION_TRUNCATED, i)  # kept (the start of the answer still teaches), counted
            comps = [c[:room] for c in comps]
            if kind == PAIRS and comps[0] == comps[1]:
                report.drop(IDENTICAL_AFTER_TOKENIZING, i)  # no signal: the two sides are the same tokens
                continue
            out.append(Encoded(i, prompt, comps, label))
        report.kept = len(out)
        return out, report

    # ---------------------------------------------------------------- log-probs
    def sequences(self, prompts: list[list[int]], completions: list[list[int]]) -> SeqBatch:
        return pad_sequences(prompts, completions, self.tokenizer.pad_token_id).to(self.device)

    def forward_logps(self, batch: SeqBatch, model=None) -> torch.Tensor:
        """Per-token completion log-probs [B, T] from one forward of ``model`` (default: the policy).

        Only the positions from one before the earliest completion token to the end reach the LM head
        (``logits_to_keep``): prompt positions are never scored, and the [B, T, V] logits are most of
        the memory of this forward. Rows are right-padded to the longest, so the span ends at T.
        The forward always goes through ``model(...)`` (a DDP wrapper must see it to sync gradients);
        a model without ``logits_to_keep`` computes every position, with the same result.
        With a frozen plain head (``plain_frozen_head``: LoRA, or the reference) and ``fused_lm_head``,
        the head returns its input and ``head_token_logps`` scores it chunk by chunk, so the span's
        [B, T, V] logits and their gradient are never kept (same values up to float reassociation)."""
        model = model if model is not None else self.model
        T = batch.input_ids.shape[1]
        start = first_logit_position(batch.loss_mask)
        keep = {"logits_to_keep": T - start} if start > 0 and accepts_logits_to_keep(model) else {}
        head = plain_frozen_head(model) if self.fused_lm_head else None
        with head_returns_input(head) if head is not None else contextlib.nullcontext():
            out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False,
                        **keep).logits
        start = T - out.shape[1]  # 0 when every position came back
        ids, mask = batch.input_ids[:, start:], batch.loss_mask[:, start:]
        part = token_logps(out, ids, mask) if head is None else head_token_logps(out, head.weight, head.bias, ids, mask)
        return torch.nn.functional.pad(part, (start, 0))  # back to [B, T]: zeros before the span

    def completion_logp_sums(self, prompts: list[list[int]], completions: list[list[int]], model=None,
                             groups: int | None = None, reference: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed completion log-probs [B], completion lengths [B]) of ``model`` (``reference``: the
        reference model, no grad). ``groups`` > 1: the rows sorted by prompt + completion length and run in
        that many forwards of neighbouring lengths, each padded to its own longest, so less of the batch is
        padding (the per-row numbers are the one forward's up to float rounding); the sums are put back in
        the rows' order, and one backward goes through every forward."""
        n = len(prompts)
        if not groups or groups <= 1 or n <= 1:
            chunks = [list(range(n))]
        else:
            order = sorted(range(n), key=lambda i: (len(prompts[i]) + len(completions[i]), i))
            g = min(groups, n)
            chunks = [order[n * j // g: n * (j + 1) // g] for j in range(g)]
        sums, lens = [], []
        for idx in chunks:
            seqs = self.sequences([prompts[i] for i in idx], [completions[i] for i in idx])
            tok = self.reference_logps(seqs) if reference else self.forward_logps(seqs, model)
            sums.append(tok.sum(-1))
            lens.append(seqs.loss_mask.sum(-1).to(tok.dtype))
        if len(chunks) == 1:
            return sums[0], lens[0]
        back = torch.argsort(torch.tensor([i for idx in chunks for i in idx])).to(sums[0].device)  # rows' order
        return torch.cat(sums)[back], torch.cat(lens)[back]

    @contextlib.contextmanager
    def reference_model(self):
        """Yield the reference model: under LoRA the same weights with adapters off (no second copy),
        else a frozen copy of the weights as they were when first asked for."""
        if self.is_lora:
            with self.model.disable_adapter():
                yield self.model
            return
        if self._frozen_ref is None:
            self._frozen_ref = copy.deepcopy(self.model).eval().requires_grad_(False)
        yield self._frozen_ref

    def release_reference(self) -> None:
        self._frozen_ref = None

    @torch.no_grad()
    def reference_logps(self, batch: SeqBatch) -> torch.Tensor:
        with self.reference_model() as ref:
            return self.forward_logps(batch, ref)

    def weights_hash(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        for name, t in sorted(self.model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()

    # ---------------------------------------------------------------- generation
    @torch.no_grad()
    def generate(self, prompts: list[Any], *, max_new_tokens: int = 64, temperature: float = 1.0,
                 top_p: float = 1.0, do_sample: bool = True, batch_size: int = 64) -> list[str]:
        """Sample one completion per prompt (KV cache, left padding, stop at EOS, batches of similar
        prompt length); returns texts in the order of ``prompts``."""
        texts: list[str] = [""] * len(prompts)
        encoded = [self.encode_prompt(p) for p in prompts]
        for idx in length_groups([len(e) for e in encoded], batch_size):
            ids, _ = self.generate_ids([prompts[i] for i in idx], max_new_tokens=max_new_tokens,
                                       temperature=temperature, top_p=top_p, do_sample=do_sample,
                                       encoded=[encoded[i] for i in idx])
            for i, r in zip(idx, ids):
                texts[i] = self.decode(r)
        return texts

    @torch.no_grad()
    def generate_ids(self, prompts: list[Any], *, max_new_tokens: int, temperature: float = 1.0,
                     top_p: float = 1.0, do_sample: bool = True,
                     encoded: list[list[int]] | None = None) -> tuple[list[list[int]], list[list[int]]]:
        """Returns (completion token ids cut after the first EOS, prompt token ids) per prompt.
        ``encoded``: the prompts' token ids when the caller has them already."""
        encoded = encoded if encoded is not None else [self.encode_prompt(p) for p in prompts]
        width = max(len(e) for e in encoded)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for i, e in enumerate(encoded):  # left padding: generation continues from the right edge
            ids[i, width - len(e):] = torch.tensor(e)
            attn[i, width - len(e):] = 1
        was_training = self.model.training
        self.model.eval()
        kwargs = dict(do_sample=do_sample, max_new_tokens=max_new_tokens, pad_token_id=pad,
                      eos_token_id=self.tokenizer.eos_token_id)
        if do_sample:
            kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
        out = self.model.generate(input_ids=ids.to(self.device), attention_mask=attn.to(self.device), **kwargs)
        self.model.train(was_training)
        eos = self.tokenizer.eos_token_id
        completions = []
        for row in out[:, width:].tolist():
            completions.append(row[: row.index(eos) + 1] if eos in row else row)
        return completions, encoded

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    # ---------------------------------------------------------------- saving
    def save(self, path: str | Path, merge_lora: bool = False) -> None:
        """Full weights, or the LoRA adapter (with the base named in prefzoo_base.json)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        model = self.model
        if self.is_lora and merge_lora:
            model = copy.deepcopy(model).merge_and_unload()
        model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        if self.is_lora and not merge_lora:
            (path / "prefzoo_base.json").write_text(json.dumps({"base": self.base_name}))

    @classmethod
    def load_saved(cls, path: str | Path, cfg: ModelConfig) -> "Policy":
        from dataclasses import replace

        from peft import PeftModel

        path = Path(path)
        meta = path / "prefzoo_base.json"
        if not meta.exists():
            raise ModelError(f"{path} holds a LoRA adapter but no prefzoo_base.json naming its base model")
        base = json.loads(meta.read_text())["base"]
        policy = cls.load(replace(cfg, base=base, lora=None))
        policy.model = PeftModel.from_pretrained(policy.model, str(path), is_trainable=True)
        return policy


__all__ = ["Policy", "Encoded", "SeqBatch", "pad_sequences", "token_logps", "head_token_logps", "sum_logps",
           "completion_text", "plain_frozen_head", "PLAIN_HEAD_MODEL_TYPES", "accepts_logits_to_keep",
           "first_logit_position", "LOGSUMEXP_CHUNK", "length_groups",
           "ModelError", "PROMPT_TOO_LONG", "IDENTICAL_AFTER_TOKENIZING",
           "COMPLETION_TRUNCATED", "ALIASES"]
