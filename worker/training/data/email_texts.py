"""E-mail-shaped training texts: what the intent model reads of an e-mail, cleaned or not.

A request wrapped in a training-part e-mail (:mod:`worker.training.data.synthetic.emails`) gives
two texts: the cleaned one (:func:`worker.text.cleaning.clean_ticket`, what the worker reads) and,
for some, the e-mail as written, so that a greeting, signature or quote line the cleaner misses on
a help desk's real mail is a residue the model has seen, not one that throws it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from worker.text.cleaning import clean_ticket
from worker.training.data.synthetic.emails import email_tickets


def email_texts(requests: Sequence[str], targets: Sequence[str], *, share: float, raw_share: float, seed: int,
                part: Literal["train", "val"] = "train") -> tuple[list[str], list[str]]:
    """For a ``share`` of the requests, the text the models read of its e-mail (of those, a
    ``raw_share`` as written, subject and body); with their targets."""
    rng = random.Random(seed)
    chosen = [i for i in range(len(requests)) if rng.random() < share]
    emails = email_tickets([requests[i] for i in chosen], seed=seed, part=part)
    texts = []
    for email in emails:
        if rng.random() < raw_share:
            texts.append(". ".join(p for p in (email.subject, email.body) if p))
        else:
            texts.append(clean_ticket(email.subject, email.body).text)
    return texts, [targets[i] for i in chosen]


__all__ = ["email_texts"]
