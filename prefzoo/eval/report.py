"""Results of a comparison as files: results.csv (arm x seed), summary.csv (per arm, with bootstrap
CIs), results.md (the table and the command that produced it), plots/reward_vs_kl.png and
plots/categories.png. The metric columns and their places come from the metrics (``eval.metrics``;
see ``prefzoo.eval.metric`` for the groups)."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from prefzoo.eval.evaluator import bootstrap_ci, paired_verdict
from prefzoo.eval.metric import DEFAULT_METRICS, resolve_metrics

ID_COLUMNS = ["arm", "algorithm", "seed", "status"]
RUN_COLUMNS = ["tokens", "train_s", "wall_s"]
BASE_ALGORITHM = "base"  # the arm every verdict compares with (compare_recipe.BASE_ARM)


# per-arm feedback columns (see compare.feedback_columns); n: the non-tied pairs alignment was measured on
FEEDBACK_COLUMNS = ("labeler_alignment", "labeler_alignment_n", "position_bias", "rm_heldout_accuracy")


def metric_columns(metrics, world, group: str) -> list[str]:
    """The per-run columns of the metrics in ``group``, in the metrics' order."""
    return [c for m in metrics if m.group == group for c in m.columns(world)]


def summary_columns(metrics, world, group: str) -> list[str]:
    """The summary's columns of ``group``: a metric with a CI gives <col>_mean, _ci_low, _ci_high."""
    out = []
    for m in metrics:
        if m.group == group:
            for c in m.columns(world):
                out += [f"{c}_mean", f"{c}_ci_low", f"{c}_ci_high"] if m.ci else [c]
    return out


def row_columns(metrics, world) -> list[str]:
    """results.csv's leading columns (the rest follow sorted)."""
    return (ID_COLUMNS + metric_columns(metrics, world, "headline") + metric_columns(metrics, world, "detail")
            + RUN_COLUMNS + metric_columns(metrics, world, "rates"))


def summary_lead(metrics, world) -> list[str]:
    """summary.csv's leading columns (the rest follow sorted)."""
    return (["arm", "algorithm", "seeds_ok"] + summary_columns(metrics, world, "headline")
            + summary_columns(metrics, world, "rates"))


def _mean(xs):
    xs = [x for x in xs if isinstance(x, (int, float)) and not (isinstance(x, float) and math.isnan(x))]
    return sum(xs) / len(xs) if xs else float("nan")


def _per_prompt(out: Path, arm: str, seed: int, key: str) -> list[float]:
    path = out / "arms" / arm / f"seed-{seed}" / "samples.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [r[key] for r in rows if key in r]


def _by_prompt(out: Path, arm: str, seed: int, key: str) -> dict:
    path = out / "arms" / arm / f"seed-{seed}" / "samples.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return {r.get("id", i): r[key] for i, r in enumerate(rows) if key in r}


def verdict_metrics(metrics) -> list:
    """The metrics that get a paired verdict against the base: a direction and per-prompt values."""
    return [m for m in metrics if m.verdict and m.direction != "none" and m.per_prompt_key]


def verdicts(out: Path, rows: list[dict], arm, base, metrics) -> dict:
    """``<metric>_vs_base`` (mean difference, paired by prompt and seed), its 95% interval and
    ``<metric>_verdict`` (better / worse / tie) for each metric of ``verdict_metrics``; the base's own
    row says "base". A seed the base lacks is paired with the base's first seed (the base trains nothing)."""
    if base is None:
        return {}
    ok = [r["seed"] for r in rows if r["arm"] == arm.name and r["status"] == "ok"]
    base_seeds = [r["seed"] for r in rows if r["arm"] == base.name and r["status"] == "ok"]
    result = {}
    for m in verdict_metrics(metrics):
        if arm.name == base.name:
            result[f"{m.name}_verdict"] = "base"
            continue
        if not ok or not base_seeds:
            continue
        mine = [_by_prompt(out, arm.name, s, m.per_prompt_key) for s in ok]
        theirs = [_by_prompt(out, base.name, s if s in base_seeds else base_seeds[0], m.per_prompt_key) for s in ok]
        mean, lo, hi, verdict = paired_verdict(mine, theirs, m.direction)
        result.update({f"{m.name}_vs_base": mean, f"{m.name}_vs_base_ci_low": lo,
                       f"{m.name}_vs_base_ci_high": hi, f"{m.name}_verdict": verdict})
    return result


def summarise(out: Path, rows: list[dict], arms, world, metrics=None) -> list[dict]:
    metrics = resolve_metrics(DEFAULT_METRICS) if metrics is None else metrics
    extra = [k for k in FEEDBACK_COLUMNS if any(k in r for r in rows)]
    base = next((a for a in arms if a.algorithm == BASE_ALGORITHM), None)
    summary = []
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm.name]
        ok = [r for r in mine if r["status"] == "ok"]
        row = {"arm": arm.name, "algorithm": arm.algorithm, "family": arm.family, "sweep_value": arm.sweep_value,
               "seeds_ok": f"{len(ok)}/{len(mine)}"}
        for m in metrics:
            for col in m.columns(world):
                if m.ci:  # two-level bootstrap over seeds and the per-prompt values in samples.jsonl
                    mean, lo, hi = bootstrap_ci([_per_prompt(out, arm.name, r["seed"], m.per_prompt_key) for r in ok])
                    row.update({f"{col}_mean": mean, f"{col}_ci_low": lo, f"{col}_ci_high": hi})
                else:
                    row[col] = _mean(r.get(col) for r in ok)
        for k in (*extra, "tokens", "wall_s"):
            row[k] = _mean(r.get(k) for r in ok)
        if "labeler_alignment_n" in extra:  # pairs over all seeds, not a mean; nan for arms without AI labels
            ns = [r["labeler_alignment_n"] for r in ok if isinstance(r.get("labeler_alignment_n"), int)]
            row["labeler_alignment_n"] = sum(ns) if ns else float("nan")
        row.update(verdicts(out, rows, arm, base, metrics))
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


def write_markdown(out: Path, summary: list[dict], world, command: str, total_s: float, reused: int = 0,
                   metrics=None) -> None:
    metrics = resolve_metrics(DEFAULT_METRICS) if metrics is None else metrics
    cols = ["arm", "seeds_ok", *(c for g in ("headline", "rates", "detail") for c in summary_columns(metrics, world, g))]
    cols[2:2] = [f"{m.name}_verdict" for m in verdict_metrics(metrics) if any(f"{m.name}_verdict" in r for r in summary)]
    cols += [k for k in FEEDBACK_COLUMNS if any(k in r for r in summary)]
    cols += ["wall_s"]
    lines = [f"# {out.name}: comparison results", "",
             f"Produced by `{command}`; this invocation took {total_s:.0f} s"
             + (f" and reused {reused} arm runs finished by an earlier one (their wall_s is from that run)."
                if reused else "."), "",
             "Gold reward: mean over held-out prompts and seeds, 95% bootstrap CI (seeds, then prompts). "
             "Win rate: expected gold preference over the base's sample on the same prompt. KL: "
             "E[log pi - log pi_base] per sequence on the arm's own samples. Verdicts: arm minus base paired by "
             "prompt and seed, two-level 95% bootstrap; better / worse when the interval excludes 0 "
             "(summary.csv: `<metric>_vs_base` and its interval)."]
    lines += [f"{m.name}: {m.description} ({m.direction} is better)." if m.direction != "none" else
              f"{m.name}: {m.description}." for m in metrics if m.name not in DEFAULT_METRICS]  # the plug-ins
    lines += ["",
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
    if not summary or "gold_reward_mean" not in summary[0] or "kl_to_base" not in summary[0]:
        return  # both plots are of the default metrics (reward against KL; the category rates)
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

    cats = [c for c in world.categories if c in summary[0]]
    if not cats:
        return
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


def write_reports(out: Path, rows: list[dict], arms, world, command: str, total_s: float,
                  metrics=None) -> list[dict]:
    metrics = resolve_metrics(DEFAULT_METRICS) if metrics is None else metrics
    _write_csv(out / "results.csv", rows, row_columns(metrics, world))
    summary = summarise(out, rows, arms, world, metrics)
    _write_csv(out / "summary.csv", summary, summary_lead(metrics, world))
    write_markdown(out, summary, world, command, total_s, sum(bool(r.get("reused")) for r in rows), metrics)
    plot(out, summary, world)
    return summary
