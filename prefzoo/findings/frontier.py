"""The reward-vs-KL frontier (Rafailov et al. 2023, arXiv 2305.18290, Fig. 2 left): does DPO's
expected gold reward dominate PPO's at every KL to the reference?

Reads a finished comparison whose arms are sweeps (``family`` = the arm spec: dpo, ipo, ppo, ppo-gt,
best-of-n, ...). Each family is a line through its points in KL order, with the gold's 95% band (the
comparison's crossed bootstrap). The question is answered point by point: DPO's frontier at a KL is
the best DPO arm with no more KL than that (a step function, the usual reading of a reward-KL frontier),
and at each point of a challenger family (ppo, ppo-gt, ...) the difference DPO - challenger is
bootstrapped over seeds and prompts, paired by prompt. "DPO higher": DPO reaches more gold at no more KL;
"DPO lower": the point beats every DPO arm that stays within its KL, so DPO does not dominate there. The
KL of each point is its seed mean (its spread is in the table, not carried into the interval).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from prefzoo.eval.evaluator import bootstrap_ci, keyed
from prefzoo.eval.report import samples

REFERENCE = "dpo"  # the family whose frontier the others are read against


def family_points(rows: list[dict]) -> dict[str, list[dict]]:
    """family -> points sorted by KL: arm, sweep value, seed-mean KL (and its spread), gold, seeds."""
    by_arm: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("status") == "ok":
            by_arm.setdefault(r["arm"], []).append(r)
    fams: dict[str, list[dict]] = {}
    for arm, rs in by_arm.items():
        kls = [float(r["kl_to_base"]) for r in rs]
        fams.setdefault(rs[0]["family"], []).append({
            "arm": arm, "value": rs[0]["sweep_value"], "seeds": [r["seed"] for r in rs],
            "kl": float(np.mean(kls)), "kl_sd": float(np.std(kls, ddof=1)) if len(kls) > 1 else 0.0,
            "gold": float(np.mean([float(r["gold_reward"]) for r in rs]))})
    return {f: sorted(ps, key=lambda p: p["kl"]) for f, ps in fams.items()}


def _gold_by_prompt(out: Path, arm: str, seed: int) -> dict:
    return {k: s["gold_reward"] for k, s in keyed(samples(out, arm, seed)).items()}


def versus_reference(out: Path, ref: list[dict], point: dict) -> dict:
    """DPO's frontier at the point's KL against the point: the best DPO arm (by mean gold) among those with
    no more KL than the point, minus the point, paired by prompt and seed (mean, 95% CI). A point with less
    KL than every DPO arm is compared with the lowest-KL one: if its gold is higher it beats DPO's frontier
    with less KL ("DPO lower"), else the two are not comparable ("outside")."""
    if not ref:
        return {"verdict": "outside", "diff": float("nan"), "low": float("nan"), "high": float("nan")}
    eligible = [p for p in ref if p["kl"] <= point["kl"]]
    best = max(eligible, key=lambda p: p["gold"]) if eligible else min(ref, key=lambda p: p["kl"])
    per_seed = []
    for seed in point["seeds"]:
        a, c = _gold_by_prompt(out, best["arm"], seed), _gold_by_prompt(out, point["arm"], seed)
        per_seed.append([a[k] - c[k] for k in c if k in a])
    diff, low, high = bootstrap_ci(per_seed)
    verdict = "DPO higher" if low > 0 else "DPO lower" if high < 0 else "tie"
    if not eligible and verdict != "DPO lower":
        verdict = "outside"  # less KL and no more gold than DPO's closest arm: neither dominates
    return {"verdict": verdict, "diff": diff, "low": low, "high": high, "against": best["arm"]}


def plot(out: Path, fams: dict[str, list[dict]], summary: dict[str, dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "plots").mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, (fam, pts) in enumerate(fams.items()):
        colour = plt.cm.tab10(i % 10)
        xs = [p["kl"] for p in pts]
        ys = [summary[p["arm"]]["gold_reward_mean"] for p in pts]
        lo = [summary[p["arm"]]["gold_reward_ci_low"] for p in pts]
        hi = [summary[p["arm"]]["gold_reward_ci_high"] for p in pts]
        ax.plot(xs, ys, "o-" if len(pts) > 1 else "o", color=colour, label=fam, ms=4)
        if len(pts) > 1:
            ax.fill_between(xs, lo, hi, color=colour, alpha=0.15)
        else:
            ax.errorbar(xs, ys, yerr=[[ys[0] - lo[0]], [hi[0] - ys[0]]], color=colour, capsize=3)
        for p, x, y in zip(pts, xs, ys):
            if p["value"] is not None:
                ax.annotate(str(p["value"]), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
    ax.set_xlabel("KL(policy || base) per sequence (nats), seed mean")
    ax.set_ylabel("gold reward (mean, 95% band over seeds and prompts)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "plots" / "frontier.png", dpi=130)
    plt.close(fig)


def _read_summary(out: Path) -> dict[str, dict]:
    import csv

    with open(out / "summary.csv") as f:
        return {r["arm"]: {k: _num(v) for k, v in r.items()} for r in csv.DictReader(f)}


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def analyse(out: Path, rows: list[dict], recipe, command: str) -> dict:
    """Write finding.md and plots/frontier.png for a frontier comparison; returns the comparisons."""
    out = Path(out)
    fams = family_points(rows)
    summary = _read_summary(out)
    ref = fams.get(REFERENCE, [])
    checks = {fam: [{"arm": p["arm"], "kl": p["kl"], **versus_reference(out, ref, p)} for p in pts]
              for fam, pts in fams.items() if fam not in (REFERENCE, "base")}
    plot(out, fams, summary, f"{recipe.name}: gold reward against KL ({recipe.world} world, seeds {recipe.seeds})")
    lines = [f"# {recipe.name}: the reward-vs-KL frontier", "",
             f"Produced by `{command}`; the comparison's own tables are in `results.md`, the plot is "
             f"`plots/frontier.png`.", "", "## Points", "",
             "| family | arm | KL (seed sd) | gold reward [95% CI] |", "|---|---|---|---|"]
    for fam, pts in fams.items():
        for p in pts:
            s = summary[p["arm"]]
            lines.append(f"| {fam} | {p['arm']} | {p['kl']:.2f} ({p['kl_sd']:.2f}) | {s['gold_reward_mean']:+.3f} "
                         f"[{s['gold_reward_ci_low']:+.3f}, {s['gold_reward_ci_high']:+.3f}] |")
    lines += ["", "## DPO's frontier against each other point, at no more KL", "",
              "| family | arm | KL | DPO arm read | DPO - arm [95% CI] | verdict |", "|---|---|---|---|---|---|"]
    for fam, cs in checks.items():
        for c in cs:
            ci = f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]" if "against" in c else ""
            lines.append(f"| {fam} | {c['arm']} | {c['kl']:.2f} | {c.get('against', '-')} | {ci} | {c['verdict']} |")
    lines += ["", "## Answer", ""] + answer_lines(checks, ref)
    (out / "finding.md").write_text("\n".join(lines) + "\n")
    return checks


def answer_lines(checks: dict[str, list[dict]], ref: list[dict]) -> list[str]:
    if not ref:
        return ["- No DPO arm finished: nothing to compare against."]
    lines = [f"- DPO's points span KL {ref[0]['kl']:.2f} to {ref[-1]['kl']:.2f}; its frontier at a KL is its best "
             f"arm with no more KL."]
    for fam, cs in checks.items():
        inside = [c for c in cs if c["verdict"] != "outside"]
        count = {v: sum(c["verdict"] == v for c in inside) for v in ("DPO higher", "tie", "DPO lower")}
        where = ", ".join(f"{c['arm']} (KL {c['kl']:.2f})" for c in inside if c["verdict"] == "DPO higher")
        lines.append(f"- **{fam}**: of its {len(cs)} points, {len(inside)} can be read against DPO: DPO higher at "
                     f"{count['DPO higher']}{' (' + where + ')' if where else ''}, tie at {count['tie']}, "
                     f"lower at {count['DPO lower']}; {len(cs) - len(inside)} not comparable (less KL and no "
                     f"more gold than every DPO arm).")
    inside = [c for cs in checks.values() for c in cs if c["verdict"] != "outside"]
    if not inside:
        lines.append("- Verdict: none: no other point can be read against DPO's frontier.")
    elif all(c["verdict"] == "DPO higher" for c in inside):
        lines.append(f"- Verdict: DPO's frontier dominates all {len(inside)} points that can be read against it.")
    else:
        lines.append(f"- Verdict: DPO's frontier does not dominate: it is higher at "
                     f"{sum(c['verdict'] == 'DPO higher' for c in inside)} of the {len(inside)} points that can be "
                     f"read against it (ties and lower points above).")
    return lines


__all__ = ["analyse", "family_points", "versus_reference"]
