# Two commands for a newcomer: `make run` and `make test`. Each creates .venv, installs the project
# into it and builds the models when they are missing; both are idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ticketfusion-installed
PYTHON ?= python3
# Debian packages for `ticketfusion data synth` only: a speech synthesizer and more fonts.
SYNTH_PACKAGES := espeak-ng fonts-liberation fonts-freefont-ttf fonts-roboto-unhinted fonts-open-sans

.PHONY: install models run test bench synth-tools clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first, by exact version, so no multi-GB CUDA build is pulled in.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[train,dev]"
	# Silero VAD's package declares torch (and torchaudio) but the worker only reads its bundled
	# ONNX file: install it without dependencies so a worker image never pulls torch in.
	$(PY) -m pip install -q --no-deps silero-vad==6.2.3
	touch $(STAMP)

install: $(STAMP)

models: $(STAMP)
	$(VENV)/bin/ticketfusion models build

run: models
	$(VENV)/bin/ticketfusion run

test: models
	$(PY) -m pytest -ra

bench: models
	$(PY) -m worker.benchmarks.bench --out docs/performance.md
	$(PY) -m worker.benchmarks.media --out docs/performance-media.md
	$(PY) -m worker.benchmarks.enrichment --url sqlite:///var/bench-enrich.db && rm -f var/bench-enrich.db*
	$(PY) -m worker.benchmarks.api_bench --out docs/performance.md $(if $(shell pg_isready -h 127.0.0.1 -q && echo up),--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test)

# Only `ticketfusion data synth` (training data) needs these; the worker never does.
synth-tools:
	command -v espeak-ng >/dev/null && [ -d /usr/share/fonts/truetype/liberation ] || (apt-get install -y $(SYNTH_PACKAGES) || (apt-get update && apt-get install -y $(SYNTH_PACKAGES)))

clean:
	rm -rf var .pytest_cache
