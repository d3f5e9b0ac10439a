"""Input hazards of issue 13 (items 8-10): chat roles, zero-signal pairs after tokenization, truncation
counted, the implicit-prompt split at a word boundary, and a partly present p_chosen column."""
from __future__ import annotations

import pytest

from prefzoo.data import DataError, records_from_list, split_shared_prefix
from prefzoo.models.policy import COMPLETION_TRUNCATED, IDENTICAL_AFTER_TOKENIZING
from prefzoo.testing import tiny_policy

USER = [{"role": "user", "content": "color of the sea ?"}]


def test_a_completion_with_a_user_message_is_an_error_naming_row_and_field():
    rows = [{"prompt": USER, "chosen": [{"role": "assistant", "content": "blue ."}],
             "rejected": [{"role": "user", "content": "no ."}]}]
    with pytest.raises(DataError, match=r"row 0, field 'rejected'.*role 'user'; a completion holds assistant"):
        records_from_list(rows, "pairs")


def test_an_unknown_role_is_an_error():
    rows = [{"prompt": [{"role": "robot", "content": "hi"}], "completion": [{"role": "assistant", "content": "x"}]}]
    with pytest.raises(DataError, match=r"row 0, field 'prompt'.*role 'robot'; roles are system, user"):
        records_from_list(rows, "sft")


def test_pairs_identical_after_tokenization_are_dropped_and_truncation_is_counted():
    """The word-level tiny tokenizer ignores runs of spaces, so 'the sea  is blue' and 'the sea is blue' are
    the same tokens: a zero-signal pair, dropped and counted. Lengths (prompt with its chat template, chosen
    and rejected with EOS): 7+6/6, 7+3/3, 4+11/3; with max_length 14 only the last chosen (15) is cut: kept,
    and counted under ``noted``."""
    rows = [{"prompt": "color of the sea ?", "chosen": "the sea  is blue .", "rejected": "the sea is blue ."},
            {"prompt": "color of the sun ?", "chosen": "yellow .", "rejected": "blue ."},
            {"prompt": "color ?", "chosen": "the sea is blue and the sky is blue .", "rejected": "no ."}]
    ds, report = records_from_list(rows, "pairs")
    assert report.total_dropped == 0  # the texts differ, so validation keeps the pair
    policy = tiny_policy(rows, max_length=14)
    encoded, enc_report = policy.encode(ds, "pairs")
    assert [e.index for e in encoded] == [1, 2]
    assert enc_report.dropped == {IDENTICAL_AFTER_TOKENIZING: [0]}
    assert enc_report.noted == {COMPLETION_TRUNCATED: [2]}
    assert enc_report.as_dict() == {"kept": 2, "dropped": {IDENTICAL_AFTER_TOKENIZING: 1},
                                    "noted": {COMPLETION_TRUNCATED: 1}}
    assert "of the kept rows, 1 completion truncated" in enc_report.summary()


def test_implicit_prompt_split_never_cuts_inside_a_word():
    assert split_shared_prefix("the cat sat", "that dog ran") == ("", "the cat sat", "that dog ran")
    assert split_shared_prefix("Q: sky? the blue", "Q: sky? that red") == ("Q: sky?", " the blue", " that red")


def test_a_partly_present_p_chosen_column_reports_the_real_bad_value():
    rows = [{"prompt": "a", "chosen": "b", "rejected": "c", "p_chosen": 0.7},
            {"prompt": "d", "chosen": "e", "rejected": "f"},
            {"prompt": "g", "chosen": "h", "rejected": "i", "p_chosen": 1.5}]
    with pytest.raises(DataError, match=r"row 2, field 'p_chosen': p_chosen must be in \[0, 1\], got 1.5"):
        records_from_list(rows, "pairs")
    ds, _ = records_from_list(rows[:2], "pairs")
    assert ds["p_chosen"] == [0.7, 1.0]  # the row without a soft label is a hard label


@pytest.mark.parametrize("name,content,message", [
    ("bad.jsonl", b'{"prompt": "a", "chosen": "b\xff", "rejected": "c"}\n',
     r"bad.jsonl: line 1: not UTF-8 text \(byte 0xff at column 29\)"),
    ("second.jsonl", b'{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "\xe9"}\n',
     r"second.jsonl: line 2: not UTF-8"),
    ("bad.json", b'[{"prompt": "\xfe"}]', r"bad.json: line 1: not UTF-8"),
    ("corrupt.jsonl.gz", b"garbage", r"corrupt.jsonl.gz: not a readable gzip file"),
    ("empty.jsonl", b"", r"empty.jsonl: the file is empty"),
    ("blank.json", b"\n\n  \n", r"blank.json: the file is empty"),
])
def test_unreadable_files_are_one_clear_error(tmp_path, name, content, message):
    from prefzoo.data import load_records

    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_records(str(tmp_path / name), "pairs")
