"""Tokenisation shared by training and serving, so a model sees the same ids in both."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

MAX_TOKENS = 128
#: Tokens that consecutive windows of one over-long sentence share, so none is only ever seen cut.
WINDOW_STRIDE = 32
#: A long text's sentence windows: the length the text models were trained on.
WINDOW_TOKENS = 64
#: Where one sentence ends and the next begins, for every reader that goes sentence by sentence.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def load_tokenizer(path: Path, *, max_tokens: int = MAX_TOKENS, stride: int = 0):
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json``: truncates to ``max_tokens`` (what is cut
    is kept as overlapping windows in ``encoding.overflowing`` when ``stride`` is set), no padding
    (:func:`encode_batch` pads each batch to its longest member)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_tokens, stride=stride)
    return tokenizer


def pad_ids(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask (int64, padded with 0 to the longest row)."""
    width = max((len(row) for row in rows), default=1) or 1
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for index, row in enumerate(rows):
        ids[index, :len(row)] = row
        mask[index, :len(row)] = 1
    return ids, mask


def encode_batch(tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask (int64, padded with 0 to the batch's longest text)."""
    return pad_ids([encoding.ids for encoding in tokenizer.encode_batch(list(texts))])


def windows(tokenizer, texts: list[str], *, window_tokens: int = WINDOW_TOKENS) -> tuple[list[list[int]], list[int]]:
    """Every text as one or more windows of token ids, and the index of the text each belongs to.

    A text that fits the encoder is one window. A longer one is read in full as windows of whole
    sentences of at most ``window_tokens`` (the length the models were trained on), so that a
    request is not averaged away among paragraphs of context; a sentence longer than that is cut
    into overlapping windows (a tokenizer loaded with a ``stride``)."""
    rows: list[list[int]] = []
    owners: list[int] = []
    for index, encoding in enumerate(tokenizer.encode_batch(list(texts))):
        if not encoding.overflowing:
            rows.append(encoding.ids)
            owners.append(index)
            continue
        for chunk in _sentence_chunks(tokenizer, texts[index], window_tokens):
            for window in (chunk, *chunk.overflowing):
                rows.append(window.ids)
                owners.append(index)
    return rows, owners


def _sentence_chunks(tokenizer, text: str, window_tokens: int) -> list:
    """Consecutive sentences packed into encodings of at most ``window_tokens`` tokens each."""
    sentences = [s for s in SENTENCE_END.split(text) if s.strip()]
    sizes = [len(e.ids) - 2 for e in tokenizer.encode_batch(sentences)]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for sentence, n in zip(sentences, sizes):
        if current and size + n > window_tokens - 2:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(sentence)
        size += n
    if current:
        chunks.append(" ".join(current))
    return tokenizer.encode_batch(chunks)


def length_batches(tokenizer, texts: list[str], batch_size: int) -> list[list[int]]:
    """Indices of ``texts`` grouped into batches of similar token length (less padding)."""
    lengths = [len(e.ids) for e in tokenizer.encode_batch(list(texts))]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
