# syntax=docker/dockerfile:1
# One runtime image for every service: the workers, the HTTP API, Celery beat, Flower and the
# migration job (docker-compose.yml, deploy/kubernetes/). No torch and no test tools: `.[ops]` is the
# project plus Flower. Build the models first (`make models`): the image copies onnx_models/ as built.
#   make models && docker build -t ticketfusion:latest .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: a compiler for any dependency without a wheel for this platform ---------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY worker ./worker
COPY producers ./producers
# Silero VAD's package declares torch (and torchaudio) but the worker only reads its bundled ONNX
# file: it goes in without dependencies, as in the Makefile, so torch never enters the image.
RUN pip install --upgrade pip \
 && pip install ".[ops]" \
 && pip install --no-deps silero-vad==6.2.3

# --- runtime: the virtualenv, the models, a non-root user -----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# libgomp: OpenMP for the native wheels that expect the system's copy.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
ARG UID=10001
ARG GID=10001
# A named user with a fixed uid (Kubernetes' runAsNonRoot checks the number), a home for the caches
# the media stack writes (numba's, from librosa), and the state directory; nothing else is writable.
RUN groupadd --system --gid "${GID}" ticketfusion \
 && useradd --system --uid "${UID}" --gid "${GID}" --home-dir /home/ticketfusion --create-home \
      --shell /usr/sbin/nologin ticketfusion \
 && mkdir -p /var/lib/ticketfusion/blobs /home/ticketfusion/.cache/numba /home/ticketfusion/.cache/matplotlib \
 && chown -R "${UID}:${GID}" /var/lib/ticketfusion /home/ticketfusion
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY onnx_models ./onnx_models
COPY examples ./examples
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/ticketfusion \
    XDG_CACHE_HOME=/home/ticketfusion/.cache \
    NUMBA_CACHE_DIR=/home/ticketfusion/.cache/numba \
    MPLCONFIGDIR=/home/ticketfusion/.cache/matplotlib \
    TICKETFUSION_MODELS_DIR=/app/onnx_models \
    TICKETFUSION_STATE_DIR=/var/lib/ticketfusion \
    TICKETFUSION_BLOB_DIR=/var/lib/ticketfusion/blobs
USER ${UID}:${GID}
# 8080: the HTTP API; 9540: a worker's Prometheus metrics (TICKETFUSION_METRICS_PORT; internal networks only).
EXPOSE 8080 9540
CMD ["ticketfusion", "worker"]
