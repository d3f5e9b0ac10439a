"""Record kinds, loaders, validation and converters.

>>> ds, report = load_records("pairs.jsonl", "pairs")        # or a hub id, Parquet, HH, TRL formats
>>> print(report.summary())                                  # what was dropped, and why
"""
from .loaders import (
    FORMATS,
    load_records,
    pairs_to_sft,
    pairs_to_unpaired,
    records_from_list,
    split_hh,
    split_shared_prefix,
    to_prompts,
)
from .records import (
    KINDS,
    OPTIONAL_COLUMNS,
    PAIRS,
    PROMPTS,
    REQUIRED_COLUMNS,
    SFT,
    UNPAIRED,
    DropReport,
)
from .validate import IDENTICAL, DataError, is_messages, message_text, validate

__all__ = [
    "DataError",
    "DropReport",
    "FORMATS",
    "IDENTICAL",
    "KINDS",
    "OPTIONAL_COLUMNS",
    "PAIRS",
    "PROMPTS",
    "REQUIRED_COLUMNS",
    "SFT",
    "UNPAIRED",
    "is_messages",
    "load_records",
    "message_text",
    "pairs_to_sft",
    "pairs_to_unpaired",
    "records_from_list",
    "split_hh",
    "split_shared_prefix",
    "to_prompts",
    "validate",
]
