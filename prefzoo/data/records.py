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
    noted: dict[str, list[int]] = field(default_factory=dict)    # kept, but changed (e.g. truncated): reason -> rows

    def drop(self, reason: str, row: int) -> None:
        self.dropped.setdefault(reason, []).append(row)

    def note(self, reason: str, row: int) -> None:
        self.noted.setdefault(reason, []).append(row)

    @property
    def total_dropped(self) -> int:
        return sum(len(v) for v in self.dropped.values())

    def summary(self) -> str:
        text = f"kept {self.kept} rows, dropped " + (
            f"{self.total_dropped}: " + _listing(self.dropped) if self.dropped else "none")
        return text + (f"; of the kept rows, {_listing(self.noted)}" if self.noted else "")

    def as_dict(self) -> dict:
        out = {"kept": self.kept, "dropped": {k: len(v) for k, v in self.dropped.items()}}
        if self.noted:
            out["noted"] = {k: len(v) for k, v in self.noted.items()}
        return out


def _listing(by_reason: dict[str, list[int]]) -> str:
    parts = []
    for reason, rows in by_reason.items():
        head = ", ".join(str(r) for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
        parts.append(f"{len(rows)} {reason} (rows {head})")
    return "; ".join(parts)
