"""eval.per_seed_draws: each training seed evaluates with its own sampling draws, the base's too."""
import json
from pathlib import Path

import prefzoo

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "recipes" / "smoke-compare.yaml"
SETS = ["seeds=[0,1]", "train_prompts=16", "label_budget=16", "eval.prompts=12", "eval.max_new_tokens=8",
        "sample_max_new_tokens=8", f"cache_dir={ROOT / '.cache' / 'prefzoo'}", "arms.dpo.sweep={}"]


def _responses(out: Path, arm: str, seed: int) -> list[str]:
    lines = (out / "arms" / arm / f"seed-{seed}" / "samples.jsonl").read_text().splitlines()
    return [json.loads(line)["response"] for line in lines]


def test_per_seed_draws_give_each_seed_its_own_base_sample(tmp_path):
    shared, own = tmp_path / "shared", tmp_path / "own"
    prefzoo.compare(SMOKE, out=shared, overrides=SETS, log=lambda _: None)
    prefzoo.compare(SMOKE, out=own, overrides=SETS + ["eval.per_seed_draws=true"], log=lambda _: None)
    # one draw for every seed: the untrained base's "seeds" are one sample repeated
    assert _responses(shared, "base", 0) == _responses(shared, "base", 1)
    # its own draws per seed: seed 0 keeps eval.seed (the shared draw), seed 1 samples anew
    assert _responses(own, "base", 0) == _responses(shared, "base", 0)
    assert _responses(own, "base", 1) != _responses(own, "base", 0)
    # the arms pair with their own seed's base sample: the base against itself is an even win rate
    rows = {(r["arm"], r["seed"]): r for r in
            (json.loads(p.read_text())["row"] for p in own.glob("arms/*/seed-*/eval.json"))}
    assert rows[("base", 1)]["win_rate_vs_base"] == 0.5
    assert _responses(own, "dpo", 0) == _responses(shared, "dpo", 0)
    assert _responses(own, "dpo", 1) != _responses(shared, "dpo", 1)


def test_a_compare_says_when_its_eval_prompts_repeat(tmp_path):
    logs: list[str] = []
    sets = [s for s in SETS if not s.startswith("arms.")] + ["eval.prompts=400", "seeds=[0]",
                                                             "arms=[{name: base, algorithm: base}]"]
    prefzoo.compare(SMOKE, out=tmp_path / "out", overrides=sets, log=logs.append)
    said = [line for line in logs if line.startswith("[stage] eval:")]
    rows = [json.loads(line) for line in (tmp_path / "out" / "arms" / "base" / "seed-0" / "samples.jsonl").open()]
    distinct = len({r["id"] for r in rows})
    assert distinct < len(rows) == 400  # the toy world's smaller pools come round again
    assert said == [f"[stage] eval: 400 rows from {distinct} distinct prompts; the rest repeat them"], said
