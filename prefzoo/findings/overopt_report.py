"""The overoptimisation study's report: points.csv, fit.json (Gao et al.'s forms per label budget and
optimiser), plots/overoptimization.png and results.md with the three answers the finding asks for."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from prefzoo.findings.fit import fit_form, predict

T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}  # two-sided t, 95%
METHODS = (("bon", "best-of-n"), ("rl", "RL"))


def points(units: list[dict]) -> list[dict]:
    """One row per (method, budget, seed, n | step): d, gold and proxy gains over the base's own values."""
    rows = []
    for u in units:
        for method, key, at in (("bon", "bon", "n"), ("rl", "rl", "step")):
            curve = u[key]
            g0, p0 = curve[0]["gold"], curve[0]["proxy"]  # n = 1 / step 0: the base itself
            for c in curve:
                rows.append({"method": method, "budget": u["budget"], "seed": u["seed"], "at": c[at],
                             "kl": c["kl"], "d": math.sqrt(max(c["kl"], 0.0)), "gold": c["gold"],
                             "proxy": c["proxy"], "gold_gain": c["gold"] - g0, "proxy_gain": c["proxy"] - p0})
    return rows


def _ci_half(values: list[float]) -> float:
    if len(values) < 2:
        return float("nan")
    return T95.get(len(values) - 1, 1.96) * float(np.std(values, ddof=1)) / math.sqrt(len(values))


def curve_means(rows: list[dict], method: str, budget: int) -> list[dict]:
    """Seed means per checkpoint (n or step), with the seeds' 95% t-interval half-width of the gold gain."""
    mine = [r for r in rows if r["method"] == method and r["budget"] == budget]
    out = []
    for at in sorted({r["at"] for r in mine}):
        rs = [r for r in mine if r["at"] == at]
        out.append({"at": at, "d": float(np.mean([r["d"] for r in rs])),
                    "gold_gain": float(np.mean([r["gold_gain"] for r in rs])),
                    "gold_ci": _ci_half([r["gold_gain"] for r in rs]),
                    "proxy_gain": float(np.mean([r["proxy_gain"] for r in rs])), "seeds": len(rs)})
    return out


def peak_and_fall(rows: list[dict], method: str, budget: int) -> dict:
    """Where the seed-mean gold gain peaks, and its drop from there to the last point: per seed, then
    mean with a 95% t-interval over seeds ("falls" when the interval is above 0)."""
    means = curve_means(rows, method, budget)
    i = int(np.argmax([m["gold_gain"] for m in means]))
    peak_at, last_at = means[i]["at"], means[-1]["at"]
    drops = []
    for seed in sorted({r["seed"] for r in rows if r["method"] == method and r["budget"] == budget}):
        by_at = {r["at"]: r["gold_gain"] for r in rows if r["method"] == method and r["budget"] == budget
                 and r["seed"] == seed}
        drops.append(by_at[peak_at] - by_at[last_at])
    drop, half = float(np.mean(drops)), _ci_half(drops)
    return {"peak_at": peak_at, "peak_d": means[i]["d"], "peak_gain": means[i]["gold_gain"], "last_at": last_at,
            "drop": drop, "drop_ci": [drop - half, drop + half],
            "falls": bool(peak_at != last_at and not math.isnan(half) and drop - half > 0),
            "proxy_rises": bool(means[-1]["proxy_gain"] > means[0]["proxy_gain"])}


def fits(rows: list[dict], budgets: list[int]) -> dict:
    """fit.json: per budget and method, the least-squares form over every seed's points."""
    out: dict = {}
    for budget in budgets:
        for method, _ in METHODS:
            mine = [r for r in rows if r["method"] == method and r["budget"] == budget]
            entry = {"points": len(mine), **peak_and_fall(rows, method, budget)}
            try:
                entry.update(fit_form(method, [r["d"] for r in mine], [r["gold_gain"] for r in mine]).to_dict())
            except ValueError as e:  # too few points with distinct d: said in the file, not hidden
                entry["error"] = str(e)
            out.setdefault(str(budget), {})[method] = entry
    return out


def plot(out: Path, rows: list[dict], fitted: dict, budgets: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "plots").mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, (method, title) in zip(axes, METHODS):
        for j, budget in enumerate(budgets):
            colour = plt.cm.viridis(j / max(1, len(budgets) - 1) * 0.85)
            means = curve_means(rows, method, budget)
            d = [m["d"] for m in means]
            ax.errorbar(d, [m["gold_gain"] for m in means], yerr=[m["gold_ci"] for m in means], fmt="o", capsize=3,
                        color=colour, label=f"gold, {budget} labels")
            ax.plot(d, [m["proxy_gain"] for m in means], "--", color=colour, alpha=0.7, label=f"proxy, {budget} labels")
            f = fitted[str(budget)][method]
            if "alpha" in f and d:
                grid = np.linspace(0, max(d) * 1.05, 60)
                ax.plot(grid, predict(method, grid, f["alpha"], f["beta"]), "-", color=colour, lw=1)
        ax.axhline(0, color="grey", lw=0.6)
        form = "d(alpha - beta d)" if method == "bon" else "d(alpha - beta log d)"
        ax.set_title(f"{title}: gold (points, 95% CI over seeds; line: fitted {form}) and proxy (dashed)", fontsize=8)
        ax.set_xlabel("d = sqrt(KL(policy || base)) (sqrt nats)")
        ax.set_ylabel("reward gained over the base (gold units; proxy in its own units)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "plots" / "overoptimization.png", dpi=120)
    plt.close(fig)


def _fmt(v, spec=".3f") -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _answers(fitted: dict, budgets: list[int]) -> list[str]:
    lines = []
    for method, title in METHODS:
        falls = [b for b in budgets if fitted[str(b)][method]["falls"]]
        lines.append(f"- **{title}: does the gold peak and fall?** The gold gain falls significantly after its peak "
                     f"(seeds' 95% interval of the drop above 0) for budgets {falls or 'none'} of {budgets}.")
        r2 = [fitted[str(b)][method].get("r2") for b in budgets]
        lines.append(f"- **{title}: does the form fit?** R^2 per budget {[_fmt(x, '.2f') for x in r2]}, RMS residual "
                     f"{[_fmt(fitted[str(b)][method].get('rmse')) for b in budgets]} (gold units).")
        betas = [fitted[str(b)][method].get("beta") for b in budgets]
        order = all(a is not None and b is not None and b < a for a, b in zip(betas, betas[1:]))
        lines.append(f"- **{title}: does beta fall with the label budget?** beta = "
                     f"{', '.join(_fmt(x) for x in betas)} for {budgets}: "
                     f"{'yes, it falls at every step' if order else 'not monotonically'}.")
    return lines


def write_report(out: Path, recipe, units: list[dict], command: str, wall_s: float) -> None:
    rows = points(units)
    budgets = list(recipe.label_budgets)
    fitted = fits(rows, budgets)
    (out / "fit.json").write_text(json.dumps(fitted, indent=2))
    with open(out / "points.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(out, rows, fitted, budgets)
    lines = [f"# {recipe.name}: reward-model overoptimisation", "",
             f"Produced by `{command}` in {wall_s:.0f} s (units reused from an earlier run count as 0); environment "
             f"in `environment.json`. World `{recipe.world}`, seeds {recipe.seeds}, {recipe.eval.prompts} held-out "
             f"prompts, best-of-n over {recipe.bon.candidates} candidates, RL: `{recipe.rl.algorithm}` evaluated at "
             f"steps {recipe.rl.checkpoints}.", "",
             "Gains are over the base's own value (n = 1 / step 0); d = sqrt(KL to the base); forms fitted by least "
             "squares over every seed's points (`fit.json`, `points.csv`, `plots/overoptimization.png`).", "",
             "| optimiser | labels | proxy held-out acc. | alpha (se) | beta (se) | R^2 | peak d (gain) | drop to last [95% CI] |",
             "|---|---|---|---|---|---|---|---|"]
    for method, title in METHODS:
        for b in budgets:
            f = fitted[str(b)][method]
            acc = np.mean([u["proxy"]["heldout_accuracy"] for u in units if u["budget"] == b])
            lines.append(f"| {title} | {b} | {acc:.3f} | {_fmt(f.get('alpha'))} ({_fmt(f.get('alpha_se'))}) | "
                         f"{_fmt(f.get('beta'))} ({_fmt(f.get('beta_se'))}) | {_fmt(f.get('r2'), '.2f')} | "
                         f"{f['peak_d']:.2f} ({f['peak_gain']:+.3f}) | {f['drop']:+.3f} "
                         f"[{_fmt(f['drop_ci'][0], '+.3f')}, {_fmt(f['drop_ci'][1], '+.3f')}] |")
    lines += ["", "## Answers", ""] + _answers(fitted, budgets)
    (out / "results.md").write_text("\n".join(lines) + "\n")
