"""Data layer: loaders, formats, validation errors, drops, converters. Fast; no network."""
from __future__ import annotations

import json

import datasets
import pytest

from prefzoo.data import (
    KINDS,
    DataError,
    DropReport,
    is_messages,
    load_records,
    message_text,
    pairs_to_sft,
    pairs_to_unpaired,
    records_from_list,
    to_prompts,
    validate,
)
from prefzoo.data import loaders

PAIRS_ROWS = [
    {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5", "category": "math"},
    {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No.", "category": "chat"},
    {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Rome", "category": "facts"},
]


def user(text):
    return [{"role": "user", "content": text}]


def assistant(text):
    return [{"role": "assistant", "content": text}]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ----------------------------------------------------------------------------- files


def test_load_jsonl_json_parquet_agree(tmp_path):
    jl = write_jsonl(tmp_path / "p.jsonl", PAIRS_ROWS)
    js = tmp_path / "p.json"
    js.write_text(json.dumps(PAIRS_ROWS))
    pq = tmp_path / "p.parquet"
    datasets.Dataset.from_list(PAIRS_ROWS).to_parquet(str(pq))
    for path in (jl, js, pq):
        ds, report = load_records(str(path), "pairs")
        assert ds.column_names == ["prompt", "chosen", "rejected", "category"], path
        assert ds[0] == PAIRS_ROWS[0]
        assert len(ds) == 3 and report.kept == 3 and report.total_dropped == 0
        assert "dropped none" in report.summary()


def test_json_wrapped_and_columnar_shapes(tmp_path):
    wrapped = tmp_path / "w.json"
    wrapped.write_text(json.dumps({"data": PAIRS_ROWS}))
    columnar = tmp_path / "c.json"
    columnar.write_text(json.dumps({k: [r[k] for r in PAIRS_ROWS] for k in PAIRS_ROWS[0]}))
    for path in (wrapped, columnar):
        ds, _ = load_records(path, "pairs")
        assert ds["chosen"][:] == ["4", "Hi!", "Paris"]


def test_extra_columns_not_kept_optional_kept(tmp_path):
    rows = [dict(r, id=i, notes="x") for i, r in enumerate(PAIRS_ROWS)]
    ds, _ = load_records(write_jsonl(tmp_path / "p.jsonl", rows), "pairs")
    assert set(ds.column_names) == {"prompt", "chosen", "rejected", "category", "id"}


def test_local_split_slice(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS_ROWS)
    ds, _ = load_records(path, "pairs", split="train[1:]")
    assert ds["prompt"][:] == ["Say hi", "Capital of France?"]
    with pytest.raises(DataError, match="split"):
        load_records(path, "pairs", split="test")


def test_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope" / "pairs.jsonl"
    with pytest.raises(DataError, match="file not found") as e:
        load_records(str(missing), "pairs")
    assert str(missing) in str(e.value)


def test_hub_id_goes_through_load_dataset(monkeypatch):
    calls = []

    def fake_load_dataset(repo_id, split=None):
        calls.append((repo_id, split))
        return datasets.Dataset.from_list(PAIRS_ROWS)

    monkeypatch.setattr(loaders.datasets, "load_dataset", fake_load_dataset)
    ds, _ = load_records("someone/prefs", "pairs", split="test")
    assert calls == [("someone/prefs", "test")] and len(ds) == 3


def test_hub_failure_is_a_clear_error(monkeypatch):
    def unreachable(repo_id, split=None):
        raise ConnectionError("offline")

    monkeypatch.setattr(loaders.datasets, "load_dataset", unreachable)
    with pytest.raises(DataError, match="someone/prefs.*could not load"):
        load_records("someone/prefs", "pairs")


def test_unknown_kind_lists_kinds():
    with pytest.raises(DataError) as e:
        records_from_list(PAIRS_ROWS, "pair")
    msg = str(e.value)
    assert all(k in msg for k in KINDS) and "did you mean 'pairs'" in msg


def test_unknown_format():
    with pytest.raises(DataError, match="formats are"):
        records_from_list(PAIRS_ROWS, "pairs", format="ultrafeedback")


# ----------------------------------------------------------------------------- formats


def test_trl_standard_explicit():
    ds, _ = records_from_list(PAIRS_ROWS, "pairs", format="standard")
    assert ds[1]["chosen"] == "Hi!"
    with pytest.raises(DataError, match="row 0, field 'prompt'.*'standard' expects plain text"):
        records_from_list([{"prompt": user("hi"), "chosen": "a", "rejected": "b"}], "pairs", format="standard")


def test_trl_conversational():
    rows = [
        {"prompt": user("What color is the sky?"), "chosen": assistant("Blue."), "rejected": assistant("Green.")},
        {"prompt": user("2+2?"), "chosen": assistant("4"), "rejected": assistant("22")},
    ]
    for fmt in ("auto", "conversational"):
        ds, _ = records_from_list(rows, "pairs", format=fmt)
        assert ds[0]["prompt"] == user("What color is the sky?")
        assert ds[0]["chosen"] == assistant("Blue.")
        assert is_messages(ds[1]["rejected"])


def test_trl_implicit_prompt_messages():
    convo = user("What color is the sky?")
    rows = [{"chosen": convo + assistant("Blue."), "rejected": convo + assistant("Green.")}]
    ds, _ = records_from_list(rows, "pairs")  # auto detects implicit
    assert ds.column_names[:3] == ["prompt", "chosen", "rejected"]
    assert ds[0]["prompt"] == convo
    assert ds[0]["chosen"] == assistant("Blue.") and ds[0]["rejected"] == assistant("Green.")


def test_trl_implicit_prompt_text():
    rows = [{"chosen": "The sky is blue.", "rejected": "The sky is bright green."}]
    ds, _ = records_from_list(rows, "pairs", format="implicit")
    assert ds[0] == {"prompt": "The sky is", "chosen": " blue.", "rejected": " bright green."}


def test_implicit_without_shared_prompt_is_an_error():
    rows = [{"chosen": user("a") + assistant("b"), "rejected": user("c") + assistant("d")}]
    with pytest.raises(DataError, match="row 0, field 'prompt': empty prompt"):
        records_from_list(rows, "pairs")


HH_CHOSEN = (
    "\n\nHuman: What is a good name for a cat?\n\nAssistant: How about Whiskers?"
    "\n\nHuman: Something shorter?\n\nAssistant:  Tom. "
)
HH_REJECTED = (
    "\n\nHuman: What is a good name for a cat?\n\nAssistant: How about Whiskers?"
    "\n\nHuman: Something shorter?\n\nAssistant: I don't care about cats."
)


def test_hh_transcript_split(tmp_path):
    rows = [{"chosen": HH_CHOSEN, "rejected": HH_REJECTED}, {"chosen": HH_CHOSEN, "rejected": HH_CHOSEN}]
    path = write_jsonl(tmp_path / "hh.jsonl", rows)
    for fmt in ("auto", "hh"):
        ds, report = load_records(path, "pairs", format=fmt)
        assert ds[0]["prompt"] == (
            "\n\nHuman: What is a good name for a cat?\n\nAssistant: How about Whiskers?"
            "\n\nHuman: Something shorter?\n\nAssistant:"
        )
        assert ds[0]["chosen"] == "Tom."
        assert ds[0]["rejected"] == "I don't care about cats."
        assert len(ds) == 1 and report.dropped == {"chosen identical to rejected": [1]}


def test_hh_split_when_responses_share_a_start():
    # The responses share "I " — the split must still land after the last shared Assistant tag.
    c = "\n\nHuman: hi\n\nAssistant: I like it"
    r = "\n\nHuman: hi\n\nAssistant: I hate it"
    ds, _ = records_from_list([{"chosen": c, "rejected": r}], "pairs", format="hh")
    assert ds[0] == {"prompt": "\n\nHuman: hi\n\nAssistant:", "chosen": "I like it", "rejected": "I hate it"}


def test_hh_without_assistant_turn_is_an_error():
    with pytest.raises(DataError, match="row 0, field 'chosen'.*Assistant"):
        records_from_list([{"chosen": "Human: a", "rejected": "Human: b"}], "pairs", format="hh")


def test_other_kinds_from_preference_file(tmp_path):
    path = write_jsonl(tmp_path / "hh.jsonl", [{"chosen": HH_CHOSEN, "rejected": HH_REJECTED}])
    sft, _ = load_records(path, "sft")
    assert sft.column_names == ["prompt", "completion"] and sft[0]["completion"] == "Tom."
    unpaired, report = load_records(path, "unpaired")
    assert unpaired["label"][:] == [True, False] and report.kept == 2
    prompts, _ = load_records(path, "prompts")
    assert prompts.column_names == ["prompt"] and prompts[0]["prompt"].endswith("\n\nAssistant:")


def test_sft_from_messages_column():
    msgs = [{"role": "system", "content": "Be brief."}] + user("hi") + assistant("Hello.")
    ds, _ = records_from_list([{"messages": msgs}], "sft")
    assert ds[0]["prompt"] == msgs[:2] and ds[0]["completion"] == assistant("Hello.")


# ----------------------------------------------------------------------------- validation errors


def test_missing_column_names_column_kind_and_present(tmp_path):
    path = write_jsonl(tmp_path / "u.jsonl", [{"prompt": "p", "completion": "c"}])
    with pytest.raises(DataError) as e:
        load_records(path, "unpaired")
    msg = str(e.value)
    assert "'label'" in msg and "'unpaired'" in msg
    assert "present: ['prompt', 'completion']" in msg and "required ['prompt', 'completion', 'label']" in msg


def test_wrong_type_names_row_and_field(tmp_path):
    rows = [dict(r) for r in PAIRS_ROWS] + [{"prompt": "x", "chosen": 7, "rejected": "y"}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(DataError) as e:
        load_records(path, "pairs")
    assert "row 3, field 'chosen': expected str or list of messages, got int" in str(e.value)
    assert str(path) in str(e.value)


def test_bad_message_and_mixed_forms():
    with pytest.raises(DataError, match=r"row 0, field 'prompt'.*message 0 has no 'content'"):
        records_from_list([{"prompt": [{"role": "user"}], "chosen": "a", "rejected": "b"}], "pairs")
    rows = [
        {"prompt": "a", "chosen": "x", "rejected": "y"},
        {"prompt": user("b"), "chosen": "x", "rejected": "y"},
    ]
    with pytest.raises(DataError, match="row 1, field 'prompt'.*row 0 is plain text"):
        records_from_list(rows, "pairs")


def test_empty_completion_is_an_error():
    for bad in ("", "   ", []):
        with pytest.raises(DataError, match="row 1, field 'rejected': empty completion"):
            records_from_list([PAIRS_ROWS[0], {"prompt": "p", "chosen": "ok", "rejected": bad}], "pairs")
    with pytest.raises(DataError, match="row 0, field 'completion': empty completion"):
        records_from_list([{"prompt": "p", "completion": assistant(" ")}], "sft")


def test_p_chosen_range_and_type():
    with pytest.raises(DataError, match=r"row 1, field 'p_chosen': p_chosen must be in \[0, 1\], got 1.5"):
        records_from_list([dict(PAIRS_ROWS[0], p_chosen=0.7), dict(PAIRS_ROWS[1], p_chosen=1.5)], "pairs")
    with pytest.raises(DataError, match="row 0, field 'p_chosen': expected a number"):
        records_from_list([dict(PAIRS_ROWS[0], p_chosen="high")], "pairs")
    ds, _ = records_from_list([dict(PAIRS_ROWS[0], p_chosen=1)], "pairs")
    assert ds[0]["p_chosen"] == 1.0


def test_optional_column_type_must_be_consistent():
    rows = [dict(PAIRS_ROWS[0], id=1), dict(PAIRS_ROWS[1], id="b")]
    with pytest.raises(DataError, match="row 1, field 'id': is str but row 0 is int"):
        records_from_list(rows, "pairs")


def test_label_must_be_bool():
    with pytest.raises(DataError, match="row 0, field 'label': expected bool"):
        records_from_list([{"prompt": "p", "completion": "c", "label": "yes"}], "unpaired")


def test_all_errors_are_listed():
    rows = [{"prompt": "p", "chosen": i, "rejected": "r"} for i in range(3)]
    with pytest.raises(DataError) as e:
        records_from_list(rows, "pairs")
    assert "3 problems" in str(e.value) and len(e.value.errors) == 3


# ----------------------------------------------------------------------------- drops


def test_identical_pairs_dropped_and_counted(tmp_path):
    rows = [dict(r) for r in PAIRS_ROWS]
    rows.insert(1, {"prompt": "dup", "chosen": "same", "rejected": "same"})
    rows.append({"prompt": "dup2", "chosen": "s", "rejected": "s"})
    ds, report = load_records(write_jsonl(tmp_path / "p.jsonl", rows), "pairs")
    assert len(ds) == 3 and "dup" not in ds["prompt"][:]
    assert isinstance(report, DropReport)
    assert report.kept == 3 and report.total_dropped == 2
    assert report.dropped == {"chosen identical to rejected": [1, 4]}
    assert "2 chosen identical to rejected" in report.summary() and "kept 3" in report.summary()
    assert report.as_dict() == {"kept": 3, "dropped": {"chosen identical to rejected": 2}}


def test_identical_message_pairs_dropped():
    rows = [
        {"prompt": user("a"), "chosen": assistant("x"), "rejected": assistant("y")},
        {"prompt": user("b"), "chosen": assistant("s"), "rejected": assistant("s")},
    ]
    ds, report = records_from_list(rows, "pairs")
    assert len(ds) == 1 and report.dropped == {"chosen identical to rejected": [1]}


def test_all_rows_dropped_is_an_error():
    with pytest.raises(DataError, match="no rows left"):
        records_from_list([{"prompt": "p", "chosen": "a", "rejected": "a"}], "pairs")


def test_validate_dataset():
    ds = datasets.Dataset.from_list(PAIRS_ROWS + [{"prompt": "p", "chosen": "a", "rejected": "a", "category": "x"}])
    out, report = validate(ds, "pairs")
    assert len(out) == 3 and report.dropped == {"chosen identical to rejected": [3]}
    with pytest.raises(DataError, match="missing column 'completion' for kind 'sft'"):
        validate(ds, "sft")


# ----------------------------------------------------------------------------- converters & helpers


def test_pairs_to_unpaired_and_soft_labels():
    rows = [dict(PAIRS_ROWS[0], p_chosen=0.9), dict(PAIRS_ROWS[1], p_chosen=0.2)]
    pairs, _ = records_from_list(rows, "pairs")
    un = pairs_to_unpaired(pairs)
    assert un.column_names == ["prompt", "completion", "label", "category"]
    assert un["completion"][:] == ["4", "5", "Hi!", "No."]
    assert un["label"][:] == [True, False, False, True]
    hard, _ = records_from_list(PAIRS_ROWS, "pairs")
    assert pairs_to_unpaired(hard)["label"][:] == [True, False] * 3
    validate(un, "unpaired")  # the output is a valid record set of its kind


def test_pairs_to_sft_and_to_prompts():
    rows = [dict(PAIRS_ROWS[0], p_chosen=0.9), dict(PAIRS_ROWS[1], p_chosen=0.2)]
    pairs, _ = records_from_list(rows, "pairs")
    sft = pairs_to_sft(pairs)
    assert sft.column_names == ["prompt", "completion", "category"]
    assert sft["completion"][:] == ["4", "No."]  # p_chosen < 0.5: rejected is the preferred one
    plain, _ = records_from_list(PAIRS_ROWS, "pairs")
    assert pairs_to_sft(plain)["completion"][:] == ["4", "Hi!", "Paris"]
    prompts = to_prompts(pairs_to_unpaired(plain))
    assert prompts.column_names == ["prompt", "category"] and len(prompts) == 6
    assert to_prompts(pairs_to_unpaired(plain), unique=True)["prompt"][:] == [r["prompt"] for r in PAIRS_ROWS]
    with pytest.raises(DataError, match="missing column"):
        pairs_to_unpaired(sft)


def test_is_messages_and_message_text():
    msgs = user("Hi") + assistant("Hello")
    assert is_messages(msgs) and not is_messages("Hi") and not is_messages([]) and not is_messages([{"role": "user"}])
    assert message_text("plain") == "plain"
    assert message_text(assistant("Hello")) == "Hello"
    assert message_text(msgs, roles=True) == "user: Hi\n\nassistant: Hello"
