"""E-mail-shaped training texts: cleaned or as written, with their targets."""

from __future__ import annotations

import re

from worker.training.data.email_texts import email_texts

REQUESTS = [f"my card number {i} has not arrived yet" for i in range(200)]
TARGETS = [f"label_{i % 3}" for i in range(200)]


def test_a_share_of_requests_comes_back_as_e_mail_texts_with_their_targets() -> None:
    """About ``share`` of the requests come back, each with its own target and its request inside."""
    texts, targets = email_texts(REQUESTS, TARGETS, share=0.5, raw_share=0.0, seed=3)
    assert 70 < len(texts) < 130 and len(texts) == len(targets)
    for text, target in zip(texts, targets):
        number = int(re.search(r"number\s+(\d+)\b", text).group(1))  # the request may wrap over two lines
        assert target == TARGETS[number]


def test_raw_e_mails_keep_what_cleaning_removes() -> None:
    """As written, the texts are longer than cleaned, and deterministic for a seed."""
    cleaned, _ = email_texts(REQUESTS, TARGETS, share=1.0, raw_share=0.0, seed=3)
    raw, _ = email_texts(REQUESTS, TARGETS, share=1.0, raw_share=1.0, seed=3)
    assert sum(map(len, raw)) > 1.5 * sum(map(len, cleaned))
    assert email_texts(REQUESTS, TARGETS, share=1.0, raw_share=0.5, seed=3) == \
        email_texts(REQUESTS, TARGETS, share=1.0, raw_share=0.5, seed=3)
