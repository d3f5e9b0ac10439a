"""A causal LM as the AI judge (the ``local`` feedback backend): option probabilities from one forward
pass over the rendered judge prompt, rationales by greedy generation."""
from __future__ import annotations

from pathlib import Path

import torch

from prefzoo.feedback.llm_judge import JudgeError, JudgeSettings, LLMJudge, Request, normalise

class LocalJudge(LLMJudge):
    """A causal LM as the judge. The policy is used frozen and in eval mode; ``name`` identifies it
    in the cache (default: a hash of its weights, so a retrained model never reuses stale labels)."""

    name = "local-judge"

    def __init__(self, policy, settings: JudgeSettings | None = None, cache_dir: str | Path | None = None,
                 model_id: str | None = None):
        super().__init__(settings, cache_dir)
        self.policy = policy
        self.model_id = model_id
        self._option_ids: dict[tuple[str, ...], list[list[int]]] = {}

    def backend_identity(self) -> dict:
        if self.model_id is None:
            self.model_id = f"{self.policy.base_name}@{self.policy.weights_hash()}"
        return {"kind": "local", "model": self.model_id}

    def _ids(self, text: str) -> list[int]:
        return self.policy.tokenizer(text, add_special_tokens=False).input_ids

    def _options(self, options: tuple[str, ...]) -> list[list[int]]:
        if options not in self._option_ids:
            tok = self.policy.tokenizer
            ids = [self._ids(o) for o in options]
            unk = tok.unk_token_id
            bad = [o for o, i in zip(options, ids) if not i or (unk is not None and unk in i)]
            if bad:
                raise JudgeError(f"judge options {bad} are not in the judge model's vocabulary "
                                 f"(they encode to nothing or to the unknown token); pick other options")
            if len({tuple(i) for i in ids}) != len(ids):
                raise JudgeError(f"judge options {options} encode to the same tokens {ids}")
            self._option_ids[options] = ids
        return self._option_ids[options]

    def _context(self, r: Request) -> list[int]:
        return self._ids(self.policy.prompt_text(r.messages) + r.prefix)

    @torch.no_grad()
    def option_probs(self, requests, options):
        opt = self._options(options)
        model = self.policy.model
        was_training = model.training
        model.eval()
        try:
            contexts = [self._context(r) for r in requests]
            if all(len(o) == 1 for o in opt):  # one forward; read the next-token distribution
                first = [o[0] for o in opt]
                seqs = self.policy.sequences(contexts, [[] for _ in contexts])
                logits = model(input_ids=seqs.input_ids, attention_mask=seqs.attention_mask, use_cache=False).logits
                last = torch.tensor([len(c) - 1 for c in contexts], device=logits.device)
                rows = logits[torch.arange(len(contexts), device=logits.device), last].float().log_softmax(-1)
                logps = rows[:, first].tolist()
            else:  # multi-token options: the summed log-prob of each option as a completion
                k = len(opt)
                seqs = self.policy.sequences([c for c in contexts for _ in range(k)], [o for _ in contexts for o in opt])
                sums = self.policy.forward_logps(seqs, model).sum(-1).view(len(contexts), k)
                logps = sums.float().tolist()
        finally:
            model.train(was_training)
        return [normalise(row) for row in logps]

    def generate(self, requests, max_new_tokens):
        if any(r.prefix for r in requests):
            raise JudgeError("local generation continues a rendered prompt; prefixes are for scoring only")
        return self.policy.generate([r.messages for r in requests], max_new_tokens=max_new_tokens,
                                    do_sample=False, batch_size=self.settings.batch_size)


def frozen_copy(policy):
    """A frozen, eval-mode copy of ``policy`` (e.g. the SFT model as its own judge)."""
    twin = policy.clone()
    twin.model.requires_grad_(False).eval()
    return twin


class LocalBackend:
    """``local[:MODEL]``: the judge's model is ``policy`` (a frozen copy of the SFT policy), ``world``
    (the testbed's separate feedback model, as RLAIF's labeler), or an offline alias or path."""

    def build(self, spec, ctx) -> LocalJudge:
        settings, cache_dir = ctx.judge_settings(spec), ctx.label_cache_dir(spec)
        if spec.model == "policy":
            policy = ctx.frozen_policy if ctx.frozen_policy is not None else frozen_copy(ctx.job.policy)
        elif spec.model == "world":
            policy = getattr(ctx.world, "feedback_policy", None)
            if policy is None:
                raise JudgeError("judge.model 'world' needs a world that provides a feedback model (the toy world "
                                 "builds one with its base); use model: policy, an alias/path, or backend: http")
        else:
            from prefzoo.models.policy import Policy
            from prefzoo.recipe import ModelConfig

            path = ctx.path(spec.model)  # a folder next to the recipe, else an alias or hub id as written
            policy = Policy.load(ModelConfig(base=str(path), max_length=spec.max_length))
            policy.model.requires_grad_(False).eval()
        return LocalJudge(policy, settings, cache_dir)
