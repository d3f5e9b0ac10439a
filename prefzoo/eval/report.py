"""Results of a comparison as files: results.csv (arm x seed), summary.csv (per arm, with bootstrap
CIs), results.md (the table and the command that produced it), plots/reward_vs_kl.png and
plots/categories.png."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from prefzoo.eval.evaluator import bootstrap_ci

ROW_COLUMNS = ["arm", "algorithm", "seed", "status", "gold_reward", "win_rate_vs_base", "kl_to_base",
               "mean_length", "distinct_2", "tokens", "train_s", "wall_s"]
SUMMARY_COLUMNS = ["arm", "algorithm", "seeds_ok", "gold_reward_mean", "gold_reward_ci_low", "gold_reward_ci_high",
                   "win_rate_vs_base", "kl_to_base"]


# per-arm feedback columns (see compare.feedback_columns); n: the non-tied pairs alignment was measured on
FEEDBACK_COLUMNS = ("labeler_alignment", "labeler_alignment_n", "position_bias", "rm_heldout_accuracy")


def _mean(xs):
    xs = [x for x in xs if isinstance(x, (int, float)) and not (isinstance(x, float) and math.isnan(x))]
    return sum(xs) / len(xs) if xs else float("nan")


def _per_prompt_rewards(out: Path, arm: str, seed: int) -> list[float]:
    path = out / "arms" / arm / f"seed-{seed}" / "samples.jsonl"
    if not path.exists():
        return []
    return [json.loads(x)["gold_reward"] for x in path.read_text().splitlines() if x.strip()]


def summarise(out: Path, rows: list[dict], arms, world) -> list[dict]:
    extra = [k for k in FEEDBACK_COLUMNS if any(k in r for r in rows)]
    summary = []
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm.name]
        ok = [r for r in mine if r["status"] == "ok"]
        mean, lo, hi = bootstrap_ci([_per_prompt_rewards(out, arm.name, r["seed"]) for r in ok])
        row = {"arm": arm.name, "algorithm": arm.algorithm, "family": arm.family, "sweep_value": arm.sweep_value,
               "seeds_ok": f"{len(ok)}/{len(mine)}", "gold_reward_mean": mean, "gold_reward_ci_low": lo,
               "gold_reward_ci_high": hi, "win_rate_vs_base": _mean(r.get("win_rate_vs_base") for r in ok),
               "kl_to_base": _mean(r.get("kl_to_base") for r in ok)}
        for cat in world.categories:
            row[cat] = _mean(r.get(cat) for r in ok)
        for k in ("mean_length", "distinct_2", *extra, "tokens", "wall_s"):
            row[k] = _mean(r.get(k) for r in ok)
        if "labeler_alignment_n" in extra:  # pairs over all seeds, not a mean; nan for arms without AI labels
            ns = [r["labeler_alignment_n"] for r in ok if isinstance(r.get("labeler_alignment_n"), int)]
            row["labeler_alignment_n"] = sum(ns) if ns else float("nan")
        row["errors"] = "; ".join(sorted({r["error"] for r in mine if r["status"] != "ok"}))
        summary.append(row)
    return summary


def _write_csv(path: Path, rows: list[dict], first: list[str]) -> None:
    cols = list(first) + sorted({k for r in rows for k in r} - set(first))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def write_markdown(out: Path, summary: list[dict], world, command: str, total_s: float, reused: int = 0) -> None:
    cols = ["arm", "seeds_ok", "gold_reward_mean", "gold_reward_ci_low", "gold_reward_ci_high", "win_rate_vs_base",
            "kl_to_base", *world.categories, "mean_length", "distinct_2"]
    cols += [k for k in FEEDBACK_COLUMNS if any(k in r for r in summary)]
    cols += ["wall_s"]
    lines = [f"# {out.name}: comparison results", "",
             f"Produced by `{command}`; this invocation took {total_s:.0f} s"
             + (f" and reused {reused} arm runs finished by an earlier one (their wall_s is from that run)."
                if reused else "."), "",
             "Gold reward: mean over held-out prompts and seeds, 95% bootstrap CI (seeds, then prompts). "
             "Win rate: expected gold preference over the base's sample on the same prompt. KL: "
             "E[log pi - log pi_base] per sequence on the arm's own samples.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in summary:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    failed = [r for r in summary if r.get("errors")]
    if failed:
        lines += ["", "Failed runs:"] + [f"- {r['arm']}: {r['errors']}" for r in failed]
    lines += ["", "Plots: `plots/reward_vs_kl.png`, `plots/categories.png`. Per-run rows: `results.csv`."]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def plot(out: Path, summary: list[dict], world) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "plots").mkdir(exist_ok=True)
    ok = [r for r in summary if not math.isnan(r["gold_reward_mean"])]
    fig, ax = plt.subplots(figsize=(7, 5))
    families: dict[str, list[dict]] = {}
    for r in ok:
        families.setdefault(r["family"], []).append(r)
    markers = "osD^vP*Xhp<>"
    for i, (fam, rs) in enumerate(families.items()):  # tab20 + markers: a dozen arms stay distinguishable
        rs = sorted(rs, key=lambda r: r["kl_to_base"])
        xs = [r["kl_to_base"] for r in rs]
        ys = [r["gold_reward_mean"] for r in rs]
        err = [[y - r["gold_reward_ci_low"] for y, r in zip(ys, rs)], [r["gold_reward_ci_high"] - y for y, r in zip(ys, rs)]]
        m = markers[i % len(markers)]
        ax.errorbar(xs, ys, yerr=err, fmt=f"{m}-" if len(rs) > 1 else m, capsize=3, label=fam,
                    color=plt.cm.tab20(i % 20))
        if len(rs) > 1:  # a sweep: label each point with its value
            for r, x, y in zip(rs, xs, ys):
                ax.annotate(str(r["sweep_value"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("KL(policy || base) per sequence (nats)")
    ax.set_ylabel("gold reward (mean, 95% CI)")
    ax.set_title(f"{out.name}: reward vs KL")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "plots" / "reward_vs_kl.png", dpi=120)
    plt.close(fig)

    cats = list(world.categories)
    fig, ax = plt.subplots(figsize=(max(7, len(ok) * 0.9), 4.5))
    width = 0.8 / max(1, len(cats))
    for j, cat in enumerate(cats):
        ax.bar([i + j * width for i in range(len(ok))], [r[cat] for r in ok], width, label=cat)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(ok))])
    ax.set_xticklabels([r["arm"] for r in ok], rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate")
    ax.set_title(f"{out.name}: category rates")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: bars reach 1.0
    fig.tight_layout()
    fig.savefig(out / "plots" / "categories.png", dpi=120)
    plt.close(fig)


def write_reports(out: Path, rows: list[dict], arms, world, command: str, total_s: float) -> list[dict]:
    _write_csv(out / "results.csv", rows, ROW_COLUMNS + list(world.categories))
    summary = summarise(out, rows, arms, world)
    _write_csv(out / "summary.csv", summary, SUMMARY_COLUMNS + list(world.categories))
    write_markdown(out, summary, world, command, total_s, sum(bool(r.get("reused")) for r in rows))
    plot(out, summary, world)
    return summary
