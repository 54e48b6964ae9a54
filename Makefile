# Two commands for a newcomer: `make run` and `make test`. Each creates .venv, installs the project
# into it and builds the models when they are missing; both are idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ticketfusion-installed
GPU_STAMP := $(VENV)/.ticketfusion-gpu-installed
PYTHON ?= python3
# Debian packages for `ticketfusion data synth` only: a speech synthesizer and more fonts.
SYNTH_PACKAGES := espeak-ng fonts-liberation fonts-freefont-ttf fonts-roboto-unhinted fonts-open-sans

.PHONY: install install-gpu models run test bench synth-tools clean

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
	# A GPU environment stays one: the install above put the CPU onnxruntime back beside onnxruntime-gpu.
	if [ -e $(GPU_STAMP) ]; then $(ORT_GPU_ONLY) && touch $(GPU_STAMP); fi

install: $(STAMP)

# On a machine with an NVIDIA GPU (docs/gpu.md): `make install` plus the `gpu` extra, leaving
# onnxruntime-gpu *instead of* onnxruntime. The two distributions are one `onnxruntime` module: side
# by side, the later one's files overwrite the other's, and uninstalling either breaks the import.
# So the extra is installed (pip resolves onnxruntime-gpu's version and its dependencies), then
# ORT_GPU_ONLY removes both and puts that version back alone. `pip check` then reports ticketfusion's
# onnxruntime requirement as unmet: expected, onnxruntime-gpu provides the module.
ORT_GPU_ONLY = ort_gpu=$$($(PY) -c 'from importlib.metadata import version; print(version("onnxruntime-gpu"))') \
	&& $(PY) -m pip uninstall -q -y onnxruntime onnxruntime-gpu \
	&& $(PY) -m pip install -q --no-deps "onnxruntime-gpu==$$ort_gpu"

$(GPU_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[gpu]"
	$(ORT_GPU_ONLY)
	$(PY) -c 'import onnxruntime as ort, ctranslate2 as ct; print("onnxruntime-gpu", ort.__version__, ort.get_available_providers(), "| GPUs CTranslate2 sees:", ct.get_cuda_device_count())'
	touch $(GPU_STAMP)

install-gpu: $(GPU_STAMP)

models: $(STAMP)
	$(VENV)/bin/ticketfusion models build

run: models
	$(VENV)/bin/ticketfusion run

test: models
	$(PY) -m pytest -ra

bench: models
	$(PY) -m worker.benchmarks.bench --out docs/performance.md
	$(PY) -m worker.benchmarks.media --out docs/performance-media.md
	$(PY) -m worker.benchmarks.throughput --out docs/performance.md
	$(PY) -m worker.benchmarks.enrichment --url sqlite:///var/bench-enrich.db && rm -f var/bench-enrich.db*
	$(PY) -m worker.benchmarks.api_bench --out docs/performance.md $(if $(shell pg_isready -h 127.0.0.1 -q && echo up),--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test)

# Only `ticketfusion data synth` (training data) needs these; the worker never does.
synth-tools:
	command -v espeak-ng >/dev/null && [ -d /usr/share/fonts/truetype/liberation ] || (apt-get install -y $(SYNTH_PACKAGES) || (apt-get update && apt-get install -y $(SYNTH_PACKAGES)))

clean:
	rm -rf var .pytest_cache
