"""One feedback spec and one builder: who rates, whether as an online algorithm's reward or as the AI
labeler of RLAIF / Constitutional AI.

A spec is a string ``KIND[:ARG]`` or a mapping with every setting (``FeedbackSpec``; the recipe's
``judge:`` block). The string is shorthand for ``{backend: KIND, model: ARG}``:

    world | gold            the testbed's gold rubric (``job.world.gold``)
    rule:FILE.py:FUNC       ``fn(prompt, response) -> float`` from a file (relative: the recipe folder)
    rule:MODULE:FUNC        the same from an importable module
    judge                   the feedback source the job was given (``job.feedback``)
    reward-model            a reward model trained here from the job's pairs (saved under
                            out_dir/reward_model and reused on resume)
    reward-model:PATH       a reward model saved with ``RewardModel.save`` (relative: the recipe folder)
    local[:MODEL]           an LLM judge on a causal LM: ``policy`` (the default: a frozen copy of the SFT
                            policy), ``world`` (the testbed's feedback model), an offline alias or a path
    http:URL                an LLM judge behind an OpenAI-compatible endpoint (``{backend: http, http: {...}}``
                            for the other connection settings)
    simulated:ACC           a labeler that gives the world's gold pick with probability ACC (``simulated``)

Backends are the registry ``BACKENDS`` (lazy built-ins, the entry-point group ``prefzoo.feedback``, or
``backend: module:Class`` in the mapping form). A backend is a class whose instances have
``build(spec, ctx) -> Feedback`` and optionally ``check(spec)`` (run when the spec is read, so a bad
recipe fails before any work) and ``shorthand(arg) -> dict`` (the fields ``KIND:ARG`` sets).
Every file a spec names is loaded through ``prefzoo.registry`` relative to ``job.recipe_dir``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prefzoo.config import ConfigError
from prefzoo.feedback.base import Feedback
from prefzoo.feedback.llm_judge import (CAI_CLAMP, COT_ENDING, COT_REQUEST, FIELD, GENERIC_OPTIONS,
                                        GENERIC_SCORE_OPTIONS, GENERIC_SCORE_TEMPLATE, GENERIC_TEMPLATE,
                                        JudgeSettings)
from prefzoo.registry import Registry, did_you_mean, recipe_path

SPECS = ("world", "gold", "rule:FILE.py:FUNC", "rule:MODULE:FUNC", "judge", "reward-model", "reward-model:PATH",
         "local[:MODEL]", "http:URL", "simulated:ACC")

BACKENDS = Registry("feedback backend", required=("build",), entry_points="prefzoo.feedback", builtins={
    "world": "prefzoo.feedback.sources:GoldSource", "gold": "prefzoo.feedback.sources:GoldSource",
    "rule": "prefzoo.feedback.sources:RuleSource", "judge": "prefzoo.feedback.sources:JobFeedback",
    "reward-model": "prefzoo.feedback.sources:RewardModelSource",
    "local": "prefzoo.feedback.local_judge:LocalBackend", "http": "prefzoo.feedback.http:HttpBackend",
    "simulated": "prefzoo.feedback.simulated:SimulatedBackend"})


class FeedbackSpecError(ConfigError):
    """A feedback spec that cannot be parsed: a bad input, so the CLI says it in one line (exit 2)."""


def backend(name: str, base_dir: str | Path | None = None):
    """The backend object called ``name`` (a registered name or ``module:Class`` / ``file.py:Class``)."""
    return BACKENDS.get(name, base_dir)()


@dataclass
class FeedbackSpec:
    """Who gives feedback, as written in a recipe (``params.judge``; also ``JudgeConfig``)."""

    backend: str = "local"            # a name in BACKENDS (see the module docstring) or module:Class
    model: str | None = None          # local: "policy" (default; a frozen copy of the SFT policy), "world" (the
                                      # testbed's feedback model), an offline alias or a path; reward-model: a saved
                                      # reward model's folder (None: train one from the job's pairs); rule:
                                      # "module:fn" or "file.py:fn"
    http: dict | None = None          # backend http: url, model, api_key_env, timeout_s, retries, ... (HttpConfig)
    template: str | None = None       # {prompt} {a} {b}; None: the world's judge_template, else GENERIC_TEMPLATE
    options: list[str] | None = None  # the two answer strings; None: the world's judge_options, else ["1", "2"]
    score_template: str | None = None  # pointwise (direct RLAIF): {prompt} {response}
    score_options: list[str] | None = None  # None: the world's score_options, else "1".."10"
    swap: bool = True                 # score both orders and average (cancels position bias; RLAIF sec. 2.1)
    compare: Literal["pairwise", "pointwise"] = "pairwise"  # pointwise: P(a better) = sigma(E[s_a] - E[s_b]) from
                                      # the score template; for judges that grade one answer better than they compare two
    cot: bool = False                 # generate a rationale first (RLAIF sec. 2.1.1)
    cot_request: str = COT_REQUEST
    cot_ending: str = COT_ENDING      # appended after the rationale; the option follows it directly
    cot_max_new_tokens: int = 64
    cot_clamp: list[float] | None = field(default_factory=lambda: list(CAI_CLAMP))  # Bai et al. 2022: [0.4, 0.6]
    few_shot: list[dict] = field(default_factory=list)  # {prompt, a, b, answer} (answer: an option or slot 1/2)
    batch_size: int = 16              # judge requests per forward / per batch of HTTP calls
    max_length: int = 1024            # token limit of a judge model loaded by alias/path
    cache: bool = True                # every label cached on disk (resume without paying again)
    cache_dir: str | None = None      # None: <train.cache_dir>/labels

    def __post_init__(self):
        if self.backend not in BACKENDS and ":" not in self.backend:
            raise FeedbackSpecError(f"unknown judge.backend {self.backend!r}.{did_you_mean(self.backend, BACKENDS.names())}"
                                    f" Available: {', '.join(BACKENDS.names())}")
        if self.model is None and self.backend == "local":
            self.model = "policy"
        if self.http and self.backend != "http":
            raise FeedbackSpecError(f"judge.http is set but judge.backend is {self.backend!r}; set backend: http")
        JudgeSettings(**self._settings_kwargs(GENERIC_TEMPLATE, GENERIC_OPTIONS,
                                              GENERIC_SCORE_TEMPLATE, GENERIC_SCORE_OPTIONS))  # checks
        if ":" not in self.backend:  # a plug-in backend named by module:Class is checked when built
            check = getattr(backend(self.backend), "check", None)
            if check is not None:
                check(self)

    def _settings_kwargs(self, template, options, score_template, score_options) -> dict:
        return dict(template=self.template or template, options=tuple(self.options or options),
                    score_template=self.score_template or score_template,
                    score_options=tuple(self.score_options or score_options), swap=self.swap, cot=self.cot,
                    cot_request=self.cot_request, cot_ending=self.cot_ending,
                    cot_max_new_tokens=self.cot_max_new_tokens,
                    cot_clamp=tuple(self.cot_clamp) if self.cot_clamp is not None else None,
                    few_shot=list(self.few_shot), batch_size=self.batch_size, compare=self.compare)

    def settings(self, world: Any = None, template: str | None = None,
                 options: tuple[str, ...] | None = None) -> JudgeSettings:
        """The judge's settings: this config, then the given defaults, then the world's material,
        then the generic English ones."""
        return JudgeSettings(**self._settings_kwargs(
            template or getattr(world, "judge_template", None) or GENERIC_TEMPLATE,
            options or getattr(world, "judge_options", None) or GENERIC_OPTIONS,
            getattr(world, "score_template", None) or GENERIC_SCORE_TEMPLATE,
            getattr(world, "score_options", None) or GENERIC_SCORE_OPTIONS))

    def words(self) -> list[str]:
        """Text this judge will write into prompts (for a word-level tokenizer built from data)."""
        texts = [self.template or GENERIC_TEMPLATE, self.score_template or GENERIC_SCORE_TEMPLATE,
                 *(self.options or GENERIC_OPTIONS), *(self.score_options or GENERIC_SCORE_OPTIONS)]
        if self.cot:
            texts += [self.cot_request, self.cot_ending]
        return [FIELD.sub(" ", t) for t in texts]


@dataclass
class BuildContext:
    """What a backend may use besides the spec: the job (world, policy, recipe folder, caches) and the
    caller's defaults."""

    job: Any
    role: str = "feedback"                 # "reward" | "judge" | ...: names the spec in error messages
    template: str | None = None            # the caller's judge template (e.g. a constitution's), before the world's
    options: tuple[str, ...] | None = None
    frozen_policy: Any = None              # local judge, model: policy: the SFT copy taken before any training
    reward_model: dict | None = None       # RewardModelConfig params for reward-model without a path

    @property
    def world(self) -> Any:
        return getattr(self.job, "world", None)

    @property
    def recipe_dir(self) -> Path | None:
        return getattr(self.job, "recipe_dir", None)

    def path(self, path: str | Path) -> Path:
        return recipe_path(path, self.recipe_dir)

    def judge_settings(self, spec: FeedbackSpec) -> JudgeSettings:
        return spec.settings(self.world, self.template, self.options)

    def label_cache_dir(self, spec: FeedbackSpec) -> Path | None:
        if not spec.cache:
            return None
        return Path(spec.cache_dir) if spec.cache_dir else Path(self.job.train.cache_dir) / "labels"


def parse_spec(spec: str | dict | FeedbackSpec, role: str = "feedback") -> FeedbackSpec:
    """A spec in any of its forms -> ``FeedbackSpec`` (unknown kinds answered with the closest ones)."""
    if isinstance(spec, FeedbackSpec):
        return spec
    if isinstance(spec, dict):
        from prefzoo.config import from_dict

        return from_dict(FeedbackSpec, spec, role)
    if not isinstance(spec, str):
        raise FeedbackSpecError(f"{role} spec must be a string or a mapping, got {type(spec).__name__}")
    kind, _, arg = spec.partition(":")
    if kind not in BACKENDS:
        raise FeedbackSpecError(f"unknown {role} spec {spec!r};{did_you_mean(kind, BACKENDS.names())} expected one "
                                f"of: {', '.join(SPECS)} (or a mapping with backend: ...)")
    obj = backend(kind)
    fields = {}
    if arg:
        shorthand = getattr(obj, "shorthand", None)
        fields = shorthand(arg) if shorthand is not None else {"model": arg}
    return FeedbackSpec(backend=kind, **fields)


def build_feedback(spec: str | dict | FeedbackSpec, job, *, role: str = "feedback", template: str | None = None,
                   options: tuple[str, ...] | None = None, frozen_policy=None,
                   reward_model: dict | None = None) -> Feedback:
    """The ``Feedback`` that ``spec`` names, for ``job`` (see the module docstring)."""
    spec = parse_spec(spec, role)
    ctx = BuildContext(job, role, template, options, frozen_policy, reward_model)
    return backend(spec.backend, ctx.recipe_dir).build(spec, ctx)


def build_judge(cfg: FeedbackSpec | str | dict, job, *, template: str | None = None,
                options: tuple[str, ...] | None = None, frozen_policy=None) -> Feedback:
    """``build_feedback`` for an AI labeler (``frozen_policy``: the copy of the SFT policy to judge with
    when ``model: policy``, taken before any training, so the judge never drifts with the policy)."""
    return build_feedback(cfg, job, role="judge", template=template, options=options, frozen_policy=frozen_policy)


JudgeConfig = FeedbackSpec  # the name RLAIF / CAI configs use for their `judge:` block

__all__ = ["FeedbackSpec", "JudgeConfig", "FeedbackSpecError", "BuildContext", "BACKENDS", "SPECS", "backend",
           "parse_spec", "build_feedback", "build_judge", "recipe_path"]
