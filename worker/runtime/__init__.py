"""ONNX Runtime plumbing shared by every model: providers, sessions, tokenisation, probabilities.

No torch here (nor anywhere the worker imports): the worker runs ONNX models only. Training
imports :func:`load_tokenizer` and :func:`encode_batch` from here too, so that a model sees the
same token ids when it is trained and when it serves.
"""

from worker.errors import UnknownDevice
from worker.runtime.probabilities import softmax, top_k
from worker.runtime.sessions import CPU, CUDA, Session, choose_providers, make_session
from worker.runtime.tokens import (
    MAX_TOKENS,
    encode_batch,
    length_batches,
    load_tokenizer,
)

__all__ = [
    "CPU",
    "CUDA",
    "MAX_TOKENS",
    "Session",
    "UnknownDevice",
    "choose_providers",
    "encode_batch",
    "length_batches",
    "load_tokenizer",
    "make_session",
    "softmax",
    "top_k",
]
