# Two commands for a newcomer: `make run` and `make test`. Each creates .venv, installs the project
# into it and builds the models when they are missing; both are idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ticketfusion-installed
PYTHON ?= python3

.PHONY: install models run test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first, by exact version, so no multi-GB CUDA build is pulled in.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[train,dev]"
	touch $(STAMP)

install: $(STAMP)

models: $(STAMP)
	$(VENV)/bin/ticketfusion models build

run: models
	$(VENV)/bin/ticketfusion run

test: models
	$(PY) -m pytest -ra

bench: models
	$(PY) -m worker.training.bench --out docs/performance.md

clean:
	rm -rf var .pytest_cache
