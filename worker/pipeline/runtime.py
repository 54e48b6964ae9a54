"""ONNX Runtime plumbing shared by the pipeline's models: providers, sessions, tokenisation.

No torch here (nor anywhere under ``worker/pipeline``): the worker runs ONNX models only.
Training imports :func:`load_tokenizer` and :func:`encode_batch` from here too, so that the
model sees the same token ids when it is trained and when it serves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
MAX_TOKENS = 128


class UnknownDevice(ValueError):
    """``device`` is none of auto, cuda, cpu."""

    def __init__(self, device: str) -> None:
        self.device = device
        super().__init__(f"unknown device {device!r}: use auto, cuda or cpu (TICKETFUSION_DEVICE)")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64, for stable probabilities."""
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top_k(probs: np.ndarray, labels: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most likely (label, probability) pairs of one distribution, most likely first
    (ties keep label order)."""
    best = np.argsort(-probs, kind="stable")[:k]
    return [(labels[j], float(probs[j])) for j in best]


def choose_providers(device: str = "auto") -> list[str]:
    """Execution providers to ask for: CUDA first when ONNX Runtime offers it (auto/cuda), else CPU."""
    import onnxruntime as ort

    device = (device or "auto").lower()
    if device not in ("auto", "cuda", "cpu"):
        raise UnknownDevice(device)
    available = ort.get_available_providers()
    if device in ("auto", "cuda") and CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        log.warning("device=cuda asked for but ONNX Runtime offers %s; using the CPU", available)
    return [CPU]


@dataclass(frozen=True)
class Session:
    """An ONNX Runtime session and the provider it actually runs on."""

    session: ort.InferenceSession
    provider: str
    path: Path


def make_session(path: Path, *, device: str = "auto", threads: int = 0) -> Session:
    """Open ``path`` with the chosen providers; ``threads`` = intra-op threads (0: ORT's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads and threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=choose_providers(device))
    provider = session.get_providers()[0]
    log.info("%s runs on %s", Path(path).name, provider)
    return Session(session=session, provider=provider, path=Path(path))


def load_tokenizer(path: Path, *, max_tokens: int = MAX_TOKENS):
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json``: truncates to ``max_tokens``, no padding
    (:func:`encode_batch` pads each batch to its longest member)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def encode_batch(tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask (int64, padded with 0 to the batch's longest text)."""
    encodings = tokenizer.encode_batch(list(texts))
    width = max((len(e.ids) for e in encodings), default=1) or 1
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
    return ids, mask


def length_batches(tokenizer, texts: list[str], batch_size: int) -> list[list[int]]:
    """Indices of ``texts`` grouped into batches of similar token length (less padding)."""
    lengths = [len(e.ids) for e in tokenizer.encode_batch(list(texts))]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
