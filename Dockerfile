# Worker image: the runtime only (no torch). Build the models first (`make models`), since the
# image copies onnx_models/ as built.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY producers ./producers
RUN pip install ".[dev]" && pip install --no-deps silero-vad==6.2.3
COPY onnx_models ./onnx_models
COPY examples ./examples
ENV TICKETFUSION_MODELS_DIR=/app/onnx_models TICKETFUSION_STATE_DIR=/var/lib/ticketfusion \
    TICKETFUSION_BLOB_DIR=/var/lib/ticketfusion/blobs
USER nobody
CMD ["ticketfusion", "worker"]
