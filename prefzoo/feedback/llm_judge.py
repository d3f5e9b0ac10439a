"""AI judges: a language model asked which of two responses is better, or how good one response is.

RLAIF (Lee et al. 2023, arXiv 2309.00267), sec. 2.1:
- the judge prompt is a preamble, optional few-shot examples, the two candidates and an ending;
- the soft label is the softmax over the log-probs of the option tokens ("1"/"2", or a world's
  "a"/"b"): P(a better) = exp l_1 / (exp l_1 + exp l_2);
- position bias is cancelled by asking again with the order swapped and averaging:
  p = (P(first | a, b) + P(second | b, a)) / 2  (``swap: false`` keeps the first order only, to
  measure the bias);
- chain of thought: first generate a rationale greedily, then append the ending and score. As in
  Constitutional AI (Bai et al. 2022, arXiv 2212.08073, sec. 4.1) CoT labels are clamped to
  [0.4, 0.6], since a rationale makes the judge overconfident;
- direct RLAIF (sec. 2.3): a pointwise score over options "1".."K": s = sum_i i * P(i), rescaled
  to [-1, 1] as 2 (s - 1) / (K - 1) - 1.

``LLMJudge`` holds everything above and asks its backend two things only: normalised option
probabilities for a batch of requests, and greedy generations (for CoT). The backends:
``prefzoo.feedback.local_judge.LocalJudge`` answers with a causal LM (any ``Policy``; the chat template
applied by ``Policy.prompt_text``); ``prefzoo.feedback.http.HttpJudge`` with an OpenAI-compatible
server. Which one a recipe gets is decided in ``prefzoo.feedback.spec`` (the one feedback builder). Every label goes through a
``LabelCache`` keyed by the judge's identity, the template (principle), prompt and both responses.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from prefzoo.feedback.base import Feedback, FeedbackError
from prefzoo.feedback.cache import LabelCache

# A generic English RLAIF preamble for worlds without their own judge template (our wording).
GENERIC_TEMPLATE = (
    "You are rating two answers written by an AI assistant. A better answer does what the user "
    "asked, is correct, is safe, and says it plainly without filler.\n\n"
    "User request: {prompt}\n\nAnswer 1: {a}\n\nAnswer 2: {b}\n\n"
    "Which answer is better? Reply with 1 or 2 only."
)
GENERIC_OPTIONS = ("1", "2")
GENERIC_SCORE_TEMPLATE = (
    "Rate the answer an AI assistant gave to the user request below, from 1 (useless or harmful) "
    "to 10 (correct, safe and to the point).\n\nUser request: {prompt}\n\nAnswer: {response}\n\n"
    "Reply with a single number from 1 to 10."
)
GENERIC_SCORE_OPTIONS = tuple(str(i) for i in range(1, 11))
COT_REQUEST = "Before answering, explain in one or two sentences which answer is better and why."
COT_ENDING = "Preferred response="
CAI_CLAMP = (0.4, 0.6)
FIELD = re.compile(r"\{(prompt|a|b|response)\}")


class JudgeError(FeedbackError):
    pass


@dataclass
class JudgeFailure:
    """A request whose answer could not be read as a label after its retries (a backend returns it in place
    of option probabilities). The pair's label is then failed: counted, reported, never cached."""

    reason: str


def fill(template: str, **values: str) -> str:
    """Substitute {prompt} {a} {b} {response} once, in one pass: braces inside the values (JSON
    answers) and other braces in the template are left alone."""
    missing = [k for k in values if "{" + k + "}" not in template]
    if missing:
        raise JudgeError(f"judge template lacks the placeholder(s) {missing}: {template[:120]!r}")
    return FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def as_text(x: Any) -> str:
    """A prompt or response as text for a judge template (chat messages as role-prefixed lines)."""
    if isinstance(x, str):
        return x
    if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], dict):
        return x[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in x)


@dataclass
class Request:
    """One question to the judge: chat ``messages`` and text that continues the assistant turn."""

    messages: list[dict]
    prefix: str = ""


@dataclass
class PairJudgement:
    """One pairwise label. ``p_a`` is the label (averaged over orders under ``swap``, clamped under
    CoT); ``p_a_first``/``p_a_second`` are P(a better) with a shown first / second, unclamped."""

    p_a: float
    p_a_first: float
    p_a_second: float | None = None
    rationale: str | None = None
    cached: bool = False
    failed: str | None = None  # why the label could not be had (then p_a is nan)

    @property
    def same_slot(self) -> bool | None:
        """Did the judge pick the same slot in both orders (position bias)? None without a swap or
        where either order is an exact tie."""
        if self.p_a_second is None or self.p_a_first == 0.5 or self.p_a_second == 0.5:
            return None
        first_ab = self.p_a_first > 0.5          # order (a, b): picked slot 1?
        first_ba = self.p_a_second < 0.5         # order (b, a): slot 1 holds b; picked it?
        return first_ab == first_ba


def normalise(logps: list[float]) -> list[float]:
    """softmax over the options' log-probs (the RLAIF soft label)."""
    top = max(logps)
    if top == -math.inf:
        raise JudgeError("none of the judge's options has any probability")
    ex = [math.exp(v - top) for v in logps]
    z = sum(ex)
    return [e / z for e in ex]


@dataclass
class JudgeSettings:
    """Everything about a judge except its model. All of it enters the cache key."""

    template: str = GENERIC_TEMPLATE
    options: tuple[str, ...] = GENERIC_OPTIONS
    score_template: str = GENERIC_SCORE_TEMPLATE
    score_options: tuple[str, ...] = GENERIC_SCORE_OPTIONS
    swap: bool = True
    cot: bool = False
    cot_request: str = COT_REQUEST
    cot_ending: str = COT_ENDING
    cot_max_new_tokens: int = 64
    cot_clamp: tuple[float, float] | None = CAI_CLAMP
    few_shot: list[dict] = field(default_factory=list)
    batch_size: int = 16
    compare: Literal["pairwise", "pointwise"] = "pairwise"

    def __post_init__(self):
        self.options = tuple(self.options)
        self.score_options = tuple(self.score_options)
        if len(self.options) != 2 or len(set(self.options)) != 2:
            raise JudgeError(f"a pairwise judge needs two distinct options, got {self.options}")
        if len(self.score_options) < 2 or len(set(self.score_options)) != len(self.score_options):
            raise JudgeError(f"score options must be two or more distinct strings, got {self.score_options}")
        if self.cot_clamp is not None:
            lo, hi = self.cot_clamp
            if not 0.0 <= lo <= 0.5 <= hi <= 1.0:
                raise JudgeError(f"cot_clamp must satisfy 0 <= lo <= 0.5 <= hi <= 1, got {self.cot_clamp}")
            self.cot_clamp = (float(lo), float(hi))
        for ex in self.few_shot:
            if "answer" not in ex or not ({"prompt", "a", "b"} <= set(ex) or {"prompt", "response"} <= set(ex)):
                raise JudgeError(f"a few-shot example needs prompt, a, b (or response) and answer; got {sorted(ex)}")


class LLMJudge(Feedback):
    """Pairwise and pointwise judging on top of two backend calls (see the module docstring)."""

    name = "llm-judge"

    def __init__(self, settings: JudgeSettings | None = None, cache_dir: str | Path | None = None):
        self.settings = settings or JudgeSettings()
        self.cache_dir = cache_dir
        self._cache: LabelCache | None = None
        self.calls = 0  # backend requests actually made (cache misses); tests and reports read it

    # ------------------------------------------------------------------ backend
    def backend_identity(self) -> dict:
        raise NotImplementedError

    def option_probs(self, requests: list[Request], options: tuple[str, ...]) -> list[list[float]]:
        """Normalised probability of each option as the start of the answer, per request."""
        raise NotImplementedError

    def generate(self, requests: list[Request], max_new_tokens: int) -> list[str]:
        """Greedy continuations (CoT rationales)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ identity and cache
    def identity(self) -> dict:
        s = asdict(self.settings)
        s.pop("batch_size")
        return {"backend": self.backend_identity(), "settings": s}

    @property
    def cache(self) -> LabelCache | None:
        if self._cache is None and self.cache_dir is not None:
            self._cache = LabelCache(self.cache_dir, self.identity())
        return self._cache

    # ------------------------------------------------------------------ rendering
    def _shots(self, pointwise: bool) -> list[dict]:
        turns = []
        for ex in self.settings.few_shot:
            if pointwise != ("response" in ex):
                continue
            answer = ex["answer"]
            if not pointwise and isinstance(answer, int):
                answer = self.settings.options[answer - 1]  # 1 or 2: the slot
            if pointwise:
                text = fill(self.settings.score_template, prompt=as_text(ex["prompt"]), response=as_text(ex["response"]))
            else:
                text = fill(self.settings.template, prompt=as_text(ex["prompt"]), a=as_text(ex["a"]), b=as_text(ex["b"]))
            turns += [{"role": "user", "content": text}, {"role": "assistant", "content": str(answer)}]
        return turns

    def pair_request(self, template: str, prompt: Any, first: Any, second: Any) -> Request:
        text = fill(template, prompt=as_text(prompt), a=as_text(first), b=as_text(second))
        if self.settings.cot:
            text = f"{text}\n\n{self.settings.cot_request}"
        return Request(self._shots(False) + [{"role": "user", "content": text}])

    # ------------------------------------------------------------------ pairwise
    def judge_pairs(self, prompts: list[Any], a: list[Any], b: list[Any],
                    templates: list[str | None] | None = None) -> list[PairJudgement]:
        """One ``PairJudgement`` per pair; ``templates`` (per pair, e.g. a sampled constitutional
        principle) override the judge's own template. Cached labels are reused; new ones are written
        to the cache a batch at a time."""
        if not (len(prompts) == len(a) == len(b)):
            raise ValueError(f"{len(prompts)} prompts, {len(a)} a-responses, {len(b)} b-responses")
        s = self.settings
        if s.compare == "pointwise":  # Bradley-Terry on the expected grades; no slots, so no position bias
            if any(templates or []):
                raise JudgeError("comparison principles need judge.compare: pairwise (a pointwise grade has no "
                                 "second response to compare under a principle)")
            sa, sb = self.expected_scores(prompts, a), self.expected_scores(prompts, b)
            return [PairJudgement(p, p) for p in (1.0 / (1.0 + math.exp(y - x)) for x, y in zip(sa, sb))]
        templates = templates or [None] * len(prompts)
        tmpl = [t or s.template for t in templates]
        out: list[PairJudgement | None] = [None] * len(prompts)
        keys = [LabelCache.key("pair", tmpl[i], prompts[i], a[i], b[i]) for i in range(len(prompts))]
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                out[i] = self._finish(hit, cached=True)
            else:
                todo.append(i)
        for start in range(0, len(todo), s.batch_size):
            chunk = todo[start: start + s.batch_size]
            raw = self._judge_raw([tmpl[i] for i in chunk], [prompts[i] for i in chunk],
                                  [a[i] for i in chunk], [b[i] for i in chunk])
            for i, value in zip(chunk, raw):  # cached as each batch arrives; a failed label is not cached
                if self.cache is not None and "failed" not in value:
                    self.cache.put(keys[i], value)
                out[i] = self._finish(value, cached=False)
        return out  # type: ignore[return-value]

    def _judge_raw(self, templates, prompts, a, b) -> list[dict]:
        s = self.settings
        reqs = [self.pair_request(t, p, x, y) for t, p, x, y in zip(templates, prompts, a, b)]
        if s.swap:
            reqs += [self.pair_request(t, p, y, x) for t, p, x, y in zip(templates, prompts, a, b)]
        rationales = None
        if s.cot:
            rationales = self.generate(reqs, s.cot_max_new_tokens)
            reqs = [Request(r.messages, f"{why} {s.cot_ending}".strip() if why else s.cot_ending)
                    for r, why in zip(reqs, rationales)]
        probs = self.option_probs(reqs, s.options)
        self.calls += len(reqs)
        n = len(prompts)
        rows = []
        for i in range(n):
            failures = [x for x in (probs[i], probs[n + i] if s.swap else None) if isinstance(x, JudgeFailure)]
            if failures:
                rows.append({"failed": failures[0].reason})
                continue
            row = {"p_a_first": probs[i][0]}
            if s.swap:
                row["p_a_second"] = probs[n + i][1]  # a sits in slot 2 of the swapped order
            if rationales is not None:
                row["rationale"] = rationales[i] if not s.swap else [rationales[i], rationales[n + i]]
            rows.append(row)
        return rows

    def _finish(self, raw: dict, cached: bool) -> PairJudgement:
        s = self.settings
        if "failed" in raw:
            return PairJudgement(math.nan, math.nan, failed=raw["failed"])
        first, second = raw["p_a_first"], raw.get("p_a_second")
        p = first if second is None else 0.5 * (first + second)
        if s.cot and s.cot_clamp is not None:
            p = min(max(p, s.cot_clamp[0]), s.cot_clamp[1])
        return PairJudgement(p, first, second, raw.get("rationale"), cached)

    def prefer(self, prompts, a, b) -> torch.Tensor:
        """P(a better) per pair. Online there is no label to skip, so a failed label is an error naming it."""
        judgements = self.judge_pairs(prompts, a, b)
        failed = [j.failed for j in judgements if j.failed]
        if failed:
            raise JudgeError(f"{len(failed)} of {len(judgements)} judge labels failed after their retries; "
                             f"the first: {failed[0]}")
        return torch.tensor([j.p_a for j in judgements], dtype=torch.float32)

    # ------------------------------------------------------------------ pointwise (direct RLAIF)
    def expected_scores(self, prompts: list[Any], responses: list[Any]) -> list[float]:
        """s = sum_i i * P(option i), i = 1..K, per response (cached)."""
        s = self.settings
        out: list[float | None] = [None] * len(prompts)
        keys = [LabelCache.key("score", s.score_template, p, r) for p, r in zip(prompts, responses)]
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                out[i] = hit["expected"]
            else:
                todo.append(i)
        for start in range(0, len(todo), s.batch_size):
            chunk = todo[start: start + s.batch_size]
            reqs = [Request(self._shots(True) + [{"role": "user", "content": fill(
                s.score_template, prompt=as_text(prompts[i]), response=as_text(responses[i]))}]) for i in chunk]
            probs = self.option_probs(reqs, s.score_options)
            self.calls += len(reqs)
            for i, pr in zip(chunk, probs):
                if isinstance(pr, JudgeFailure):  # a reward must be a number: say which label failed and why
                    raise JudgeError(f"the judge's grade of a response to {as_text(prompts[i])[:80]!r} failed "
                                     f"after its retries: {pr.reason}")
                value = {"expected": sum((k + 1) * q for k, q in enumerate(pr)), "probs": pr}
                if self.cache is not None:
                    self.cache.put(keys[i], value)
                out[i] = value["expected"]
        return out  # type: ignore[return-value]

    def score(self, prompts, responses) -> torch.Tensor:
        """The d-RLAIF reward: the expected score rescaled from [1, K] to [-1, 1]."""
        k = len(self.settings.score_options)
        s = torch.tensor(self.expected_scores(prompts, responses), dtype=torch.float32)
        return 2.0 * (s - 1.0) / (k - 1) - 1.0


__all__ = ["LLMJudge", "JudgeSettings", "JudgeError", "JudgeFailure", "PairJudgement", "Request", "fill", "as_text", "normalise",
           "GENERIC_TEMPLATE", "GENERIC_OPTIONS", "GENERIC_SCORE_TEMPLATE", "GENERIC_SCORE_OPTIONS", "CAI_CLAMP",
           "COT_REQUEST", "COT_ENDING", "FIELD"]
