"""Customer ids from a requester's e-mail address or phone number, without keeping either.

The contract forbids an e-mail address as an id (ids travel into logs, Redis and the CRM), so a
requester known only by address or number becomes a keyed hash of it. The hash is not prefixed
by the help desk: the same address gives the same customer id from Zendesk, Freshdesk, any
other mapping or an e-mail (``producers.email.identity`` calls this function too), so one
customer's history stays one history. Set ``customer_hash_key`` so that nobody can confirm a
guessed address by hashing it.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers

__all__ = ["hash_customer", "looks_like_contact"]

_PHONE_SHAPE = re.compile(r"^\+?[\d\s().-]{7,}$")
_INTERNATIONAL = re.compile(r"^\+\d[\d\s().-]{5,}$")


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
