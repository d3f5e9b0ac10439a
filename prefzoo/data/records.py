"""Record kinds: the column contracts every loader produces and every loop consumes.

A record set is a plain ``datasets.Dataset`` whose columns follow one of the kinds below.
Prompts may be plain text (``str``) or chat messages (``list[{"role", "content"}]``);
completions may be plain text or a list of assistant messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PROMPTS = "prompts"    # prompt
PAIRS = "pairs"        # prompt, chosen, rejected, optional p_chosen (soft label in [0, 1])
UNPAIRED = "unpaired"  # prompt, completion, label (bool: desirable or not)
SFT = "sft"            # prompt, completion

KINDS = (PROMPTS, PAIRS, UNPAIRED, SFT)

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    PROMPTS: ("prompt",),
    PAIRS: ("prompt", "chosen", "rejected"),
    UNPAIRED: ("prompt", "completion", "label"),
    SFT: ("prompt", "completion"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    PROMPTS: ("category", "id"),
    PAIRS: ("p_chosen", "category", "id"),
    UNPAIRED: ("category", "id"),
    SFT: ("category", "id"),
}


@dataclass
class DropReport:
    """Rows removed from a record set and why. Nothing is ever dropped without landing here."""

    kept: int = 0
    dropped: dict[str, list[int]] = field(default_factory=dict)  # reason -> row indices

    def drop(self, reason: str, row: int) -> None:
        self.dropped.setdefault(reason, []).append(row)

    @property
    def total_dropped(self) -> int:
        return sum(len(v) for v in self.dropped.values())

    def summary(self) -> str:
        if not self.dropped:
            return f"kept {self.kept} rows, dropped none"
        parts = []
        for reason, rows in self.dropped.items():
            head = ", ".join(str(r) for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
            parts.append(f"{len(rows)} {reason} (rows {head})")
        return f"kept {self.kept} rows, dropped {self.total_dropped}: " + "; ".join(parts)

    def as_dict(self) -> dict:
        return {"kept": self.kept, "dropped": {k: len(v) for k, v in self.dropped.items()}}
