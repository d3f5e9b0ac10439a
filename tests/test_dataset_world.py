"""world: dataset (issue 12): the seeded prompt-hash split, the label budget, the reference gold, held-out
pair accuracy, and a reward-model gold that reads text with its own tokenizer."""
from __future__ import annotations

import json
import math

import pytest
import torch

from prefzoo.worlds.dataset import DatasetWorld, DataSource, in_test, prompt_text, token_f1

ROWS = [{"prompt": f"question {i} about colors ?", "chosen": f"the answer {i} is blue .",
         "rejected": "i do not know .", "category": "helpful" if i % 2 else "harmless"} for i in range(60)]


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = ROWS + [dict(ROWS[0], chosen="blue .", rejected="no idea .")]  # a second pair for prompt 0
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_split_by_prompt_hash_never_leaks_a_prompt(data_file):
    w = DatasetWorld(DataSource(path=str(data_file), test_fraction=0.3, seed=1))
    train = {prompt_text(r["prompt"]) for r in w.train_pairs}
    test = {prompt_text(r["prompt"]) for r in w.test_pairs}
    assert train and test and not train & test
    assert len(w.train_pairs) + len(w.test_pairs) == 61
    assert 0.1 < len(test) / 60 < 0.5  # about the fraction asked for
    # the split is a function of (seed, prompt): the same every time, another seed another split
    assert all(in_test(r["prompt"], 0.3, 1) for r in w.test_pairs)
    again = DatasetWorld(DataSource(path=str(data_file), test_fraction=0.3, seed=1))
    assert again.test_pairs == w.test_pairs
    other = DatasetWorld(DataSource(path=str(data_file), test_fraction=0.3, seed=2))
    assert other.test_pairs != w.test_pairs
    ev = w.prompts("eval", None, 0)
    assert {prompt_text(r["prompt"]) for r in ev} == test and w.prompts("eval", None, 5) == ev
    assert {prompt_text(r["prompt"]) for r in w.prompts("train", None, 0)} == train


def test_a_separate_test_file_drops_train_pairs_on_its_prompts(data_file, tmp_path):
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:5]))
    w = DatasetWorld(DataSource(path=str(data_file), test_path=str(test)))
    assert len(w.test_pairs) == 5 and len(w.train_pairs) == 61 - 6  # prompt 0 has two pairs
    assert w.report.dropped["prompt also in the test set"] == [0, 1, 2, 3, 4, 60]


def test_label_budget_is_a_seeded_subsample_of_the_train_pairs(data_file):
    w = DatasetWorld(DataSource(path=str(data_file), test_fraction=0.3))
    everything = w.human_pairs(None, 0)
    assert everything == [dict(r) for r in w.train_pairs]
    ten = w.human_pairs(10, 0)
    assert len(ten) == 10 and all(r in everything for r in ten)
    assert w.human_pairs(10, 0) == ten and w.human_pairs(10, 1) != ten
    assert w.human_pairs(10_000, 0) == everything


def test_reference_gold_by_hand(data_file):
    """Prompt 0 has pairs (chosen 'the answer 0 is blue .', rejected 'i do not know .') and ('blue .',
    'no idea .'). For 'blue': F1 with 'the answer 0 is blue' = 2 * (1/1 * 1/5) / (1 + 1/5) = 1/3, with
    'i do not know' 0; with 'blue' 1, with 'no idea' 0. Mean over the two pairs: (1/3 + 1) / 2 = 2/3."""
    assert token_f1("blue", "the answer 0 is blue .") == pytest.approx(1 / 3)
    w = DatasetWorld(DataSource(path=str(data_file), test_fraction=0.3))
    row = {"prompt": ROWS[0]["prompt"], "category": "harmless"}
    assert w.gold.score([row], ["blue"]).item() == pytest.approx(2 / 3)
    assert w.gold.score([ROWS[0]["prompt"]], ["i do not know"]).item() == pytest.approx(-0.5)
    assert w.gold_preference(row, "blue", "blue") == 0.5 and w.gold_preference(row, "blue", "no") > 0.5


def test_the_bundled_set_loads_without_a_data_block():
    w = DatasetWorld()
    assert len(w.train_pairs) >= 100 and w.test_pairs and set(w.categories) >= {"harmful", "benign"}


def test_heldout_accuracy_by_construction(data_file):
    """A policy trained towards the chosen replies ranks them above the rejected more often than chance
    against the base; the base against itself ties everywhere (1/2)."""
    from prefzoo.eval.evaluator import EvalConfig, evaluate
    from prefzoo.testing import tiny_policy

    w = DatasetWorld(DataSource(path=str(data_file), test_fraction=0.3))
    base = tiny_policy(ROWS + [{"prompt": "x", "completion": "blue no idea ."}], max_length=48)
    rows = w.prompts("eval", None, 0)
    cfg = EvalConfig(prompts=len(rows), max_new_tokens=4, metrics=["heldout_accuracy"])
    assert evaluate(base, base, w, rows, cfg).values["heldout_accuracy"] == 0.5
    trained = base.clone()
    opt = torch.optim.Adam(trained.model.parameters(), lr=3e-3)
    enc = [(trained.encode_prompt(r["prompt"]), trained.encode_completion(r["chosen"])) for r in w.train_pairs]
    for _ in range(30):  # SFT on the train pairs' chosen replies
        seqs = trained.sequences([p for p, _ in enc], [c for _, c in enc])
        loss = -trained.forward_logps(seqs).sum() / seqs.loss_mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ev = evaluate(trained, base, w, rows, cfg)
    assert ev.values["heldout_accuracy"] > 0.9
    assert [p["heldout_accuracy"] for p in ev.per_prompt] and all(0 <= p["heldout_accuracy"] <= 1 for p in ev.per_prompt)


def test_reward_model_gold_reads_text_with_its_own_tokenizer(tmp_path):
    """A sequence-classification model with a vocabulary unlike the policy's: the gold tokenizes the
    response itself (its ids would be nonsense in the policy's vocabulary) and returns one score per pair."""
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from prefzoo.feedback.spec import build_feedback
    from prefzoo.models.tiny import word_tokenizer
    from prefzoo.testing import tiny_policy

    words = ["zebra", "quartz", "blue", "sky", "the", "is", "?", "."]
    tok = word_tokenizer(words)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForSequenceClassification(cfg).save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    policy = tiny_policy([{"prompt": "what color is the sky ?", "completion": "the sky is blue ."}])
    assert policy.tokenizer.get_vocab() != tok.get_vocab()

    class Job:
        recipe_dir = tmp_path
        world = None

    gold = build_feedback("reward-model:rm", Job(), role="gold")
    scores = gold.score(["what color is the sky ?"] * 2, ["the sky is blue .", "zebra quartz"])
    assert scores.shape == (2,) and all(math.isfinite(x) for x in scores.tolist())
    assert scores[0] != scores[1]
    text = gold.text("what color is the sky ?", "the sky is blue .")
    assert "the sky is blue ." in text  # rendered with the reward model's own chat template
    ids = gold.tokenizer(text, add_special_tokens=False).input_ids
    assert all(i < len(tok) for i in ids)


def test_a_stand_in_base_is_built_from_both_replies(data_file, tmp_path):
    w = DatasetWorld(DataSource(path=str(data_file), test_fraction=0.3))
    policy, info = w.build_base({"epochs": 1}, tmp_path / "cache", log=lambda *_: None)
    assert info == {"stand_in": True, "sft_records": 2 * len(w.train_pairs)}
    assert len(policy.generate([ROWS[0]["prompt"]], max_new_tokens=3)) == 1
