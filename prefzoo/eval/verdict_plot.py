"""plots/verdicts.png: one cell per arm and metric, coloured by the verdict against the base (better / tie /
worse), with the arm-minus-base difference written in it: where each arm helps and where it hurts, at a glance."""
from __future__ import annotations

import math
from pathlib import Path

COLOURS = {"better": "#2e7d32", "tie": "#bdbdbd", "worse": "#c62828"}


def plot_verdicts(out: Path, summary: list[dict]) -> Path | None:
    """The verdict grid of every ``<col>_verdict`` column in ``summary`` (None when there is none)."""
    cols = sorted({k[: -len("_verdict")] for r in summary for k in r if k.endswith("_verdict")})
    arms = [r for r in summary if any(r.get(f"{c}_verdict") not in (None, "", "base") for c in cols)]
    if not cols or not arms:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(1.3 * len(cols) + 2.5, 0.45 * len(arms) + 1.6))
    for i, r in enumerate(arms):
        for j, c in enumerate(cols):
            verdict = r.get(f"{c}_verdict") or "n/a"
            ax.add_patch(plt.Rectangle((j, i), 1, 1, color=COLOURS.get(verdict, "white"), ec="white"))
            diff = r.get(f"{c}_vs_base")
            if isinstance(diff, (int, float)) and not math.isnan(diff):
                ax.text(j + 0.5, i + 0.5, f"{diff:+.2f}", ha="center", va="center", fontsize=7)
    ax.set_xlim(0, len(cols))
    ax.set_ylim(len(arms), 0)
    ax.set_xticks([j + 0.5 for j in range(len(cols))])
    ax.set_xticklabels(cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks([i + 0.5 for i in range(len(arms))])
    ax.set_yticklabels([r["arm"] for r in arms], fontsize=8)
    ax.set_title(f"{out.name}: verdict against the base (arm - base in each cell)", fontsize=9)
    ax.legend(handles=[Patch(color=v, label=k) for k, v in COLOURS.items()], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    (out / "plots").mkdir(exist_ok=True)
    path = out / "plots" / "verdicts.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["plot_verdicts"]
