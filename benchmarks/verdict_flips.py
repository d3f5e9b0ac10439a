"""How stable are a comparison's verdicts? Compare the <metric>_verdict columns of two runs of one recipe
with different seeds (two folders' summary.csv), arm by arm.

    prefzoo compare recipes/quickstart.yaml --out /tmp/qs_seeds345 --set 'seeds=[3,4,5]'
    python benchmarks/verdict_flips.py results/quickstart /tmp/qs_seeds345
"""
from __future__ import annotations

import csv
import sys


def main(a_dir: str, b_dir: str) -> None:
    a = {r["arm"]: r for r in csv.DictReader(open(f"{a_dir}/summary.csv"))}
    b = {r["arm"]: r for r in csv.DictReader(open(f"{b_dir}/summary.csv"))}
    cols = [c for c in next(iter(a.values())) if c.endswith("_verdict")]
    per_col = {c: [0, 0] for c in cols}
    flips = []
    for arm, row in a.items():
        if arm not in b or row.get(cols[0]) == "base":
            continue
        for c in cols:
            if c in b[arm]:
                per_col[c][1] += 1
                if row[c] != b[arm][c]:
                    per_col[c][0] += 1
                    flips.append(f"{arm} {c}: {row[c]} -> {b[arm][c]}")
    total = sum(n for _, n in per_col.values())
    print(f"{sum(f for f, _ in per_col.values())} of {total} verdicts differ")
    for c, (f, n) in per_col.items():
        print(f"  {c}: {f} of {n}")
    for line in flips:
        print(f"  {line}")


if __name__ == "__main__":
    missing = [d for d in sys.argv[1:3] if not __import__("os").path.exists(f"{d}/summary.csv")]
    if len(sys.argv) != 3 or missing:
        print("usage: python benchmarks/verdict_flips.py RUN_A RUN_B (two compare folders with a summary.csv)"
              + (f"; no summary.csv in {', '.join(missing)}" if missing else ""), file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
