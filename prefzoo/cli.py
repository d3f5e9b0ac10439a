"""Command line: ``prefzoo list | train | compare``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prefzoo import registry


def cmd_list(args) -> int:
    registry.load_plugins(args.plugin or [])
    rows = [registry.describe(n) for n in registry.names()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['family']:<9} {r['data_kind']:<8} {r['summary']}  [{r['paper']}]")
    return 0


def cmd_train(args) -> int:
    from prefzoo.recipe import load_train_recipe
    from prefzoo.runner import run_recipe

    overrides = list(args.set or [])
    if args.resume:
        overrides.append("train.resume=true")
    recipe = load_train_recipe(args.recipe, overrides)
    out = Path(args.out or Path("runs") / (recipe.name or Path(args.recipe).stem))
    result = run_recipe(recipe, out, recipe_dir=Path(args.recipe).resolve().parent)
    from prefzoo import dist

    if not dist.is_main():  # under accelerate launch: one summary line, from the main process
        return 0
    final = {k: v for k, v in result.final.items() if isinstance(v, (int, float))}
    print(f"done: {out}  " + "  ".join(f"{k}={v:.4g}" for k, v in final.items() if k in
                                       ("step", "loss", "reward_accuracy", "reward_margin", "reward_mean", "kl")))
    return 0


def cmd_compare(args) -> int:
    from prefzoo.compare import run_compare

    run_compare(args.recipe, out=args.out, overrides=args.set or [])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prefzoo", description="preference-optimization algorithm zoo")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered algorithms")
    p.add_argument("--json", action="store_true", help="print a JSON list (name, family, data_kind, summary, paper)")
    p.add_argument("--plugin", action="append", help="also load this plug-in file or module")
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("train", help="train one algorithm from a recipe")
    p.add_argument("recipe")
    p.add_argument("--out", help="output folder (default runs/<recipe name>)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe value, e.g. params.beta=0.2")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("compare", help="run several algorithms against one base and compare outcomes")
    p.add_argument("recipe")
    p.add_argument("--out", help="output folder (default results/<recipe name>)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe value")
    p.set_defaults(fn=cmd_compare)
    args = parser.parse_args(argv)
    from prefzoo.config import ConfigError
    from prefzoo.data.validate import DataError

    try:
        return args.fn(args)
    except (ConfigError, DataError, registry.RegistryError, FileNotFoundError) as e:
        print(f"prefzoo: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
