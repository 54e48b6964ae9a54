"""Stable ids for e-mail tickets, threads and customers, none of which shows an address.

The ticket id is the idempotency key of every effect downstream, so the same message must give
the same id however often it is converted (a re-run, an IMAP redelivery): it comes from the
Message-ID, or, without one, from the headers and text that identify the message. A customer id
may not be an e-mail address (the contract forbids ``@``; addresses are personal data), so it is an
HMAC of the lower-cased address under ``settings.customer_hash_key``: the same sender always
maps to the same customer, and without the key the id cannot be reversed by hashing guesses.
"""

from __future__ import annotations

import hashlib

from producers.mappings.customers import hash_customer

PREFIX = "email-"
_DIGITS = 32  # 128 bits: collisions are not a concern at any mailbox's scale


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:_DIGITS]


def message_key(message_id: str) -> str:
    """The id for a normalised Message-ID (also used for the thread root's id)."""
    return PREFIX + _digest("message-id:" + message_id)


def ticket_id_for(message_id: str | None, *, sender: str, date: str, subject: str, body: str) -> str:
    """From the Message-ID when there is one; else from what identifies the message's content."""
    if message_id:
        return message_key(message_id)
    fallback = "\x1f".join(("no-message-id", sender.strip().lower(), date.strip(), subject.strip(), body.strip()))
    return PREFIX + _digest(fallback)


def thread_id_for(references: list[str], in_reply_to: list[str], *, ticket_id: str) -> str:
    """The thread's root: the first id in References, else In-Reply-To, else this message."""
    roots = references or in_reply_to
    return message_key(roots[0]) if roots else ticket_id


def customer_id_for(address: str | None, *, key: str) -> str:
    """``email-`` and an HMAC-SHA256 of the lower-cased address (the one formula every door uses,
    :func:`producers.mappings.customers.hash_customer`); one id for unknown senders."""
    if not address or not address.strip():
        return PREFIX + "unknown-sender"
    return hash_customer(address, key=key)
