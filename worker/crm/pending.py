"""At most one queued profile refresh per customer, however many of their tickets arrive at once.

A refresh reads the customer's (linked group's) whole history, so one refresh per recorded ticket
costs a busy account quadratic work: an importer pushing 2,000 tickets of one company spent more
time refreshing its profile than triaging its tickets. So recording a ticket queues a refresh only
when none is pending for that customer (``SET NX`` on ``ticketfusion:enrich-pending:<id>``), and
the refresh clears the mark *before* it reads the history: a ticket recorded while it runs queues
the next one, so the last refresh always sees the last ticket. A mark whose refresh was lost
expires after ``ttl_s``; beat's periodic run (``enrich_due``) catches that customer up meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

PENDING = "ticketfusion:enrich-pending:"
TTL_S = 300


def mark_pending(client: redis.Redis, customer_id: str, *, ttl_s: int = TTL_S) -> bool:
    """True when no refresh was pending for the customer: the caller queues one."""
    return bool(client.set(PENDING + customer_id, b"1", nx=True, ex=ttl_s))


def clear_pending(client: redis.Redis, customer_ids: Iterable[str]) -> None:
    """The refresh of these customers starts now; tickets recorded from here queue the next one."""
    keys = [PENDING + customer_id for customer_id in dict.fromkeys(customer_ids)]
    if keys:
        client.delete(*keys)
