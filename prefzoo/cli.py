"""Command line: ``prefzoo list | train | compare | findings``."""
from __future__ import annotations

import argparse
import errno
import json
import sys
from pathlib import Path

from prefzoo import dist, registry


def cmd_list(args) -> int:
    registry.load_plugins(args.plugin or [])
    rows = [registry.describe(n) for n in registry.names()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    families = sorted({r["family"] for r in rows})  # grouped by family, names sorted within each
    for family in families:
        print(f"# {family}")
        for r in (r for r in rows if r["family"] == family):
            print(f"{r['name']:<{width}}  {r['family']:<9} {r['data_kind']:<8} {r['summary']}  [{r['paper']}]")
    return 0


def cmd_train(args) -> int:
    from prefzoo.recipe import load_train_recipe
    from prefzoo.runner import run_recipe

    overrides = list(args.set or [])
    if args.resume:
        overrides.append("train.resume=true")
    recipe = load_train_recipe(args.recipe, overrides)
    out = Path(args.out) if args.out else default_out(recipe.name or Path(args.recipe).stem)
    result = run_recipe(recipe, out, recipe_dir=Path(args.recipe).resolve().parent, overwrite=args.overwrite)
    if not dist.is_main():  # under accelerate launch: one summary line, from the main process
        return 0
    final = result.final
    if not final and (out / "result.json").exists():  # a finished run resumed: nothing left to train
        final = json.loads((out / "result.json").read_text()).get("final") or {}
    final = {k: v for k, v in final.items() if isinstance(v, (int, float))}
    print(f"done: {out}  " + "  ".join(f"{k}={v:.4g}" for k, v in final.items() if k in
                                       ("step", "loss", "reward_accuracy", "reward_margin", "reward_mean", "kl")))
    return 0


def default_out(name: str) -> Path:
    """``runs/NAME``: never the committed ``results/``; ``name`` must be a plain folder name."""
    from prefzoo.compare_recipe import check_name

    return Path("runs") / check_name(name, "the recipe's name")


def cmd_compare(args) -> int:
    from prefzoo.compare import run_compare

    run_compare(args.recipe, out=args.out, overrides=args.set or [], overwrite=args.overwrite)
    return 0


def cmd_findings(args) -> int:
    from prefzoo.findings.run import run_finding

    run_finding(args.recipe, out=args.out, overrides=args.set or [], overwrite=args.overwrite)
    return 0


def main(argv: list[str] | None = None) -> int:
    from prefzoo import __version__

    parser = argparse.ArgumentParser(prog="prefzoo", description="preference-optimization algorithm zoo")
    parser.add_argument("--version", action="version", version=f"prefzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered algorithms")
    p.add_argument("--json", action="store_true", help="print a JSON list (name, family, data_kind, summary, paper)")
    p.add_argument("--plugin", action="append", help="also load this plug-in file or module")
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("train", help="train one algorithm from a recipe")
    p.add_argument("recipe")
    p.add_argument("--out", help="output folder (default runs/<recipe name>); must be empty unless "
                                 "--resume or --overwrite")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe value, e.g. params.beta=0.2")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="delete the run already in --out and start over")
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("compare", help="run several algorithms against one base and compare outcomes")
    p.add_argument("recipe")
    p.add_argument("--out", help="output folder (default runs/<recipe name>)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe value")
    p.add_argument("--overwrite", action="store_true", help="retrain the arms (and resample the human pairs) "
                                                            "whose settings differ from the earlier run in --out")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("findings", help="reproduce a published finding: run its recipe, then its analysis "
                                        "(recipes/findings, docs/findings.md)")
    p.add_argument("recipe")
    p.add_argument("--out", help="output folder (default runs/<recipe name>)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe value (budget=small: a preset)")
    p.add_argument("--overwrite", action="store_true", help="redo the parts whose settings differ from the earlier "
                                                            "run in --out")
    p.set_defaults(fn=cmd_findings)
    args = parser.parse_args(argv)
    from prefzoo.config import ConfigError
    from prefzoo.data.validate import DataError
    from prefzoo.engine.loop import CheckpointError, NonFiniteError
    from prefzoo.feedback.base import FeedbackError
    from prefzoo.job import JobError
    from prefzoo.models.policy import ModelError

    try:
        code = args.fn(args)
        dist.shutdown()  # every process reaches here after its work; the group ends before the interpreter does
        return code
    except (ConfigError, DataError, registry.RegistryError, registry.PluginError, FileNotFoundError,
            CheckpointError, JobError, ModelError) as e:
        print(f"prefzoo: error: {e}", file=sys.stderr)
        return 2  # the command or its inputs were refused
    except (NonFiniteError, FeedbackError) as e:
        print(f"prefzoo: error: {e}", file=sys.stderr)
        return 1  # the inputs were accepted and the run started, then failed (diverged, a reward source broke)
    except OSError as e:  # the disk, not the inputs: say which file and why, not a traceback
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        why = "no space left on device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        print(f"prefzoo: error: cannot write or read{where}: {why}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
