"""The layering of issue 11: ``prefzoo.api`` is a light leaf, every module imports on its own, the
registry's manifest is what the decorators register, plug-ins reach the registry by file, by
``module:Class`` name and by entry point, and plug-ins written against ``prefzoo.api`` alone train."""
from __future__ import annotations

import json
import math
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import prefzoo
from prefzoo import registry
from prefzoo.algos import MANIFEST
from prefzoo.engine.online_parts import minibatch_rows

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "recipes" / "data" / "tiny_pairs.jsonl"


def all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(prefzoo.__path__, "prefzoo."))


# One interpreter imports the heavy third-party packages once; each prefzoo module is then imported in
# a forked child that has loaded no prefzoo module, so an import cycle shows as it would in a fresh
# interpreter (a cycle depends on which module is imported first).
FORK_IMPORTS = r"""
import importlib, json, os, sys, traceback
import torch, transformers, datasets, accelerate, peft, yaml, tqdm  # noqa: F401  (shared, not prefzoo)
failures = {}
for name in json.loads(sys.argv[1]):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(name)
            msg = b""
        except BaseException:
            msg = traceback.format_exc().encode()[-2000:]
        os.write(w, msg)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    os.waitpid(pid, 0)
    if out:
        failures[name] = out.decode()
print(json.dumps(failures))
"""


def test_every_module_imports_alone():
    mods = all_modules()
    assert len(mods) > 40
    proc = subprocess.run([sys.executable, "-c", FORK_IMPORTS, json.dumps(mods)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def test_api_is_a_light_leaf():
    code = ("import sys, prefzoo.api; print(sorted(m for m in sys.modules if m == 'prefzoo' or "
            "m.startswith('prefzoo.')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = eval(proc.stdout.strip())  # a printed list of module names
    assert len(loaded) <= 6, loaded
    assert not any(m.startswith(("prefzoo.engine", "prefzoo.algos.", "prefzoo.models", "prefzoo.data"))
                   for m in loaded), loaded


def test_listing_the_registry_imports_no_algorithm():
    code = "import sys; from prefzoo import registry; n = registry.names(); " \
           "print(len(n), any(m.startswith('prefzoo.algos.') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == [str(len(MANIFEST)), "False"], proc.stdout + proc.stderr


def test_manifest_equals_what_the_decorators_register():
    import importlib

    import prefzoo.algos as algos

    for m in pkgutil.iter_modules(algos.__path__):
        importlib.import_module(f"prefzoo.algos.{m.name}")
    registered = {name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in registry.ALGORITHMS.loaded().items()
                  if cls.__module__.startswith("prefzoo.algos.")}
    assert registered == MANIFEST


def test_unknown_names_in_every_registry_suggest():
    r = registry.Registry("widget", builtins={"alpha": "math:sqrt"})
    with pytest.raises(registry.RegistryError, match=r"unknown widget 'alpah'\. did you mean 'alpha'\?"):
        r.get("alpah")
    assert r.get("alpha") is math.sqrt
    assert r.names() == ["alpha"]


def test_required_attributes_are_checked():
    r = registry.Registry("widget", required=("summary",))
    with pytest.raises(TypeError, match="lacks the attribute 'summary'"):
        r.register("x")(type("X", (), {}))


def test_module_colon_class_names_an_algorithm():
    cls = registry.get("prefzoo.algos.dpo:DPO")
    assert cls is registry.get("dpo")


def test_entry_points_register_lazily(tmp_path, monkeypatch):
    """An installed package's ``prefzoo.algorithms`` entry point appears in the list and loads on use."""
    (tmp_path / "ep_plugin.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from prefzoo.api import LossOutput, Objective, register

        @register("ep-loss")
        class EpLoss(Objective):
            summary, paper = "entry-point test loss", "none"

            @dataclass
            class Config:
                pass

            def loss(self, policy, reference):
                per = -(policy.chosen - policy.rejected)
                return LossOutput(per.mean(), per.detach())
        '''))
    dist = tmp_path / "ep_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[prefzoo.algorithms]\nep-loss = ep_plugin:EpLoss\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh = registry._Algorithms("algorithm", required=("family", "data_kind", "summary", "paper", "Config"),
                                 entry_points="prefzoo.algorithms")
    assert "ep-loss" in fresh.names() and "dpo" in fresh.names()
    assert "ep_plugin" not in sys.modules  # listed, not imported
    monkeypatch.setattr(registry.ALGORITHMS, "_loaded", registry.ALGORITHMS.loaded())  # the plugin registers here
    assert fresh.get("ep-loss").__name__ == "EpLoss"


def test_plugin_failing_on_import_names_its_file(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(registry.PluginError, match=r"broken.py: importing it raised RuntimeError: boom"):
        registry.load_plugins(["broken.py"], base_dir=tmp_path)


@pytest.mark.parametrize("processes", [2, 4])
def test_minibatches_are_the_same_groups_on_any_number_of_processes(processes):
    """The update phase's minibatches, as sets of global prompt positions, do not depend on the process
    count (the two-process PPO test checks the numbers; this checks every (step, epoch) cheaply)."""
    n, k, m = 8, 3, 2
    for step in range(5):
        for epoch in range(3):
            one = [sorted({row // k for row in rows}) for rows in minibatch_rows(n, k, m, 7, step, epoch, 0, 1)]
            many = [set() for _ in range(m)]
            for p in range(processes):
                for i, rows in enumerate(minibatch_rows(n, k, m, 7, step, epoch, p, processes)):
                    assert len(rows) % k == 0 and rows == sorted(rows)
                    many[i] |= {p + (row // k) * processes for row in rows}
            assert [sorted(s) for s in many] == one
            assert sorted(x for s in one for x in s) == list(range(n))
    assert minibatch_rows(n, k, m, 7, 0, 0, 0, 1) != minibatch_rows(n, k, m, 7, 0, 1, 0, 1)  # keyed by epoch


# ----------------------------------------------------------------------------- plug-ins on prefzoo.api alone
ONLINE_PLUGIN = '''
"""An online algorithm outside the package, with its own advantage estimator: REINFORCE whose baseline
is the batch's median score (a made-up estimator, to show the seam)."""
from dataclasses import dataclass

import torch

from prefzoo.api import AdvantageInput, Advantages, OnlineAlgorithm, OnlineConfig, register, sequence_advantages


def median_baseline(scores: torch.Tensor) -> torch.Tensor:
    return scores - scores.median()


@register("median-reinforce")
class MedianReinforce(OnlineAlgorithm):
    summary = "REINFORCE with the batch median as baseline (test plug-in)"
    paper = "none"

    @dataclass
    class Config(OnlineConfig):
        samples_per_prompt: int = 2

    def advantages(self, inp: AdvantageInput) -> Advantages:
        return sequence_advantages(median_baseline(inp.scores), inp.mask)
'''

PAIR_PLUGIN = '''
from dataclasses import dataclass

import torch

from prefzoo.api import LossOutput, Objective, logratio, pair_metrics, register


@register("api-hinge")
class ApiHinge(Objective):
    summary = "test plug-in: squared hinge on beta * h"
    paper = "none"

    @dataclass
    class Config:
        beta: float = 0.1

    def loss(self, policy, reference):
        r_w, r_l = logratio(policy, reference)
        per = torch.relu(1 - self.config.beta * (r_w - r_l)) ** 2
        return LossOutput(per.mean(), per.detach(), pair_metrics(r_w, r_l))
'''


def _imports_only_api(source: str) -> bool:
    return all(line.split()[1] == "prefzoo.api" for line in source.splitlines()
               if line.startswith(("from prefzoo", "import prefzoo")))


@pytest.mark.parametrize("plugin,name,params", [
    (PAIR_PLUGIN, "api-hinge", {"beta": 0.2}),
    (ONLINE_PLUGIN, "median-reinforce", {"reward": "rule:rules.py:words", "steps": 3, "prompts_per_step": 4,
                                         "max_new_tokens": 4}),
])
def test_plugin_on_the_api_alone_trains_through_a_recipe(tmp_path, plugin, name, params):
    assert _imports_only_api(plugin)
    (tmp_path / "plugin.py").write_text(plugin)
    (tmp_path / "rules.py").write_text("def words(prompt, response):\n    return float(len(response.split()))\n")
    recipe = {"algorithm": name, "plugins": ["plugin.py"], "params": params,
              "model": {"base": "tiny", "max_length": 64}, "data": {"path": str(PAIRS), "kind": "pairs"},
              "train": {"max_steps": 3, "batch_size": 4, "lr": 0.01, "progress": False,
                        "cache_dir": str(tmp_path / "cache")}}
    (tmp_path / "recipe.yaml").write_text(json.dumps(recipe))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "prefzoo.cli", "train", str(tmp_path / "recipe.yaml"), "--out",
                           str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) for r in rows)
