"""The one feedback spec and builder: string and mapping forms name the same backends, the online reward
and the AI labeler resolve through the same code, file paths resolve against the recipe folder, and bad
specs fail when they are read, with the closest names."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from prefzoo.feedback.base import RuleFeedback
from prefzoo.feedback.http import HttpJudge
from prefzoo.feedback.judge import JudgeConfig, build_judge
from prefzoo.feedback.resolve import resolve_reward
from prefzoo.feedback.spec import BACKENDS, FeedbackSpec, FeedbackSpecError, build_feedback, parse_spec

RULES = "def longer(prompt, response):\n    return float(len(response))\n"


def job(tmp_path: Path, **kw):
    return SimpleNamespace(recipe_dir=tmp_path, world=None, feedback=None, out_dir=tmp_path / "out",
                           train=SimpleNamespace(cache_dir=str(tmp_path / "cache")), **kw)


def test_builtin_backends_are_registered_lazily():
    assert {"world", "gold", "rule", "judge", "reward-model", "local", "http"} <= set(BACKENDS.names())
    assert JudgeConfig is FeedbackSpec  # the labeler's `judge:` block is the one spec


def test_string_form_is_shorthand_for_the_mapping():
    assert parse_spec("rule:rules.py:longer") == FeedbackSpec(backend="rule", model="rules.py:longer")
    assert parse_spec("local:smollm2-135m-instruct") == FeedbackSpec(backend="local", model="smollm2-135m-instruct")
    assert parse_spec("local").model == "policy"  # the SFT policy itself, frozen
    assert parse_spec("http:http://127.0.0.1:9/v1").http == {"url": "http://127.0.0.1:9/v1"}
    assert parse_spec({"backend": "world"}) == parse_spec("world")


def test_reward_and_labeler_share_the_builder_and_the_recipe_folder(tmp_path, monkeypatch):
    (tmp_path / "rules.py").write_text(RULES)
    monkeypatch.chdir("/")  # the working folder is elsewhere: the path resolves against recipe_dir
    j = job(tmp_path)
    reward = resolve_reward("rule:rules.py:longer", j)
    labeler = build_judge(JudgeConfig(backend="rule", model="rules.py:longer"), j)
    for fb in (reward, labeler, build_feedback({"backend": "rule", "model": "rules.py:longer"}, j)):
        assert isinstance(fb, RuleFeedback) and fb.score(["q"], ["abc"]).tolist() == [3.0]
    assert reward.fn is labeler.fn  # one file, loaded once (registry.load_module)


def test_gold_and_the_jobs_feedback(tmp_path):
    gold = RuleFeedback(lambda p, r: 1.0)
    j = job(tmp_path)
    j.world = SimpleNamespace(gold=gold)
    j.feedback = RuleFeedback(lambda p, r: 2.0)
    assert build_feedback("world", j) is gold and build_judge(JudgeConfig(backend="gold"), j) is gold
    assert build_feedback("judge", j) is j.feedback
    with pytest.raises(FeedbackSpecError, match="takes no argument"):
        parse_spec("world:x")


def test_http_backend_from_either_form(tmp_path):
    j = job(tmp_path)
    fb = build_feedback("http:http://127.0.0.1:9/v1", j)
    assert isinstance(fb, HttpJudge) and fb.config.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    assert fb.cache_dir == tmp_path / "cache" / "labels"
    fb = build_judge(JudgeConfig(backend="http", http={"url": "http://127.0.0.1:9", "model": "m"}, cache=False), j)
    assert fb.config.model == "m" and fb.cache is None
    with pytest.raises(ValueError, match="judge.http.url must start with http"):
        JudgeConfig(backend="http", http={"url": "127.0.0.1"})


def test_bad_specs_fail_when_read_with_the_closest_names():
    with pytest.raises(FeedbackSpecError, match="unknown reward spec 'wrold'; did you mean 'world'"):
        resolve_reward("wrold", None)
    with pytest.raises(ValueError, match="did you mean 'local'"):
        parse_spec({"backend": "locl"})
    with pytest.raises(FeedbackSpecError, match="FILE.py:FUNC"):
        JudgeConfig(backend="rule")
    with pytest.raises(FeedbackSpecError, match="judge.http is set"):
        JudgeConfig(backend="local", http={"url": "http://x"})


def test_a_backend_from_a_file(tmp_path):
    (tmp_path / "mine.py").write_text(
        "from prefzoo.feedback.base import RuleFeedback\n\n"
        "class Constant:\n"
        "    def build(self, spec, ctx):\n"
        "        return RuleFeedback(lambda p, r: float(spec.model), name='constant')\n")
    fb = build_feedback({"backend": "mine.py:Constant", "model": "7"}, job(tmp_path))
    assert fb.score(["q"], ["a"]).tolist() == [7.0]
