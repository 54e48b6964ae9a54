"""Keyed hashes of e-mail addresses and phone numbers: one person's identity, never kept in clear.

Two uses share one function so that they agree: a producer turns a requester known only by
address or number into a customer id (``email-<hex>``, ``phone-<hex>``), and the worker hashes the
addresses and numbers a ticket mentions, so that a chat customer who writes "I e-mailed you from
ada@example.com" can be linked to the e-mail customer of that address (:mod:`worker.crm.links`).
The HMAC key (``TICKETFUSION_CUSTOMER_HASH_KEY``) keeps anyone from confirming a guessed address
by hashing it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from worker.pii.emails import email_matches
from worker.pii.finders import phone_spans

__all__ = ["Identity", "hash_customer", "identities_in", "identity_of_customer_id", "looks_like_contact"]

_PHONE_SHAPE = re.compile(r"^\+?[\d\s().-]{7,}$")
_INTERNATIONAL = re.compile(r"^\+\d[\d\s().-]{5,}$")
_DIGEST_ID = re.compile(r"^(email|phone)-[0-9a-f]{32}$")


@dataclass(frozen=True, order=True)
class Identity:
    """An address or number as its keyed hash: ``kind`` is ``email`` or ``phone``, ``digest`` the
    customer id that address or number would have."""

    kind: str
    digest: str


def _normalise(value: str, region: str) -> tuple[str, str]:
    """(kind, canonical form): an address in lower case, a phone number in E.164 when it parses."""
    text = value.strip()
    if "@" in text:
        return "email", text.strip("<>").lower()
    if _PHONE_SHAPE.match(text) and sum(ch.isdigit() for ch in text) >= 7:
        try:
            number = phonenumbers.parse(text, region or None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            return "phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return "phone", re.sub(r"[^\d+]", "", text)
    return "id", text.lower()


def hash_customer(value: str, *, key: str = "", region: str = "GB") -> str:
    """``email-<32 hex>``, ``phone-<32 hex>`` or ``id-<32 hex>``: an HMAC-SHA256 under ``key`` of
    the normalised value, so differently written forms of one address or number agree."""
    kind, canonical = _normalise(str(value), region)
    label = b"customer:" if kind == "email" else f"customer-{kind}:".encode()
    digest = hmac.new(key.encode("utf-8"), label + canonical.encode("utf-8", errors="surrogatepass"), hashlib.sha256)
    return f"{kind}-{digest.hexdigest()[:32]}"


def looks_like_contact(value: str) -> bool:
    """True for an e-mail address or an international phone number, which must not be an id."""
    text = value.strip()
    return "@" in text or bool(_INTERNATIONAL.match(text))


def identity_of_customer_id(customer_id: str) -> Identity | None:
    """The identity a customer id already is, when a producer made it from an address or number."""
    match = _DIGEST_ID.match(customer_id)
    return Identity(match.group(1), customer_id) if match else None


def identities_in(texts: Iterable[str], *, key: str = "", region: str = "GB") -> list[Identity]:
    """The hashed e-mail addresses and valid phone numbers written in ``texts``, each once, sorted.

    Only numbers libphonenumber holds valid count: an order number shaped like a phone number
    must not join two strangers' histories.
    """
    found: set[Identity] = set()
    for text in texts:
        if not text:
            continue
        for _start, _end, address in email_matches(text):
            if "@" in address or "\uff20" in address:
                found.add(Identity("email", hash_customer(address.replace("\uff20", "@"), key=key, region=region)))
        for span in phone_spans(text, region=region, valid_only=True):
            if span.value:
                found.add(Identity("phone", hash_customer(span.value, key=key, region=region)))
    return sorted(found)
