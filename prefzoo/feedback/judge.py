"""AI judges, by their old import path. The code lives in:

- ``llm_judge``: ``LLMJudge`` (pairwise and pointwise judging, swaps, CoT, the cache) and its settings;
- ``local_judge``: ``LocalJudge`` (a causal LM) and ``frozen_copy``; ``http``: ``HttpJudge``;
- ``spec``: the recipe's ``judge:`` block (``JudgeConfig`` = ``FeedbackSpec``) and the one builder
  (``build_judge`` = ``build_feedback`` for a labeler).

New code imports from those modules; this one only re-exports them.
"""
from prefzoo.feedback.llm_judge import (CAI_CLAMP, GENERIC_OPTIONS, GENERIC_SCORE_OPTIONS, GENERIC_SCORE_TEMPLATE,
                                        GENERIC_TEMPLATE, JudgeError, JudgeSettings, LLMJudge, PairJudgement,
                                        Request, as_text, fill, normalise)
from prefzoo.feedback.local_judge import LocalJudge, frozen_copy
from prefzoo.feedback.spec import JudgeConfig, build_judge

__all__ = ["LLMJudge", "LocalJudge", "JudgeConfig", "JudgeSettings", "JudgeError", "PairJudgement", "Request",
           "build_judge", "frozen_copy", "fill", "as_text", "normalise", "GENERIC_TEMPLATE", "GENERIC_OPTIONS",
           "GENERIC_SCORE_TEMPLATE", "GENERIC_SCORE_OPTIONS", "CAI_CLAMP"]
