# servegate: `make report` runs the main job, `make test` the test suite. `make help` lists all.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# A recipe that fails never leaves an output that looks done.
.DELETE_ON_ERROR:

PYTHON ?= python3
ENGINE ?= cpu
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-$(ENGINE).stamp
WHEELHOUSE := $(VENV)/wheelhouse
PARAMS ?= params/cpu_default.yaml
MANIFEST ?= data/models/smollm2-135m-instruct.json
RUN ?=
PYTEST_ARGS ?=
LAB_ARGS ?=

.PHONY: help setup system model wheelhouse report render smoke test test-all test-fast lint format lab notebooks bench search sweep aggregate quarterly selftest verify lock clean

help: ## list the targets
	@echo "servegate — quick start: make report (main job), make test (test suite)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "variables: ENGINE=cpu|gpu  TORCH_INDEX_URL=<CPU torch index>  PARAMS=params/X.yaml  SWEEP=params/sweeps/X.yaml  RUN=eval/results/<id>  PYTHON=python3.11"

$(STAMP): requirements.txt requirements-engine-$(ENGINE).txt $(wildcard requirements-lock-$(ENGINE).txt) pyproject.toml scripts/setup_env.sh
	PYTHON=$(PYTHON) VENV=$(VENV) TORCH_INDEX_URL="$(TORCH_INDEX_URL)" scripts/setup_env.sh $(ENGINE)
	@touch $@

setup: $(STAMP) ## build .venv (pinned, plain pip) and the system packages; a second run does nothing
	@scripts/setup_system.sh
	@echo "setup: $(VENV) is up to date with the $(ENGINE) requirements"

system: ## install chromium, poppler-utils (the PDF report) and promtool (alert rule checks) with apt-get (root)
	@scripts/setup_system.sh

# The packaging test installs servegate into a fresh venv offline from these wheels.
$(WHEELHOUSE)/.done: $(STAMP) pyproject.toml
	VENV=$(VENV) scripts/setup_wheelhouse.sh $(ENGINE)
	@touch $@

wheelhouse: $(WHEELHOUSE)/.done ## collect the wheels `pip install .` needs (for the packaging test)

model: setup ## build or verify the embedded SmolLM2 model folder against its manifest
	$(VENV)/bin/servegate model ensure --manifest $(MANIFEST)

report: model ## main job: local vLLM + hosted (same workload) benchmarks, history, reports/latest.{html,pdf}
	$(VENV)/bin/servegate report --params $(PARAMS)

render: setup ## re-render the report from the saved runs (no benchmark)
	$(VENV)/bin/servegate report --no-bench

smoke: model ## start vLLM, answer one prompt, read /metrics, stop
	$(VENV)/bin/servegate smoke --params $(PARAMS)

bench: model ## one benchmark: make bench PARAMS=params/X.yaml (run folder in eval/results/)
	$(VENV)/bin/servegate bench --params $(PARAMS)

# The search's own example unless PARAMS is given: its `search` block fits this CPU machine.
SEARCH_PARAMS = $(if $(filter command line environment,$(origin PARAMS)),$(PARAMS),params/search_cpu.yaml)

search: model ## capacity search: make search PARAMS=params/X.yaml (a params file + `search` block)
	$(VENV)/bin/servegate search --params $(SEARCH_PARAMS)

SWEEP ?= params/sweeps/cpu_flags.yaml

sweep: model ## server-setting sweep: make sweep SWEEP=params/sweeps/X.yaml (re-run: resumes)
	$(VENV)/bin/servegate sweep $(SWEEP)

aggregate: setup ## rebuild eval/reports/aggregate_history.csv from the run folders
	$(VENV)/bin/servegate aggregate

quarterly: model ## the scheduled re-run: params/quarterly.yaml + hosted, history, report
	$(VENV)/bin/servegate report --params params/quarterly.yaml

selftest: setup ## measure the load generator against the calibration server
	$(VENV)/bin/servegate selftest

# `make test` keeps to 15 minutes on a 2-core machine: every tier but the tests marked slow
# (minutes each: vLLM's fault lifecycles, sweeps, the model rebuild, the soak), which
# `make test-all` adds. An empty selection (pytest exit 5) is not a failure.
test: model wheelhouse ## set up, mypy, then the suite: unit, notebooks, packaging, real vLLM (not the slow tier)
	$(PY) -m mypy
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-all: model wheelhouse ## make test plus the slow tier (vLLM crash/OOM/interrupt, sweeps, model rebuild, soak)
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup ## the unit tests only (minutes); an empty selection (pytest exit 5) is not a failure
	$(PY) -m pytest -m "not vllm and not slow and not notebooks" $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: setup ## ruff check and format check, then mypy on lib ([tool.mypy] in pyproject.toml)
	$(PY) -m ruff check lib tests
	$(PY) -m ruff format --check lib tests
	$(PY) -m mypy

format: setup ## ruff format and autofix
	$(PY) -m ruff format lib tests
	$(PY) -m ruff check --fix lib tests

# Lab's root is the project (so every file is browsable), opened on notebooks/; its kernels run
# in notebooks/, and servegate reads relative paths from the project root (core/paths.py).
lab: model ## open JupyterLab on the notebooks (LAB_ARGS=--no-browser on a headless machine)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks $(LAB_ARGS)

notebooks: $(STAMP) ## rewrite notebooks/0*.ipynb from scripts/make_notebooks.py (outputs cleared)
	$(PY) scripts/make_notebooks.py

verify: setup ## re-check a run's manifest against this machine (RUN=eval/results/<id>, default newest)
	$(VENV)/bin/servegate verify $(RUN)

# cpu: frozen from .venv; gpu: resolved from PyPI's metadata without installing (scripts/lock.sh).
lock: $(if $(filter cpu,$(ENGINE)),setup) ## write requirements-lock-<engine>.txt (ENGINE=gpu: resolved from PyPI, installs nothing)
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/lock.sh $(ENGINE)

clean: ## remove .venv, built model folders and caches (never results, history or reports)
	rm -rf $(VENV) data/models/*/ data/models/.cache logs .pytest_cache .ruff_cache
