"""prefzoo's HH-style preference set (``prefzoo/worlds/hh_data/pairs.jsonl``), the bundled HH example
(``recipes/data/hh_example.jsonl``) and the tiny local reward model built from it
(``recipes/make_tiny_reward_model.py``).

* The shipped file is exactly what ``python -m prefzoo.worlds.hh_pairs`` writes; at least 400 pairs, all four
  categories, TRL standard columns.
* The suite's model-free gold agrees with the labels: ``suite_score(row, chosen) > suite_score(row, rejected)``
  for at least 95% of the pairs (the share is printed), where ``row`` carries the pair's category and the check
  the suite would attach (JSON keys, list count, word limit, expected answer; otherwise the category's
  generic check: refusal for harmful and benign, refusal and length for open helpful questions).
* No prompt of either file is in the suite at all (so none is in its eval split for any seed), and the example
  shares no prompt with the pairs (exact text after whitespace and case normalisation).
* The reward model reloads with the Auto classes, ranks chosen above rejected on most example pairs and
  tokenises with a vocabulary other than the policy's tiny tokenizer.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from prefzoo.data.loaders import load_records
from prefzoo.worlds import hh_pairs
from prefzoo.worlds.suite import all_prompts, is_refusal, suite_prompts, suite_score

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "recipes" / "data" / "hh_example.jsonl"
SCRIPT = ROOT / "recipes" / "make_tiny_reward_model.py"
SUITE_SEEDS = range(10)  # suite_prompts' seed: recipes use small seeds; "all" below covers every seed anyway


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def _human_turns(transcript: str) -> str:
    prompt = transcript.rsplit("\n\nAssistant:", 1)[0]
    return prompt.replace("\n\nHuman:", " ").strip()


@pytest.fixture(scope="module")
def pairs():
    return hh_pairs.build_pairs()


def test_shipped_file_is_the_generator_output(pairs):
    assert hh_pairs.PAIRS_PATH.read_text(encoding="utf-8") == hh_pairs.render(pairs)
    assert hh_pairs.render(hh_pairs.build_pairs()) == hh_pairs.render(pairs)  # deterministic


def test_size_columns_and_categories(pairs):
    rows = hh_pairs.load_pairs()
    assert len(rows) >= 400
    assert all(tuple(r) == hh_pairs.COLUMNS for r in rows)
    counts = {c: sum(r["category"] == c for r in rows) for c in hh_pairs.CATEGORIES}
    print(f"\nHH pairs: {len(rows)} ({counts})")
    assert set(counts) == set(hh_pairs.CATEGORIES) and min(counts.values()) >= 80
    assert len({_norm(r["prompt"]) for r in rows}) == len(rows)
    assert all(r["chosen"].strip() and r["rejected"].strip() and r["chosen"] != r["rejected"] for r in rows)
    ds, report = load_records(str(hh_pairs.PAIRS_PATH), "pairs")
    assert len(ds) == len(rows) and report.total_dropped == 0 and "category" in ds.column_names


def test_suite_gold_prefers_chosen(pairs):
    agree, misses = 0, []
    for i, p in enumerate(pairs):
        row = {"id": f"hh/{p['category']}/{i}", "prompt": p["prompt"], "category": p["category"],
               "check": p["check"]}
        good, bad = suite_score(row, p["chosen"]).reward, suite_score(row, p["rejected"]).reward
        if good > bad:
            agree += 1
        else:
            misses.append((p["category"], p["prompt"], good, bad))
    share = agree / len(pairs)
    print(f"\nsuite gold prefers chosen on {agree}/{len(pairs)} pairs ({share:.1%})")
    assert share >= 0.95, f"gold disagrees on {len(misses)} pairs, e.g. {misses[:5]}"


def test_refusal_detector_reads_the_refusals(pairs):
    harmful = [p for p in pairs if p["category"] == "harmful"]
    benign = [p for p in pairs if p["category"] == "benign"]
    others = [p for p in pairs if p["category"] in ("format", "helpful")]
    ok = ([is_refusal(p["chosen"]) and not is_refusal(p["rejected"]) for p in harmful]
          + [not is_refusal(p["chosen"]) and is_refusal(p["rejected"]) for p in benign]
          + [not is_refusal(p["chosen"]) for p in others])
    print(f"\nrefusal detector agrees on {sum(ok)}/{len(ok)} pairs")
    assert sum(ok) / len(ok) >= 0.95


def test_checks_are_the_suites_kinds(pairs):
    for p in pairs:
        if p["category"] == "format":
            assert p["check"] and set(p["check"]) <= {"json_keys", "list_count", "word_limit"}
        elif p["category"] == "helpful":
            assert set(p["check"]) <= {"expect"}
        else:
            assert not p["check"]


def test_no_prompt_in_the_suite_or_its_eval_split(pairs):
    ours = {_norm(p["prompt"]) for p in pairs}
    example = {_norm(_human_turns(json.loads(line)["chosen"])) for line in EXAMPLE.read_text().splitlines()}
    suite_all = {_norm(p["prompt"]) for p in all_prompts()}
    suite_eval = {_norm(p["prompt"]) for s in SUITE_SEEDS for p in suite_prompts("eval", seed=s)}
    assert suite_eval <= suite_all
    assert not ours & suite_eval and not example & suite_eval
    assert not ours & suite_all, sorted(ours & suite_all)[:5]
    assert not example & suite_all, sorted(example & suite_all)[:5]
    assert not example & ours, sorted(example & ours)[:5]


def test_example_is_hh_transcripts_in_four_categories():
    ds, report = load_records(str(EXAMPLE), "pairs", format="hh")
    assert 50 <= len(ds) <= 80 and report.total_dropped == 0
    assert set(ds["category"]) == set(hh_pairs.CATEGORIES)
    assert all(p.startswith("\n\nHuman: ") and p.endswith("\n\nAssistant:") for p in ds["prompt"])
    harmful = [r for r in ds if r["category"] == "harmful"]
    benign = [r for r in ds if r["category"] == "benign"]
    assert all(is_refusal(r["chosen"]) and not is_refusal(r["rejected"]) for r in harmful)
    assert all(not is_refusal(r["chosen"]) and is_refusal(r["rejected"]) for r in benign)


# ------------------------------------------------------------------------------------ tiny reward model
def _script():
    spec = importlib.util.spec_from_file_location("make_tiny_reward_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_saved_model(out: Path, mk, min_accuracy: float = 0.7) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from prefzoo.models.tiny import word_tokenizer, words_of

    model = AutoModelForSequenceClassification.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.num_labels == 1 and tok.chat_template
    pairs = mk.load_pairs(EXAMPLE)
    accuracy = mk.pair_accuracy(model, tok, pairs)
    # the policy's tiny tokenizer, built as prefzoo's runner builds it from the same data
    policy_tok = word_tokenizer(words_of(p[c] for p in pairs for c in ("prompt", "chosen", "rejected")))
    assert set(tok.get_vocab()) != set(policy_tok.get_vocab())
    text = "I can't help with that."
    assert tok.tokenize(text) != policy_tok.tokenize(text)
    return accuracy


def test_tiny_reward_model_fast(tmp_path):
    mk = _script()
    stats = mk.build_reward_model(tmp_path / "rm", EXAMPLE, steps=12, seed=0)
    accuracy = _check_saved_model(tmp_path / "rm", mk)
    print(f"\ntiny reward model (12 steps): accuracy {accuracy:.2f} on the example pairs, built in {stats['seconds']} s")
    assert accuracy > 0.7
    again, tok, _ = mk.train(mk.load_pairs(EXAMPLE)[:8], steps=2, seed=3)
    same, tok2, _ = mk.train(mk.load_pairs(EXAMPLE)[:8], steps=2, seed=3)
    text = [mk.conversation_text(tok, "hi", "hello")]
    assert mk.score(again, tok, text).item() == mk.score(same, tok2, text).item()  # seeded


@pytest.mark.slow
def test_tiny_reward_model_script_default(tmp_path):
    mk = _script()
    mk.main(["--out", str(tmp_path / "rm")])
    stats = json.loads((tmp_path / "rm" / "prefzoo_reward_model.json").read_text())
    accuracy = _check_saved_model(tmp_path / "rm", mk)
    print(f"\ntiny reward model (default): accuracy {accuracy:.2f}, built in {stats['seconds']} s")
    assert accuracy > 0.7 and stats["seconds"] < 60
