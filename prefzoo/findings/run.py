"""``prefzoo findings RECIPE``: run a finding's recipe, then its analysis (``finding:`` names which).

- ``overoptimization``: its own study (``overopt``), not a comparison;
- ``frontier``, ``rlaif-vs-rlhf``: a compare recipe (its arms run by ``prefzoo.compare``, reused when
  already finished with the same settings), then the analysis of its results (``frontier``, ``rlaif``),
  which writes ``finding.md`` and its plot beside the comparison's own results.md.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from prefzoo.config import ConfigError
from prefzoo.recipe import read_yaml

ANALYSES = {"frontier": "prefzoo.findings.frontier:analyse", "rlaif-vs-rlhf": "prefzoo.findings.rlaif:analyse"}
FINDINGS = ("overoptimization", *ANALYSES)


def run_finding(path: str | Path, out: str | Path | None = None, overrides: list[str] | None = None,
                overwrite: bool = False, log=print) -> Path:
    data = read_yaml(path)
    finding = data.get("finding")
    if finding not in FINDINGS:
        raise ConfigError(f"{path}: `finding:` must be one of {', '.join(FINDINGS)}, got {finding!r}")
    out = Path(out or Path("runs") / str(data.get("name", finding)))
    if finding == "overoptimization":
        from prefzoo.findings.overopt import run_overopt

        return run_overopt(path, out, overrides, overwrite, log)[0]
    from prefzoo.compare import compare_table
    from prefzoo.compare_recipe import load_compare_recipe
    from prefzoo.registry import load_object

    out, rows = compare_table(path, out, overrides, log, overwrite)
    command = "prefzoo findings " + " ".join(shlex.quote(a) for a in [str(path), "--out", str(out)]
                                             + [x for o in overrides or [] for x in ("--set", o)])
    load_object(ANALYSES[finding])(out, rows, load_compare_recipe(path, overrides), command)
    log(f"[finding] {finding}: {out / 'finding.md'}")
    return out
