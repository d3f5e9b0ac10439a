"""RLAIF against RLHF (Lee et al. 2023, arXiv 2309.00267): win rates over the base and head to head
against the arm trained on human labels, as a function of the AI labeler's accuracy and label volume.

Reads a finished comparison with an ``rlhf`` arm (the human labels) and ``rlaif`` arms. For each arm:
its win rate over the base (the comparison's ``win_vs_base`` per prompt: the world's gold preference of
its reply over the base's), its head-to-head win rate against ``rlhf`` (the gold preference of its reply
over rlhf's on the same prompt and seed), each with the crossed bootstrap CI over seeds and prompts,
and its labeler's measured agreement with gold (the comparison's ``labeler_alignment``). The human labels'
own agreement with gold is measured on the comparison's human pairs the same way (non-tied pairs only).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from prefzoo.eval.evaluator import bootstrap_ci, keyed
from prefzoo.eval.report import samples

HUMAN = "rlhf"  # the arm trained on the human labels


def human_agreement(out: Path, world, seeds: list[int]) -> dict:
    """Share of the human pairs whose chosen reply gold scores higher, over pairs gold does not tie."""
    agree = n = 0
    for seed in seeds:
        path = out / "data" / f"seed-{seed}" / "human_pairs.jsonl"
        if not path.exists():
            continue
        pairs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        prompts = [p["prompt"] for p in pairs]
        c = world.gold.score(prompts, [p["chosen"] for p in pairs]).tolist()
        r = world.gold.score(prompts, [p["rejected"] for p in pairs]).tolist()
        decided = [(x, y) for x, y in zip(c, r) if x != y]
        agree += sum(x > y for x, y in decided)
        n += len(decided)
    return {"agreement": agree / n if n else float("nan"), "n": n}


def head_to_head(out: Path, world, arm: str, other: str, seeds: list[int]) -> tuple[float, float, float]:
    """Expected gold preference of ``arm``'s reply over ``other``'s, paired by prompt and seed."""
    per_seed = []
    for seed in seeds:
        mine, theirs = keyed(samples(out, arm, seed)), keyed(samples(out, other, seed))
        per_seed.append([world.gold_preference({"id": s["id"], "prompt": s["prompt"], "category": s["category"]},
                                               s["response"], theirs[k]["response"])
                         for k, s in mine.items() if k in theirs])
    return bootstrap_ci(per_seed)


def arm_table(out: Path, rows: list[dict], world) -> list[dict]:
    arms: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("status") == "ok" and r["algorithm"] != "base":
            arms.setdefault(r["arm"], []).append(r)
    table = []
    for arm, rs in arms.items():
        seeds = [r["seed"] for r in rs]
        win = bootstrap_ci([[s["win_vs_base"] for s in samples(out, arm, seed)] for seed in seeds])
        h2h = head_to_head(out, world, arm, HUMAN, seeds) if arm != HUMAN else (0.5, 0.5, 0.5)
        align = [float(r["labeler_alignment"]) for r in rs if _finite(r.get("labeler_alignment"))]
        value = rs[0]["sweep_value"]
        table.append({"arm": arm, "family": rs[0]["family"], "seeds": len(rs),
                      "labels_per_prompt": _pairs_per_prompt(value), "win": win, "h2h": h2h,
                      "alignment": sum(align) / len(align) if align else float("nan")})
    return table


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _pairs_per_prompt(value) -> int:
    """The sweep's pairs_per_prompt (the last sweep key of these recipes), else 1 (the rlhf arm)."""
    if isinstance(value, (list, tuple)):
        value = value[-1]
    return int(value) if isinstance(value, (int, float)) else 1


def verdict(ci: tuple[float, float, float]) -> str:
    return "better" if ci[1] > 0.5 else "worse" if ci[2] < 0.5 else "tie"


def plot(out: Path, table: list[dict], human: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "plots").mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, title in ((axes[0], "win", "win rate over the base"), (axes[1], "h2h", "head to head vs rlhf")):
        for volume, marker in ((1, "o"), (4, "s")):
            pts = sorted((t for t in table if t["family"] != HUMAN and t["labels_per_prompt"] == volume),
                         key=lambda t: t["alignment"])
            if not pts:
                continue
            xs = [t["alignment"] for t in pts]
            ys = [t[key][0] for t in pts]
            err = [[t[key][0] - t[key][1] for t in pts], [t[key][2] - t[key][0] for t in pts]]
            ax.errorbar(xs, ys, yerr=err, fmt=marker, capsize=3, label=f"RLAIF, {volume}x labels")
            for t, x, y in zip(pts, xs, ys):
                ax.annotate(t["family"].replace("rlaif-", ""), (x, y), textcoords="offset points", xytext=(3, 3),
                            fontsize=6)
        ref = next((t for t in table if t["arm"] == HUMAN), None)
        if ref is not None:
            ax.axhspan(ref[key][1], ref[key][2], color="grey", alpha=0.2, label="rlhf (95% CI)")
            ax.axvline(human["agreement"], color="grey", ls=":", label="human labels' agreement")
        ax.axhline(0.5, color="black", lw=0.5)
        ax.set_xlabel("labeler agreement with gold (measured, non-tied pairs)")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "plots" / "rlaif_vs_rlhf.png", dpi=130)
    plt.close(fig)


def analyse(out: Path, rows: list[dict], recipe, command: str) -> list[dict]:
    from prefzoo.compare import make_world

    out = Path(out)
    world = make_world(recipe.world)
    table = arm_table(out, rows, world)
    human = human_agreement(out, world, recipe.seeds)
    plot(out, table, human)
    lines = [f"# {recipe.name}: RLAIF against RLHF", "", f"Produced by `{command}`; the comparison's own tables "
             f"are in `results.md`; the plot is `plots/rlaif_vs_rlhf.png`.", "",
             f"Human labels ({recipe.label_budget} a seed): agreement with gold {human['agreement']:.3f} on "
             f"{human['n']} non-tied pairs over {len(recipe.seeds)} seeds.", "",
             "| arm | labels / prompt | labeler agreement | win rate over base [95% CI] | vs rlhf [95% CI] | verdict vs rlhf |",
             "|---|---|---|---|---|---|"]
    for t in sorted(table, key=lambda t: (t["family"] != HUMAN, t["labels_per_prompt"], t["alignment"])):
        w, h = t["win"], t["h2h"]
        vs = "-" if t["arm"] == HUMAN else f"{h[0]:.3f} [{h[1]:.3f}, {h[2]:.3f}]"
        lines.append(f"| {t['arm']} | {t['labels_per_prompt']} | {t['alignment']:.3f} | {w[0]:.3f} [{w[1]:.3f}, "
                     f"{w[2]:.3f}] | {vs} | {'-' if t['arm'] == HUMAN else verdict(h)} |")
    lines += ["", "## Answer", ""] + answer_lines(table)
    (out / "finding.md").write_text("\n".join(lines) + "\n")
    return table


def answer_lines(table: list[dict]) -> list[str]:
    lines = []
    for volume in sorted({t["labels_per_prompt"] for t in table if t["family"] != HUMAN}):
        sim = sorted((t for t in table if t["family"] == "rlaif-sim" and t["labels_per_prompt"] == volume),
                     key=lambda t: t["alignment"])
        match = [t for t in sim if verdict(t["h2h"]) != "worse"]
        lowest = f"{match[0]['alignment']:.2f} ({match[0]['arm']})" if match else "none of those run"
        lines.append(f"- **{volume}x labels**: the lowest simulated-labeler agreement whose arm is not worse than "
                     f"rlhf head to head: {lowest}.")
        for t in table:
            if t["family"] == "rlaif-world" and t["labels_per_prompt"] == volume:
                lines.append(f"  The world's feedback model (agreement {t['alignment']:.2f}): "
                             f"{verdict(t['h2h'])} against rlhf ({t['h2h'][0]:.3f}).")
    one = {round(t["alignment"], 1): t for t in table if t["family"] == "rlaif-sim" and t["labels_per_prompt"] == 1}
    four = [t for t in table if t["family"] == "rlaif-sim" and t["labels_per_prompt"] == 4]
    made_up = [f"{t['arm']} ({t['h2h'][0]:.3f}) vs 1x at {acc:.1f} ({one[acc]['h2h'][0]:.3f})"
               for t in four for acc in sorted(one) if acc > t["alignment"] + 0.05
               and t["h2h"][1] > one[acc]["h2h"][1] and t["h2h"][0] >= one[acc]["h2h"][0]]
    lines.append(f"- **Does volume make up for accuracy?** 4x labels at a lower accuracy reaching a higher "
                 f"head-to-head than 1x at a higher accuracy: {'; '.join(made_up) if made_up else 'no such case'}.")
    return lines
