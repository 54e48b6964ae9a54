"""HMAC-SHA256 signatures for webhooks, both ways: verifying help desks' and signing our own.

Two schemes. Zendesk's: ``X-Zendesk-Webhook-Signature`` is base64(HMAC-SHA256(secret, timestamp +
body)) with the timestamp in ``X-Zendesk-Webhook-Signature-Timestamp``. Ours (generic, for every
other source and for the results we send): ``X-Ticketfusion-Timestamp`` holds Unix seconds and
``X-Ticketfusion-Signature`` is ``sha256=`` + hex(HMAC-SHA256(secret, timestamp + "." + body)).
Digests are compared in constant time, and a timestamp outside the replay window is refused, so
a captured request cannot be sent again later (a request replayed *within* the window is caught
by the caller's memory of signatures seen, :class:`SignatureReplayed`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from worker.errors import TicketfusionError

TIMESTAMP_HEADER = "X-Ticketfusion-Timestamp"
SIGNATURE_HEADER = "X-Ticketfusion-Signature"
ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
PREFIX = "sha256="


class SignatureError(TicketfusionError, ValueError):
    """A webhook's signature does not prove it came from the source; the message says why."""

    code = "bad_signature"


class SignatureMissing(SignatureError):
    code = "signature_missing"


class SignatureMismatch(SignatureError):
    code = "signature_mismatch"


class SignatureExpired(SignatureError):
    code = "signature_expired"


class SignatureReplayed(SignatureError):
    code = "signature_replayed"


@dataclass(frozen=True)
class Verified:
    """A signature that checked out: what to remember so the same request is not taken twice."""

    signature: str
    timestamp: float


def _digest(secret: str | bytes, message: bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).digest()


def sign(secret: str | bytes, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers that sign ``body`` with our generic scheme."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    mac = _digest(secret, stamp.encode() + b"." + body).hex()
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: PREFIX + mac}


def sign_zendesk(secret: str | bytes, body: bytes, *, timestamp: str) -> dict[str, str]:
    """The headers Zendesk would send for ``body`` (for tests and for replaying captured calls)."""
    mac = base64.b64encode(_digest(secret, timestamp.encode() + body)).decode()
    return {ZENDESK_SIGNATURE: mac, ZENDESK_TIMESTAMP: timestamp}


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get(name.lower(), "").strip()
    if not value:
        raise SignatureMissing(f"the {name} header is missing: sign the request (see docs/api.md)")
    return value


def _check_age(stamp: float, *, now: float, window_s: float) -> None:
    if abs(now - stamp) > window_s:
        raise SignatureExpired(
            f"the signature's timestamp is {abs(now - stamp):.0f} s from now; requests older (or newer) "
            f"than {window_s:.0f} s are refused as possible replays: check the sender's clock"
        )


def verify(secret: str | bytes, body: bytes, headers: Mapping[str, str], *, window_s: float = 300.0,
           now: float | None = None) -> Verified:
    """Check our generic scheme; raises a :class:`SignatureError` naming the problem."""
    stamp_text = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    try:
        stamp = float(int(stamp_text))
    except (ValueError, OverflowError):
        raise SignatureMismatch(f"{TIMESTAMP_HEADER} must be Unix seconds, got {stamp_text[:40]!r}") from None
    _check_age(stamp, now=time.time() if now is None else now, window_s=window_s)
    expected = PREFIX + _digest(secret, stamp_text.encode() + b"." + body).hex()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureMismatch(f"{SIGNATURE_HEADER} does not match the body: check the secret and sign the raw body")
    return Verified(given, stamp)


def verify_zendesk(secret: str | bytes, body: bytes, headers: Mapping[str, str], *, window_s: float = 300.0,
                   now: float | None = None) -> Verified:
    """Check Zendesk's scheme; raises a :class:`SignatureError` naming the problem."""
    stamp_text = _header(headers, ZENDESK_TIMESTAMP)
    given = _header(headers, ZENDESK_SIGNATURE)
    try:
        stamp = datetime.fromisoformat(stamp_text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SignatureMismatch(f"{ZENDESK_TIMESTAMP} is not an ISO 8601 time: {stamp_text[:40]!r}") from None
    _check_age(stamp, now=time.time() if now is None else now, window_s=window_s)
    expected = base64.b64encode(_digest(secret, stamp_text.encode() + body))
    if not hmac.compare_digest(expected, given.encode()):
        raise SignatureMismatch(f"{ZENDESK_SIGNATURE} does not match the body: check the webhook's signing secret")
    return Verified(given, stamp)
