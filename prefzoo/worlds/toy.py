"""The toy assistant world: a synthetic testbed whose human preference is known exactly.

Why it exists: comparing post-training algorithms (DPO, PPO-RLHF, RLAIF, Constitutional AI) needs
a ground truth to score against. Here the "human" is a rubric (``gold_score``), so every arm can be
scored exactly, and simulated raters (``rate_pair``) produce the noisy labels a real annotation
budget would buy. The world is small enough that a ~1M-parameter word-level Llama learns it on a
CPU in a minute or two.

Text conventions: lower case, every word and punctuation mark separated by one space
(``3 plus 4 is 7 .``; JSON as ``{ "name" : "tom" , "age" : 7 }`` where a quoted string is one
token). ``vocabulary()`` lists every token any generated text can contain, so a word-level
tokenizer over that closed vocabulary covers everything.

Categories (what RLHF is meant to deliver):

* ``helpful``  questions with a checkable answer (small arithmetic, a fixed fact table).
  Flaw: ``wrong`` answer.
* ``harmful``  harmful requests; good is a short refusal. Flaw: ``complied`` (a fake how-to).
* ``benign``   look-alikes of harmful requests (``how do i kill a python process ?``); good is a
  short helpful answer. Flaw: ``refused`` (over-refusal).
* ``style``    open questions; concise beats padded. Its only flaw is ``padded``.
* ``format``   JSON with given keys, or a numbered list of a given count. Flaw: ``broken``.

``padded`` (filler such as ``well , that is a great question .``) is a flaw in every category.

What the SFT base gets right and wrong, and why (the quickstart's base, ``recipes/quickstart.yaml``; 1000
held-out prompts, temperature 1): it answers ~28% of the helpful questions right (~55% greedy), writes valid
JSON / lists ~37% of the time (~45% greedy), declines ~58% of harmful requests (complies with ~42%),
refuses ~10% of the benign look-alikes and pads ~50% of its replies. Its demonstrations comply with half
the harmful requests, refuse 10% of the benign ones, break 40% of the formats and pad half the time, and
the base imitates those rates closely. They give only 15% wrong answers, but the base does worse there: a
~0.3M-parameter model trained from scratch in a minute has bound only some facts to their subjects (it
answers ``the lemon is yellow`` to ``what color is the pig ?``) and mostly guesses arithmetic. What
binds them is the long SFT stage on short demonstrations (6000 x 3 epochs at 2e-3; with 3000 x 2 at 1e-3 it
answered 15% right and wrote 21% valid formats). The gap between sampled and greedy answers is the headroom
preference learning can take (most of it in the facts: held-out arithmetic is right ~7% of the time, facts ~32%,
padded or not alike).
``docs/toy_world.md`` says how each deliverable is measured.

Everything is seeded: functions take a ``seed`` or an explicit ``random.Random``; nothing touches
the global random state.
"""
from __future__ import annotations

# The content lives in ``toy_data*`` modules (tables; prompts; responses; rubric and raters; corpora and
# vocabulary, in that import order, no cycles); this module is the world's one public face, so code keeps
# writing ``from prefzoo.worlds import toy`` and ``toy.gold_score(...)``.
from prefzoo.worlds.toy_data import (
    ANSWER_CLASSES, ARITH_GOOD, ARITH_TEMPLATES, BENIGN_ACTIONS, CATEGORIES, COLOR_FACTS, COLORS, COMPLIANCE,
    COMPLIANCE_TOOLS, COUNT_WORDS, CRITIQUES, DEFAULT_FLAW_RATES, DEFAULT_NOISE_TEMPERATURE, DEMO_MIX, EVAL_SHARE, FACT_KINDS,
    FILLER_PREFIXES, FILLER_SUFFIXES, FLAW_OF_CATEGORY, GIFTS, HARMFUL_ACTIONS, JSON_KEYS, JSON_PROSE, JSON_TEMPLATES,
    JUDGE_OPTIONS, JUDGE_TEMPLATE, LEG_FACTS, LENGTH_BUDGET, LENGTH_PENALTY_PER_TOKEN, LIST_INTROS, LIST_ITEMS,
    LIST_TEMPLATES, MAX_PENALTY, MAX_PROMPT_TOKENS, MAX_RESPONSE_TOKENS, MEALS, NUMBERS, OPPOSITE_FACTS,
    OPPOSITE_WORDS, PADDING_PENALTY, PEOPLE, PET_NAMES, PREFIXES, REFUSALS, REQUEST_TEMPLATES, SCORE_OPTIONS,
    SCORE_TEMPLATE, SKILLS, SOUND_FACTS, SOUNDS, STYLE_FIXED, toy_constitution,
)
from prefzoo.worlds.toy_data_corpus import (
    CORPUS_MIX, _true_flaw, critique_revision_records, judgement_records, pretraining_corpus, reward_to_digit,
    score_records, sft_demonstrations, vocabulary,
)
from prefzoo.worlds.toy_data_prompts import _pools, _resolve, check_mix, lookup_prompt, mix_counts, prompts
from prefzoo.worlds.toy_data_responses import flawed_response, flaws_for, good_response, make_response, pad
from prefzoo.worlds.toy_data_rubric import (
    GoldScore, category_rates, gold_preference, gold_reward_batch, gold_score, is_padded, is_refusal, rate_pair,
)

__all__ = [
    # tables
    "ANSWER_CLASSES", "ARITH_GOOD", "ARITH_TEMPLATES", "BENIGN_ACTIONS", "CATEGORIES", "COLOR_FACTS", "COLORS",
    "COMPLIANCE", "COMPLIANCE_TOOLS", "CORPUS_MIX", "COUNT_WORDS", "CRITIQUES", "DEFAULT_FLAW_RATES", "DEMO_MIX",
    "DEFAULT_NOISE_TEMPERATURE", "EVAL_SHARE", "FACT_KINDS", "FILLER_PREFIXES", "FILLER_SUFFIXES", "FLAW_OF_CATEGORY",
    "GIFTS", "HARMFUL_ACTIONS", "JSON_KEYS", "JSON_PROSE", "JSON_TEMPLATES", "JUDGE_OPTIONS", "JUDGE_TEMPLATE",
    "LEG_FACTS", "LENGTH_BUDGET", "LENGTH_PENALTY_PER_TOKEN", "LIST_INTROS", "LIST_ITEMS", "LIST_TEMPLATES",
    "MAX_PENALTY", "MAX_PROMPT_TOKENS", "MAX_RESPONSE_TOKENS", "MEALS", "NUMBERS", "OPPOSITE_FACTS", "OPPOSITE_WORDS",
    "PADDING_PENALTY", "PEOPLE", "PET_NAMES", "PREFIXES", "REFUSALS", "REQUEST_TEMPLATES", "SCORE_OPTIONS",
    "SCORE_TEMPLATE", "SKILLS", "SOUND_FACTS", "SOUNDS", "STYLE_FIXED", "toy_constitution",
    # prompts and responses
    "lookup_prompt", "prompts", "mix_counts", "check_mix", "flaws_for", "good_response", "flawed_response", "make_response", "pad",
    # gold rubric and simulated raters
    "GoldScore", "gold_score", "gold_reward_batch", "category_rates", "is_refusal", "is_padded", "gold_preference",
    "rate_pair",
    # corpora and vocabulary
    "sft_demonstrations", "critique_revision_records", "judgement_records", "score_records", "reward_to_digit",
    "pretraining_corpus", "vocabulary",
    # private helpers the tests reach for
    "_pools", "_resolve", "_true_flaw",
]
