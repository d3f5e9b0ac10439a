# `make quickstart`: set up .venv and run the main job (into runs/quickstart; the committed results/quickstart
# came from the same command with --out results/quickstart).  `make test`: set up and run the tests; `make lint`: ruff.
# The test extra brings what the tests need beyond the package: trl (the parity reference), the wandb,
# tensorboard and gguf extras, and ruff.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CORE   := $(VENV)/.prefzoo-core
STAMP  := $(VENV)/.prefzoo-installed

.PHONY: setup quickstart test test-slow lint bench clean

# what the default job imports (torch, transformers, peft, datasets, accelerate, matplotlib): `make quickstart`
# installs only this; the test extra (trl, the tracker extras, ruff, vaderSentiment) comes with `make test`
# pip takes torch from the CPU wheel this environment carries (a looser range would pull a multi-GB CUDA build)
# and installs uv, which resolves and installs the rest in seconds (measured: 3 s against pip's 55 s for the
# core, the same versions); plain pip is the fallback where uv cannot run
UV     := $(VENV)/bin/uv pip install -q --python $(PY)
$(CORE): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0 uv
	$(UV) -e . || $(PY) -m pip install -q -e .
	@touch $(CORE)

$(STAMP): $(CORE)
	$(UV) -e '.[test]' || $(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

# one thread: the toy world's models are tiny, and a second OpenMP thread on a busy 2-core machine made
# each training step up to 7x slower (benchmarked: 0.72 s -> 5.5 s); use OMP_NUM_THREADS=2 on an idle one
quickstart: $(CORE)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VENV)/bin/prefzoo compare recipes/quickstart.yaml --out runs/quickstart

test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q

test-slow: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m slow

lint: setup
	$(PY) -m ruff check prefzoo tests benchmarks

# caches (the toy base, reference log-probs, AI labels) live in $PREFZOO_CACHE (default ~/.cache/prefzoo)
clean:
	rm -rf runs
