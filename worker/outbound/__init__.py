"""Results out: signed webhooks to the subscriptions in ``webhooks_file``, retried, dead-lettered, replayed.

See docs/webhooks.md. The worker calls :func:`open_deliveries` after recording a ticket and
:func:`attempt` in its delivery task; the CLI calls :func:`list_dead` and :func:`replay`.
"""

from __future__ import annotations

from worker.crm.deliveries import DeliveryNotFound, DeliveryNotReplayable, DeliveryStore
from worker.outbound.backoff import backoff_s
from worker.outbound.delivery import DELIVERY_HEADER, DeliveryFailed, encode, headers_for, post
from worker.outbound.dispatch import (
    Outcome,
    ReplayFailed,
    attempt,
    deliveries_for,
    list_dead,
    open_deliveries,
    replay,
)
from worker.outbound.subscriptions import Filter, Subscription, SubscriptionError, load_subscriptions
from worker.outbound.templates import TEMPLATES, generic, render, zendesk

__all__ = [
    "DELIVERY_HEADER",
    "TEMPLATES",
    "DeliveryFailed",
    "DeliveryNotFound",
    "DeliveryNotReplayable",
    "DeliveryStore",
    "Filter",
    "Outcome",
    "ReplayFailed",
    "Subscription",
    "SubscriptionError",
    "attempt",
    "backoff_s",
    "deliveries_for",
    "encode",
    "generic",
    "headers_for",
    "list_dead",
    "load_subscriptions",
    "open_deliveries",
    "post",
    "render",
    "replay",
    "zendesk",
]
