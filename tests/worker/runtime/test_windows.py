"""Long texts read as windows, and their distributions combined."""

from __future__ import annotations

import numpy as np

from worker.runtime import MAX_TOKENS, WINDOW_STRIDE, combine_windows, load_tokenizer, windows
from worker.training.models.text import base_model_path


def _tokenizer():
    return load_tokenizer(base_model_path() / "tokenizer.json", max_tokens=MAX_TOKENS, stride=WINDOW_STRIDE)


def test_a_short_text_is_one_window() -> None:
    """A text that fits the encoder is read as it is, once."""
    rows, owners = windows(_tokenizer(), ["my card has not arrived", "where is my money"])
    assert owners == [0, 1] and all(len(row) < 20 for row in rows)


def test_a_long_text_is_read_in_full_as_sentence_windows() -> None:
    """Every word of a text past the encoder's length lands in some window of at most 64 tokens."""
    tokenizer = _tokenizer()
    text = " ".join(f"Sentence number {i} says something about topic {i}." for i in range(40))
    rows, owners = windows(tokenizer, [text])
    assert len(rows) > 3 and set(owners) == {0} and max(len(row) for row in rows) <= 64
    read = " ".join(tokenizer.decode(row) for row in rows)
    assert all(f"topic {i}." in read for i in range(40))


def test_the_surest_window_decides_without_becoming_surer() -> None:
    """One confident window outweighs two vague ones, and the result is never above its confidence."""
    sure = np.array([0.96, 0.02, 0.02])
    vague = np.array([0.1, 0.6, 0.3])
    combined = combine_windows(np.stack([vague, sure, vague]))
    assert combined.argmax() == 0 and combined.max() <= 0.96 and abs(combined.sum() - 1) < 1e-9
    assert np.allclose(combine_windows(sure[None, :]), sure)
