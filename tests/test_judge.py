"""The local LLM judge on a tiny Llama whose answer logits are PLANTED by a forward hook, so every
label has a hand-worked value.

The hook replaces the model's logits by zeros except: ``bias[token]`` on chosen tokens (a slot bias
when the token is the first option), plus ``pref`` on the option whose slot holds the response
containing the word "good". With options ("1", "2") and the judge's softmax over the two options:
  order (a, b): P(a) = sigma(l_1 - l_2);  order (b, a): P(a) = P("2") = sigma(l_2 - l_1).
Pure slot bias b:  P_ab(a) = sigma(b), P_ba(a) = 1 - sigma(b), average exactly 0.5.
Slot bias b=3 plus preference p=1, a good: (sigma(4) + sigma(-2)) / 2 = (0.98201 + 0.11920) / 2 > 0.5,
a bad: (sigma(2) + 1 - sigma(4)) / 2 = (0.88080 + 0.01799) / 2 < 0.5, while the first order
alone prefers a in both cases (the slot wins).
"""
from __future__ import annotations

import math

import pytest
import torch

from prefzoo.feedback.judge import JudgeConfig, JudgeError, JudgeSettings, LocalJudge, build_judge
from prefzoo.models.policy import Policy
from prefzoo.models.tiny import tiny_llama, word_tokenizer
from prefzoo.stages.sampling import label_pairs, labeler_alignment, position_bias

TEMPLATE = "which is better ? q : {prompt} first : {a} second : {b} answer :"
SCORE = "rate q : {prompt} r : {response} score :"
WORDS = TEMPLATE.split() + SCORE.split() + ["good", "bad", "meh", "answer", "hi", "1", "2", "3", "why"]


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def planted_policy(bias: dict[str, float], pref: float = 0.0) -> Policy:
    tok = word_tokenizer(WORDS)
    model = tiny_llama(len(tok), seed=0)
    tid = tok.convert_tokens_to_ids
    one, two, good, second = tid("1"), tid("2"), tid("good"), tid("second")

    def hook(module, args, kwargs, output):
        ids = kwargs["input_ids"]
        planted = torch.zeros_like(output.logits)
        for word, value in bias.items():
            planted[..., tid(word)] += value
        if pref:
            for row in range(ids.shape[0]):
                seq = ids[row].tolist()
                if second in seq and good in seq:  # which slot holds the good response?
                    slot_one = seq.index(good) < seq.index(second)
                    planted[row, :, one if slot_one else two] += pref
        output.logits = planted
        return output

    model.register_forward_hook(hook, with_kwargs=True)
    return Policy(model, tok, max_length=128)


def judge(policy, cache_dir=None, **kw) -> LocalJudge:
    settings = JudgeSettings(template=TEMPLATE, options=("1", "2"), score_template=SCORE,
                             score_options=("1", "2", "3"), **kw)
    return LocalJudge(policy, settings, cache_dir, model_id="planted")


def test_pure_slot_bias_swaps_and_cancels_exactly():
    j = judge(planted_policy({"1": 2.0}))
    (r,) = j.judge_pairs(["hi"], ["good answer"], ["bad answer"])
    assert r.p_a_first == pytest.approx(sig(2.0), abs=1e-6)        # a in slot 1: the slot wins
    assert r.p_a_second == pytest.approx(1 - sig(2.0), abs=1e-6)   # swapped: the raw label flips
    assert r.p_a == pytest.approx(0.5, abs=1e-6)                   # averaged: no preference left
    assert r.same_slot is True
    unswapped = judge(planted_policy({"1": 2.0}), swap=False)
    assert unswapped.prefer(["hi"], ["bad answer"], ["good answer"]).item() == pytest.approx(sig(2.0), abs=1e-6)


def test_real_preference_survives_slot_bias_after_averaging():
    j = judge(planted_policy({"1": 3.0}, pref=1.0))
    good_first, bad_first = j.judge_pairs(["hi", "hi"], ["good answer", "bad answer"], ["bad answer", "good answer"])
    assert good_first.p_a_first > 0.5 and bad_first.p_a_first > 0.5  # one order alone: slot 1 always wins
    assert good_first.p_a == pytest.approx((sig(4.0) + sig(-2.0)) / 2, abs=1e-6)
    assert bad_first.p_a == pytest.approx((sig(2.0) + 1 - sig(4.0)) / 2, abs=1e-6)
    assert good_first.p_a > 0.5 > bad_first.p_a
    records, stats = label_pairs(j, [{"prompt": "hi", "a": "bad answer", "b": "good answer"}])
    assert records[0]["chosen"] == "good answer" and records[0]["p_chosen"] > 0.5
    assert stats["position_bias"] == 1.0  # the same slot in both orders: 3 > 1


def test_position_bias_zero_for_an_order_blind_judge():
    j = judge(planted_policy({}, pref=2.0))
    res = j.judge_pairs(["hi"] * 2, ["good answer", "bad answer"], ["bad answer", "good answer"])
    assert [r.p_a for r in res] == pytest.approx([sig(2.0), 1 - sig(2.0)], abs=1e-6)
    assert position_bias(res) == 0.0


def test_chain_of_thought_generates_a_rationale_and_clamps():
    j = judge(planted_policy({"1": 4.0}), swap=False, cot=True, cot_request="why", cot_ending="answer :",
              cot_max_new_tokens=3)
    (r,) = j.judge_pairs(["hi"], ["good answer"], ["bad answer"])
    assert r.rationale == "1 1 1"                       # greedy under the planted logits
    assert r.p_a_first == pytest.approx(sig(4.0), abs=1e-6)
    assert r.p_a == 0.6                                 # clamped to [0.4, 0.6] (Bai et al. 2022)
    low = judge(planted_policy({"2": 4.0}), swap=False, cot=True, cot_request="why", cot_max_new_tokens=2)
    assert low.judge_pairs(["hi"], ["a"], ["b"])[0].p_a == 0.4
    free = judge(planted_policy({"1": 4.0}), swap=False, cot=True, cot_request="why", cot_clamp=None,
                 cot_max_new_tokens=2)
    assert free.judge_pairs(["hi"], ["a"], ["b"])[0].p_a == pytest.approx(sig(4.0), abs=1e-6)


def test_pointwise_score_is_expected_option_rescaled():
    # logits 0, 0, ln 2 on "1", "2", "3": P = 1/4, 1/4, 1/2; s = 1/4 + 2/4 + 3/2 = 2.25; 2 (s-1)/(3-1) - 1 = 0.25
    j = judge(planted_policy({"3": math.log(2.0)}))
    assert j.expected_scores(["hi"], ["meh"]) == pytest.approx([2.25], abs=1e-6)
    assert j.score(["hi"], ["meh"]).tolist() == pytest.approx([0.25], abs=1e-6)
    assert judge(planted_policy({})).score(["hi"], ["meh"]).item() == pytest.approx(0.0, abs=1e-6)


def test_multi_token_options_sum_their_log_probs():
    # options "1 1" and "2 2": log P = 2 (l - lse) each, so P(first) = sigma(2 b)
    j = LocalJudge(planted_policy({"1": 1.5}), JudgeSettings(template=TEMPLATE, options=("1 1", "2 2"), swap=False),
                   model_id="planted")
    assert j.prefer(["hi"], ["x"], ["y"]).item() == pytest.approx(sig(3.0), abs=1e-5)


def test_few_shot_examples_are_rendered_as_turns():
    j = judge(planted_policy({}), few_shot=[{"prompt": "hi", "a": "good", "b": "bad", "answer": 1}])
    req = j.pair_request(TEMPLATE, "hi", "x", "y")
    assert [m["role"] for m in req.messages] == ["user", "assistant", "user"]
    assert req.messages[1]["content"] == "1" and "first : good" in req.messages[0]["content"]
    text = j.policy.prompt_text(req.messages)
    assert text.startswith("<|user|>") and text.endswith("<|assistant|>")


def test_cache_hit_avoids_recomputation(tmp_path):
    policy = planted_policy({"1": 1.0}, pref=1.0)
    j = judge(policy, cache_dir=tmp_path)
    prompts, a, b = ["hi"] * 3, ["good answer", "bad answer", "meh"], ["bad answer", "good answer", "good answer"]
    first = j.judge_pairs(prompts, a, b)
    assert j.calls == 6 and not any(r.cached for r in first)  # 3 pairs x 2 orders
    again = judge(policy, cache_dir=tmp_path)                    # a new process: reads the file
    second = again.judge_pairs(prompts, a, b)
    assert again.calls == 0 and all(r.cached for r in second)
    assert [r.p_a for r in second] == [r.p_a for r in first]
    other = again.judge_pairs(prompts[:1], a[:1], b[:1], templates=["q : {prompt} first : {a} second : {b}"])
    assert again.calls == 2 and not other[0].cached            # another principle is another label
    changed = judge(policy, cache_dir=tmp_path, swap=False)      # other settings: another identity
    changed.judge_pairs(prompts[:1], a[:1], b[:1])
    assert changed.calls == 1
    assert again.score(["hi"], ["meh"]) is not None and judge(policy, cache_dir=tmp_path).score(["hi"], ["meh"]) is not None


def test_options_outside_the_vocabulary_are_an_error():
    j = LocalJudge(planted_policy({}), JudgeSettings(template=TEMPLATE, options=("yes", "no")), model_id="x")
    with pytest.raises(JudgeError, match="not in the judge model's vocabulary"):
        j.prefer(["hi"], ["a"], ["b"])


def test_config_defaults_come_from_the_world(tmp_path):
    class World:
        judge_template = TEMPLATE
        judge_options = ("1", "2")

    class FakeJob:
        world = World()
        policy = planted_policy({"1": 1.0})

        class train:
            cache_dir = str(tmp_path)

    j = build_judge(JudgeConfig(), FakeJob())
    assert isinstance(j, LocalJudge) and j.settings.template == TEMPLATE
    assert j.cache.path.parent == tmp_path / "labels"
    assert not any(p.requires_grad for p in j.policy.model.parameters())
    with pytest.raises(ValueError, match="backend http needs"):
        JudgeConfig(backend="http")


def test_labeler_alignment_against_gold_excludes_ties():
    from prefzoo.feedback.base import RuleFeedback

    class World:
        gold = RuleFeedback(lambda p, r: float("good" in r) - float("bad" in r))

    records = [{"prompt": "q", "chosen": "good", "rejected": "bad", "p_chosen": 0.9},
               {"prompt": "q", "chosen": "bad", "rejected": "good", "p_chosen": 0.7},
               {"prompt": "q", "chosen": "good", "rejected": "good !", "p_chosen": 0.8},   # gold tie
               {"prompt": "q", "chosen": "bad", "rejected": "good", "p_chosen": 0.5}]      # AI tie
    out = labeler_alignment(World(), records)
    assert out == {"agreement": 0.5, "n": 2, "ties_excluded": 2, "source": "gold"}
    assert labeler_alignment(None, records) is None


def test_label_cache_shards_per_process_and_reads_them_all(tmp_path, monkeypatch):
    """Process 1 writes its own file (never the main one); a cache opened later, by any process, reads
    every shard of its identity and nothing of another identity."""
    from prefzoo.feedback.cache import LabelCache

    identity = {"judge": "x", "template": "t"}
    monkeypatch.setenv("RANK", "1")
    worker = LabelCache(tmp_path, identity)
    worker.put("k1", {"p": 0.25})
    worker.close()
    monkeypatch.setenv("RANK", "0")
    main = LabelCache(tmp_path, identity)
    main.put("k0", {"p": 0.75})
    main.close()
    LabelCache(tmp_path, {"judge": "other"}).put("k2", {"p": 1.0})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert main.path.name in files and worker.path.name == main.path.name.replace(".jsonl", ".rank1.jsonl")
    again = LabelCache(tmp_path, identity)
    assert again.get("k0") == {"p": 0.75} and again.get("k1") == {"p": 0.25} and again.get("k2") is None
