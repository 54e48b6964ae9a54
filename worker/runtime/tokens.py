"""Tokenisation shared by training and serving, so a model sees the same ids in both."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_TOKENS = 128


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
