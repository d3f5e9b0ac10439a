"""Any Hugging Face sequence-classification reward model as feedback (the kind papers use as gold).

``reward-model:PATH|HUB_ID`` where the folder is not a prefzoo reward model: ``AutoModelForSequenceClassification``
and ``AutoTokenizer`` from that folder or hub id. Each (prompt, response) is scored as text with the reward
model's OWN tokenizer: rendered with its chat template when it has one ([user: prompt, assistant: response],
or the prompt's own messages plus the response), else as ``prompt + "\\n\\n" + response``; batched, padded,
cut at ``max_length``. The score is the single logit (``num_labels == 1``) or, for a two-class head, the
logit margin of class 1 over class 0.
"""
from __future__ import annotations

from typing import Any

import torch

from prefzoo.feedback.base import Feedback


class SequenceClassifierFeedback(Feedback):
    def __init__(self, source: str, *, device: str | torch.device | None = None, batch_size: int = 16,
                 max_length: int = 1024):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = f"reward model {source}"
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        if self.tokenizer.pad_token_id is None:  # many reward models ship without one; any id works under the mask
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.model = AutoModelForSequenceClassification.from_pretrained(source).eval().requires_grad_(False)
        if device is not None:
            self.model.to(device)
        if getattr(self.model.config, "pad_token_id", None) is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id  # it reads the last non-pad token
        self.batch_size, self.max_length = batch_size, max_length

    def text(self, prompt: Any, response: str) -> str:
        """The (prompt, response) as the reward model reads it."""
        if isinstance(prompt, dict):  # a world's prompt row
            prompt = prompt["prompt"]
        if getattr(self.tokenizer, "chat_template", None):
            messages = list(prompt) if not isinstance(prompt, str) else [{"role": "user", "content": prompt}]
            return self.tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}],
                                                      tokenize=False)
        if not isinstance(prompt, str):
            prompt = "\n\n".join(m["content"] for m in prompt)
        return f"{prompt}\n\n{response}"

    @torch.no_grad()
    def score(self, prompts, responses) -> torch.Tensor:
        out = []
        device = next(self.model.parameters()).device
        for start in range(0, len(prompts), self.batch_size):
            texts = [self.text(p, r) for p, r in zip(prompts[start: start + self.batch_size],
                                                     responses[start: start + self.batch_size])]
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt", add_special_tokens=False).to(device)
            logits = self.model(**enc).logits.float()
            out.append(logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0])
        return torch.cat(out).cpu() if out else torch.zeros(0)


__all__ = ["SequenceClassifierFeedback"]
