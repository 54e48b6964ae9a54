"""ONNX Runtime plumbing shared by every model: providers, sessions, tokenisation, probabilities.

No torch here (nor anywhere the worker imports): the worker runs ONNX models only. Training
imports :func:`load_tokenizer` and :func:`encode_batch` from here too, so that a model sees the
same token ids when it is trained and when it serves.
"""

from worker.errors import UnknownDevice
from worker.runtime.probabilities import combine_windows, softmax, top_k
from worker.runtime.sessions import CPU, CUDA, Session, choose_providers, make_session
from worker.runtime.tokens import (
    MAX_TOKENS,
    SENTENCE_END,
    WINDOW_STRIDE,
    encode_batch,
    length_batches,
    load_tokenizer,
    pad_ids,
    windows,
)

__all__ = [
    "CPU",
    "CUDA",
    "MAX_TOKENS",
    "SENTENCE_END",
    "WINDOW_STRIDE",
    "Session",
    "UnknownDevice",
    "choose_providers",
    "combine_windows",
    "encode_batch",
    "length_batches",
    "load_tokenizer",
    "make_session",
    "pad_ids",
    "softmax",
    "top_k",
    "windows",
]
