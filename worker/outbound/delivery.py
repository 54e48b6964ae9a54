"""One HTTP POST of one payload to one subscription, signed with our HMAC scheme.

The body is compact JSON with sorted keys, signed as sent (:func:`worker.signing.sign`: the
``X-Ticketfusion-Timestamp`` and ``X-Ticketfusion-Signature`` headers); ``Idempotency-Key`` and
``X-Ticketfusion-Delivery`` carry the delivery id, the same on every attempt, so a receiver can
drop a second copy. Redirects are not followed (a signed body is for the URL configured, not for
wherever a receiver points), at most a few KiB of the answer are read, and every failure is a
:class:`DeliveryFailed` that says whether trying again can help.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from worker.errors import TicketfusionError
from worker.outbound.subscriptions import Subscription
from worker.pii.redaction import redact_text
from worker.signing import sign

__all__ = ["DELIVERY_HEADER", "DeliveryFailed", "encode", "headers_for", "post"]

DELIVERY_HEADER = "X-Ticketfusion-Delivery"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "ticketfusion"
_RETRYABLE_STATUS = {408, 425, 429}
_MAX_ANSWER_BYTES = 2048


class DeliveryFailed(TicketfusionError):
    """A receiver did not accept a delivery. ``status`` is its HTTP status (None: no answer);
    ``retryable`` says whether a later attempt may succeed (network errors, 408, 429, 5xx) or
    not (other 4xx, redirects: the subscription or the payload needs a change, then a replay);
    ``retry_after`` is the receiver's Retry-After in seconds, when it sent one."""

    code = "delivery_failed"

    def __init__(self, status: int | None, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        self.status, self.reason, self.retryable, self.retry_after = status, reason, retryable, retry_after
        super().__init__(f"HTTP {status} {reason}" if status is not None else reason)


def encode(payload: dict[str, Any]) -> bytes:
    """The body as sent and signed: compact JSON, keys sorted, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def headers_for(subscription: Subscription, body: bytes, *, delivery_id: str,
                timestamp: int | None = None) -> dict[str, str]:
    """Every header of a delivery: content type, user agent, idempotency key, signature."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        IDEMPOTENCY_HEADER: delivery_id,
        DELIVERY_HEADER: delivery_id,
        **sign(subscription.secret, body, timestamp=timestamp),
    }


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _answer(response: httpx.Response) -> str:
    """The start of the receiver's answer, on one line and masked (it may echo what we sent)."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_ANSWER_BYTES:
            break
    text = b"".join(chunks)[:_MAX_ANSWER_BYTES].decode("utf-8", errors="replace")
    text = " ".join(redact_text(text).split())[:200]
    return f": {text}" if text else ""


def _judge(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    phrase = response.reason_phrase or "error"
    if 300 <= status < 400:
        location = response.headers.get("location", "")[:200]
        raise DeliveryFailed(
            status,
            f"{phrase}: redirect to {location!r} not followed; point the subscription at the final URL",
            retryable=False,
        )
    retryable = status in _RETRYABLE_STATUS or status >= 500
    raise DeliveryFailed(
        status,
        phrase + _answer(response),
        retryable=retryable,
        retry_after=_retry_after(response.headers.get("retry-after")) if retryable else None,
    )


def post(subscription: Subscription, payload: dict[str, Any], *, delivery_id: str,
         client: httpx.Client | None = None) -> None:
    """POST ``payload`` to the subscription; returns when the receiver answers 2xx.

    Raises :class:`DeliveryFailed` otherwise. ``client`` lets a caller share a connection pool;
    the subscription's ``timeout_s`` bounds connecting, each write and each read.
    """
    body = encode(payload)
    headers = headers_for(subscription, body, delivery_id=delivery_id)
    timeout = httpx.Timeout(subscription.timeout_s)
    own = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        with http.stream("POST", subscription.url, content=body, headers=headers, timeout=timeout,
                         follow_redirects=False) as response:
            _judge(response)
    except httpx.TimeoutException:
        raise DeliveryFailed(
            None, f"no answer within {subscription.timeout_s:g} s from {subscription.name!r}", retryable=True
        ) from None
    except httpx.RequestError as error:  # connection, TLS, protocol or decoding trouble
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise DeliveryFailed(
            None, f"network error reaching {subscription.name!r} ({type(error).__name__}): {detail}", retryable=True
        ) from None
    finally:
        if own:
            http.close()
