"""Results of a comparison as files: results.csv (arm x seed), summary.csv (per arm, with bootstrap
CIs), results.md (the table and the command that produced it), plots/reward_vs_kl.png and
plots/categories.png. The metric columns and their places come from the metrics (``eval.metrics``;
see ``prefzoo.eval.metric`` for the groups)."""
from __future__ import annotations

import csv
import functools
import json
import math
from pathlib import Path

from prefzoo.eval.evaluator import bootstrap_ci, keyed, paired_verdict
from prefzoo.eval.metric import DEFAULT_METRICS, resolve_metrics
from prefzoo.eval.report_md import glossary_lines, headline_lines
from prefzoo.eval.verdict_plot import plot_verdicts

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


@functools.lru_cache(maxsize=256)
def _samples_of(path: str, mtime_ns: int) -> tuple[dict, ...]:
    """An arm's samples.jsonl, parsed once per version of the file (every column reads it)."""
    return tuple(json.loads(x) for x in Path(path).read_text().splitlines() if x.strip())


def samples(out: Path, arm: str, seed: int) -> tuple[dict, ...]:
    path = out / "arms" / arm / f"seed-{seed}" / "samples.jsonl"
    return _samples_of(str(path), path.stat().st_mtime_ns) if path.exists() else ()


def _per_prompt(out: Path, arm: str, seed: int, key: str) -> list[float]:
    path = out / "arms" / arm / f"seed-{seed}" / "samples.jsonl"
    if not path.exists():
        return []
    rows = samples(out, arm, seed)
    return [r[key] for r in rows if key in r]


def _by_prompt(out: Path, arm: str, seed: int, key: str) -> dict:
    path = out / "arms" / arm / f"seed-{seed}" / "samples.jsonl"
    if not path.exists():
        return {}
    return {k: r[key] for k, r in keyed(samples(out, arm, seed)).items()
            if isinstance(r.get(key), (int, float)) and not math.isnan(r[key])}  # a prompt without a value is unpaired


def verdict_metrics(metrics) -> list:
    """The metrics that get a paired verdict against the base: a direction and per-prompt values."""
    return [m for m in metrics if m.verdict and m.direction != "none" and m.per_prompt_key]


def verdicts(out: Path, rows: list[dict], arm, base, metrics) -> dict:
    """``<metric>_vs_base`` (mean difference, paired by prompt and seed), its 95% interval and
    ``<metric>_verdict`` (better / worse / tie) for each metric of ``verdict_metrics``; the base's own
    row says "base". A seed the base lacks is paired with the base's first seed (the base trains nothing;
    with eval.per_seed_draws that pairs other draws of the same prompts)."""
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
                if m.ci:  # bootstrap over seeds and the per-prompt values in samples.jsonl (crossed)
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
        row.update(column_verdicts(out, rows, arm, base, metrics, world))
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
                   metrics=None, gold_arms: list[str] = ()) -> None:
    metrics = resolve_metrics(DEFAULT_METRICS) if metrics is None else metrics
    cols = ["arm", "seeds_ok", *(c for g in ("headline", "rates", "detail") for c in summary_columns(metrics, world, g))]
    cols[2:2] = [f"{m.name}_verdict" for m in verdict_metrics(metrics) if any(f"{m.name}_verdict" in r for r in summary)]
    cols += [k for k in FEEDBACK_COLUMNS if any(k in r for r in summary)]
    cols += ["wall_s"]
    lines = [f"# {out.name}: comparison results", "",
             f"Produced by `{command}`; this invocation took {total_s:.0f} s"
             + (f" and reused {reused} arm runs finished by an earlier one (their wall_s is from that run)."
                if reused else "."), "",
             "Gold reward: mean over held-out prompts and seeds, 95% bootstrap CI over seeds and prompts, crossed where the seeds share their prompts "
             "(one eval set: each draw resamples the seeds and, once for all of them, the prompts). "
             "Win rate: expected gold preference over the base's sample on the same prompt. KL: "
             "E[log pi - log pi_base] per sequence on the arm's own samples. Verdicts: arm minus base paired by "
             "prompt and seed, the same 95% bootstrap; better / worse when the interval excludes 0 "
             "(summary.csv: `<metric>_vs_base` and its interval)."]
    lines += [f"{m.name}: {m.description} ({m.direction} is better)." if m.direction != "none" else
              f"{m.name}: {m.description}." for m in metrics if m.name not in DEFAULT_METRICS]  # the plug-ins
    lines += [""] + headline_lines(summary) + glossary_lines(cols, metrics, world)
    lines += ["## All columns", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in summary:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    failed = [r for r in summary if r.get("errors")]
    if failed:
        lines += ["", "Failed runs:"] + [f"- {r['arm']}: {r['errors']}" for r in failed]
    lines += ["", "Plots: `plots/reward_vs_kl.png`, `plots/categories.png`, `plots/verdicts.png` (every verdict at a "
              "glance). Per-run rows: `results.csv`."]
    lines += deliverable_lines(out, summary, world, metrics, gold_arms)
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
    gold_arms = [a.name for a in arms if isinstance(a.params, dict) and a.params.get("reward") in ("gold", "world")]
    write_markdown(out, summary, world, command, total_s, sum(bool(r.get("reused")) for r in rows), metrics,
                   gold_arms)
    plot(out, summary, world)
    plot_verdicts(out, summary)  # plots/verdicts.png: arm x metric, coloured by the verdict
    plot_deliverables(out, summary, world)
    return summary


# ------------------------------------------------------------------ per-column verdicts; the world's deliverables
COLUMN_REPS = 2000  # bootstrap draws per column interval, as for the gold reward (vectorised: the report takes seconds)


def _values(out: Path, arm: str, seed: int, key: str) -> list[float]:
    """The per-prompt values of ``key`` that are numbers (NaN: the prompt is not of the column's category)."""
    return [v for v in _per_prompt(out, arm, seed, key) if isinstance(v, (int, float)) and not math.isnan(v)]


def column_verdicts(out: Path, rows: list[dict], arm, base, metrics, world) -> dict:
    """For a metric with per-column per-prompt values (``per_prompt_keys(world)``: the category rates): each
    column's ``<col>_mean`` / ``_ci_low`` / ``_ci_high`` (the bootstrap over seeds and the prompts
    with a value, crossed) and, for a column with a direction, ``<col>_vs_base`` with its interval and ``<col>_verdict``,
    as ``verdicts`` gives them for a one-column metric."""
    ok = [r["seed"] for r in rows if r["arm"] == arm.name and r["status"] == "ok"]
    base_seeds = [r["seed"] for r in rows if base is not None and r["arm"] == base.name and r["status"] == "ok"]
    result: dict = {}
    for m in metrics:
        keys = m.per_prompt_keys(world) if hasattr(m, "per_prompt_keys") else {}
        directions = m.directions(world)
        for col, key in keys.items():
            mean, lo, hi = bootstrap_ci([_values(out, arm.name, s, key) for s in ok], reps=COLUMN_REPS)
            result.update({f"{col}_mean": mean, f"{col}_ci_low": lo, f"{col}_ci_high": hi})
            if base is None or directions.get(col, "none") == "none":
                continue
            if arm.name == base.name:
                result[f"{col}_verdict"] = "base"
            elif ok and base_seeds:
                mine = [_by_prompt(out, arm.name, s, key) for s in ok]
                theirs = [_by_prompt(out, base.name, s if s in base_seeds else base_seeds[0], key) for s in ok]
                diff, dlo, dhi, verdict = paired_verdict(mine, theirs, directions[col], reps=COLUMN_REPS)
                result.update({f"{col}_vs_base": diff, f"{col}_vs_base_ci_low": dlo,
                               f"{col}_vs_base_ci_high": dhi, f"{col}_verdict": verdict})
    return result


def deliverables(world) -> list[tuple[str, str, str]]:
    """(deliverable, column, direction) for the world's ``deliverables`` (name -> category column)."""
    directions = getattr(world, "category_directions", None) or {}
    return [(name, col, directions.get(col, "none")) for name, col in (getattr(world, "deliverables", None) or {}).items()]


def label_agreement(out: Path, world) -> dict:
    """The simulated raters against the gold preference on the label-budget pairs (data/seed-*/human_pairs.jsonl):
    per category and in all, pairs, pairs whose gold rewards differ, and the share of those labelled as gold prefers."""
    counts: dict = {}
    for path in sorted((out / "data").glob("seed-*/human_pairs.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            p = world.gold_preference({"prompt": r["prompt"]}, r["chosen"], r["rejected"])
            for c in (r.get("category") or "all", "all"):
                n, differ, agree = counts.get(c, (0, 0, 0))
                counts[c] = (n + 1, differ + (abs(p - 0.5) > 1e-9), agree + (p > 0.5 + 1e-9))
    return counts


def deliverable_lines(out: Path, summary: list[dict], world, metrics, gold_arms: list[str] = ()) -> list[str]:
    """results.md's deliverables table (each with its CI and verdict against the base, and who helps or hurts
    where) and the check that the world is not rigged (the raters' label noise; the base's rates)."""
    items = [d for d in deliverables(world) if any(f"{d[1]}_mean" in r for r in summary)]
    if not items:
        return []
    arrow = {"higher": "higher is better", "lower": "lower is better", "none": "no direction"}
    lines = ["", "## Deliverables", "",
             "Each: the arm's rate, its 95% CI, and the paired verdict against the base (arm minus base by prompt "
             f"and seed; {getattr(world, 'doc', 'docs/toy_world.md')} says how each is measured). Plot: "
             "`plots/deliverables.png`.", "",
             "| arm | " + " | ".join(f"{n}: {c} ({arrow[d]})" for n, c, d in items) + " | helps | hurts |",
             "|---|" + "---|" * (len(items) + 2)]
    for r in summary:
        cells, helps, hurts = [], [], []
        for name, col, _ in items:
            v = r.get(f"{col}_verdict", "")
            diff = r.get(f"{col}_vs_base")
            delta = f", {diff:+.3f}" if isinstance(diff, float) and not math.isnan(diff) else ""
            cells.append(f"{_fmt(r.get(f'{col}_mean', ''))} [{_fmt(r.get(f'{col}_ci_low', ''))}, "
                         f"{_fmt(r.get(f'{col}_ci_high', ''))}] {v}{delta}")
            (helps if v == "better" else hurts if v == "worse" else []).append(name)
        lines.append(f"| {r['arm']} | " + " | ".join(cells) + f" | {', '.join(helps) or '-'} | {', '.join(hurts) or '-'} |")
    return lines + _rigging_lines(out, summary, world, items, gold_arms)


def _rigging_lines(out: Path, summary: list[dict], world, items, gold_arms=()) -> list[str]:
    counts = label_agreement(out, world)
    base = next((r for r in summary if r.get("algorithm") == BASE_ALGORITHM), None)
    lines = ["", "## Is the world rigged?", "",
             (f"Only {', '.join(gold_arms)} train{'s' if len(gold_arms) == 1 else ''} on the gold itself "
              "(eval.allow_gold_as_reward: an upper reference); every other arm learns from labels or models: "
              if gold_arms else "No arm trains on the gold rubric: ")
             + "the human labels come from simulated Bradley-Terry raters "
             f"(noise temperature {getattr(world, 'noise_temperature', 'n/a')}), reward models and AI judges are "
             "learned. The raters against the gold preference on the label-budget pairs (all seeds):", "",
             "| category | pairs | gold rewards differ | labels agreeing with gold |", "|---|---|---|---|"]
    for c, (n, differ, agree) in sorted(counts.items(), key=lambda kv: kv[0] == "all"):
        lines.append(f"| {c} | {n} | {differ} ({differ / n:.0%}) | "
                     + (f"{agree / differ:.1%} (noise {1 - agree / differ:.1%}) |" if differ else "n/a |"))
    if base is not None:
        lines += ["", "The base every arm starts from: " + ", ".join(
            f"{name} ({col}) {_fmt(base.get(f'{col}_mean'))}" for name, col, _ in items) + "."]
    return lines


def plot_deliverables(out: Path, summary: list[dict], world) -> None:
    """plots/deliverables.png: one panel per deliverable, a bar per arm with its 95% CI, coloured by the verdict."""
    items = [d for d in deliverables(world) if summary and f"{d[1]}_mean" in summary[0]]
    if not items:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "plots").mkdir(exist_ok=True)
    colour = {"better": "tab:green", "worse": "tab:red", "base": "tab:blue"}
    fig, axes = plt.subplots(1, len(items), figsize=(3.2 * len(items), 4.2), sharey=True, squeeze=False)
    for ax, (name, col, direction) in zip(axes[0], items):
        ys = [r.get(f"{col}_mean", math.nan) for r in summary]
        err = [[max(0.0, y - r.get(f"{col}_ci_low", y)) for y, r in zip(ys, summary)],
               [max(0.0, r.get(f"{col}_ci_high", y) - y) for y, r in zip(ys, summary)]]
        ax.bar(range(len(summary)), ys, yerr=err, capsize=2,
               color=[colour.get(r.get(f"{col}_verdict"), "tab:gray") for r in summary])
        ax.set_xticks(range(len(summary)))
        ax.set_xticklabels([r["arm"] for r in summary], rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{name}\n{col} ({direction} is better)", fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("rate (95% CI); green better, red worse than base")
    fig.suptitle(f"{out.name}: deliverables", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "plots" / "deliverables.png", dpi=120)
    plt.close(fig)
