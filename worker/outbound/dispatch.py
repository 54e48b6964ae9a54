"""The results-out flow: which subscriptions a result is owed to, one attempt, dead letters, replay.

What the worker and the CLI call, each a plain function over a :class:`DeliveryStore`:

* ``crm_update``, after recording a ticket: :func:`open_deliveries` (or :func:`deliveries_for`
  and ``store.open_delivery``), then one delivery task per returned id;
* the delivery task: :func:`attempt`, whose :class:`Outcome` says delivered, retry (after
  ``countdown`` seconds: a Celery retry), or dead;
* ``ticketfusion webhooks dead`` and ``replay``: :func:`list_dead` and :func:`replay`.

Delivery is at least once: should the receiver accept a delivery and our write of that fail, the
next attempt sends it again, with the same ``Idempotency-Key``. A delivered delivery is never
sent again: neither a redelivered ``crm_update`` nor a replay reopens it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from worker.contract import Ticket, TriageResult
from worker.crm.deliveries import DEAD, DELIVERED, DeliveryNotFound, DeliveryNotReplayable, DeliveryStore, short_error
from worker.errors import TicketfusionError
from worker.outbound.backoff import backoff_s
from worker.outbound.delivery import DeliveryFailed, post
from worker.outbound.subscriptions import Subscription, by_name
from worker.outbound.templates import render, sent_now
from worker.pii.redaction import redact_result, redact_ticket

__all__ = ["Outcome", "ReplayFailed", "attempt", "deliveries_for", "list_dead", "open_deliveries", "replay"]

log = logging.getLogger(__name__)
Subscriptions = Iterable[Subscription] | Mapping[str, Subscription]


class Poster(Protocol):
    def __call__(self, subscription: Subscription, payload: dict[str, Any], *, delivery_id: str) -> None: ...


class ReplayFailed(TicketfusionError):
    """A replayed delivery could not be handed to the queue; it is dead again, and ``replayed``
    holds the ids re-enqueued before it."""

    code = "replay_failed"

    def __init__(self, delivery_id: str, replayed: list[str], cause: BaseException) -> None:
        self.delivery_id, self.replayed = delivery_id, replayed
        super().__init__(
            f"delivery {delivery_id!r} could not be re-enqueued ({type(cause).__name__}: {cause}); "
            f"{len(replayed)} replayed before it. Check the broker (TICKETFUSION_REDIS_URL) and replay again"
        )


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to.

    ``kind``: ``delivered`` (now, or already: ``already``), ``retry`` (try again after
    ``countdown`` seconds), ``dead`` (the last attempt failed, or the failure is not retryable:
    ``retryable`` False), ``skipped`` (no such delivery). ``status`` is the receiver's HTTP
    status, ``error`` the failure, masked.
    """

    delivery_id: str
    kind: Literal["delivered", "retry", "dead", "skipped"]
    attempts: int = 0
    countdown: float | None = None
    status: int | None = None
    error: str | None = None
    retryable: bool = False
    already: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for a task's JSON result."""
        return asdict(self)


def deliveries_for(result: TriageResult, ticket: Ticket, subscriptions: Subscriptions, *,
                   now: datetime | None = None) -> list[tuple[Subscription, dict[str, Any]]]:
    """The subscriptions whose filter lets this result through, each with its payload (built
    from the redacted result and ticket)."""
    if result.ticket_id != ticket.ticket_id:
        raise ValueError(f"result is for ticket {result.ticket_id!r}, not {ticket.ticket_id!r}")
    redacted, safe_ticket = redact_result(result), redact_ticket(ticket)
    flat = redacted.summary()
    owed = []
    for subscription in by_name(subscriptions).values():
        if subscription.only.accepts(action=flat.action, priority=flat.priority, intent=flat.intent,
                                     channel=safe_ticket.channel.value, out_of_scope=flat.out_of_scope):
            owed.append((subscription, render(subscription.template, redacted, safe_ticket, now=now)))
    return owed


def open_deliveries(store: DeliveryStore, result: TriageResult, ticket: Ticket,
                    subscriptions: Subscriptions) -> list[str]:
    """Open (idempotently) a delivery per subscription owed this result; their ids, to enqueue.

    For a redelivered ``crm_update`` the ids are the same and the rows unchanged; enqueueing
    them again is harmless (:func:`attempt` does not resend a delivered or dead delivery)."""
    return [
        store.open_delivery(subscription.name, ticket.ticket_id, subscription.url, payload)
        for subscription, payload in deliveries_for(result, ticket, subscriptions)
    ]


def attempt(delivery_id: str, *, store: DeliveryStore, subscriptions: Subscriptions, send: Poster = post,
            rng: random.Random | None = None, now: datetime | None = None) -> Outcome:
    """Try one delivery once and record how it went.

    The subscription is looked up by name in ``subscriptions`` (the file as it is now, so a
    fixed URL or a rotated secret applies to the next attempt). A failure is retried after an
    exponential, jittered countdown (at least the receiver's Retry-After) until the
    subscription's ``max_attempts``; a failure that cannot succeed on retry (a 4xx other than 408
    and 429, a redirect) is dead at once.
    """
    row = store.get(delivery_id)
    if row is None:
        return Outcome(delivery_id, "skipped", error=str(DeliveryNotFound(delivery_id)))
    if row["status"] == DELIVERED:
        return Outcome(delivery_id, "delivered", attempts=row["attempts"], already=True)
    if row["status"] == DEAD:
        return Outcome(delivery_id, "dead", attempts=row["attempts"], error=row["last_error"])
    subscription = by_name(subscriptions).get(row["subscription"])
    if subscription is None:
        error = (f"subscription {row['subscription']!r} is not in the subscriptions file any more: "
                 "add it back and replay, or leave the delivery dead")
        attempts = store.mark_failed(delivery_id, error, dead=True)
        return Outcome(delivery_id, "dead", attempts=attempts, error=error)
    try:
        send(subscription, sent_now(row["payload"], now=now), delivery_id=delivery_id)
    except DeliveryFailed as failure:
        error = short_error(str(failure))
        dead = not failure.retryable or row["attempts"] + 1 >= subscription.max_attempts
        attempts = store.mark_failed(delivery_id, error, dead=dead)
        if dead:
            log.warning("webhook delivery %s to %s for ticket %s is dead after %d attempt(s): %s",
                        delivery_id, subscription.name, row["ticket_id"], attempts, error)
            return Outcome(delivery_id, "dead", attempts=attempts, status=failure.status, error=error,
                           retryable=failure.retryable)
        countdown = backoff_s(attempts, base_s=subscription.backoff_base_s, max_s=subscription.backoff_max_s, rng=rng)
        if failure.retry_after is not None:
            countdown = min(max(countdown, failure.retry_after), subscription.backoff_max_s)
        log.info("webhook delivery %s to %s failed (attempt %d of %d), retrying in %.0f s: %s", delivery_id,
                 subscription.name, attempts, subscription.max_attempts, countdown, error)
        return Outcome(delivery_id, "retry", attempts=attempts, countdown=round(countdown, 3),
                       status=failure.status, error=error, retryable=True)
    store.mark_delivered(delivery_id)
    return Outcome(delivery_id, "delivered", attempts=row["attempts"] + 1)


def list_dead(store: DeliveryStore, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The dead deliveries, oldest first: id, subscription, ticket_id, url, attempts, last_error, times."""
    return store.dead(limit)


def replay(store: DeliveryStore, ids: Iterable[str] | None, send: Callable[[str], None]) -> list[str]:
    """Make deliveries pending again with no attempts and hand each to ``send`` (which enqueues
    the delivery task); ``ids`` None: every dead delivery. Returns the ids replayed.

    Every id is checked before any is reset: an unknown one raises :class:`DeliveryNotFound`, a
    delivered one :class:`DeliveryNotReplayable`. Should ``send`` fail, that delivery is dead
    again and :class:`ReplayFailed` says which were replayed before it.
    """
    if ids is None:
        chosen = [row["id"] for row in store.dead(None)]
    else:
        chosen = list(dict.fromkeys(ids))
        for delivery_id in chosen:
            row = store.get(delivery_id)
            if row is None:
                raise DeliveryNotFound(delivery_id)
            if row["status"] == DELIVERED:
                raise DeliveryNotReplayable(delivery_id, row["status"])
    replayed: list[str] = []
    for delivery_id in chosen:
        store.reset(delivery_id)
        try:
            send(delivery_id)
        except Exception as error:
            store.mark_failed(delivery_id, f"replay could not be enqueued: {type(error).__name__}: {error}", dead=True)
            raise ReplayFailed(delivery_id, replayed, error) from error
        replayed.append(delivery_id)
    return replayed
