"""The readable part of results.md: a headline table a reader looks for first (arm, gold reward with its
95% CI, the verdict against the base, win rate, KL, length, and held-out accuracy or judge win rate where
measured), then a glossary of every column with its direction. The wide table follows (``report.py``)."""
from __future__ import annotations

import math

HEADLINE = ("win_rate_vs_base", "heldout_accuracy", "judge_win_vs_base", "kl_to_base", "mean_length")

# columns that are not a metric's own, and what they mean
OTHER_COLUMNS = {
    "arm": "the arm's name (a sweep adds [key=value])",
    "seeds_ok": "seeds that finished / seeds run",
    "labeler_alignment": "share of the AI labels that agree with the world's gold preference (higher is better)",
    "labeler_alignment_n": "the non-tied pairs that agreement was measured on",
    "position_bias": "share of pairs where the judge picked the same slot in both orders (lower is better)",
    "rm_heldout_accuracy": "held-out pair accuracy of the reward model the arm trained (higher is better)",
    "wall_s": "seconds the arm took (train and evaluate), mean over seeds",
}


def _num(v) -> str:
    return "nan" if not isinstance(v, (int, float)) or math.isnan(v) else f"{v:.3f}"


def headline_lines(summary: list[dict]) -> list[str]:
    """The headline table (only the columns this comparison has)."""
    if not summary:
        return []
    has = [c for c in HEADLINE if any(c in r for r in summary)]
    gold = any("gold_reward_mean" in r for r in summary)
    head = ["arm"] + (["gold reward (95% CI)", "verdict"] if gold else []) + has
    lines = ["## Headline", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary:
        cells = [r["arm"]]
        if gold:
            cells += [f"{_num(r.get('gold_reward_mean'))} [{_num(r.get('gold_reward_ci_low'))}, "
                      f"{_num(r.get('gold_reward_ci_high'))}]", str(r.get("gold_reward_verdict", ""))]
        cells += [_num(r.get(c)) for c in has]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def glossary_lines(columns: list[str], metrics, world) -> list[str]:
    """One line per column of the wide table: what it is and which way is better."""
    about: dict[str, tuple[str, str]] = {}
    for m in metrics:
        directions = m.directions(world)
        for col in m.columns(world):
            about[col] = (m.description, directions.get(col, m.direction))
    out = ["## Glossary", ""]
    for col in columns:
        base = next((b for b in about if col in (b, f"{b}_mean")), None)
        if col in OTHER_COLUMNS:
            text = OTHER_COLUMNS[col]
        elif col.endswith("_verdict"):
            text = (f"{col[:-8]} against the base: better / worse when the 95% interval of arm minus base "
                    f"(paired by prompt and seed) excludes 0, else tie")
        elif col.endswith(("_ci_low", "_ci_high")):
            text = "the bound of the 95% bootstrap interval (seeds and prompts, crossed) of the column before it"
        elif base is not None:
            description, direction = about[base]
            text = description + (f" ({direction} is better)" if direction != "none" else "")
        else:
            continue
        out.append(f"- `{col}`: {text}")
    return out + [""]


__all__ = ["headline_lines", "glossary_lines"]
