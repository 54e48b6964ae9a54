"""The customer-profile tasks: a refresh queued after CRM writes (one pending per customer, see
:mod:`worker.crm.pending`) and beat's periodic catch-up."""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

import redis
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.app import ENRICH_DUE_TASK, ENRICH_TASK, QUEUE_CRM, app
from worker.batching import MicroBatches
from worker.crm.pending import clear_pending, mark_pending
from worker.settings import get_settings
from worker.state import enricher_for, get_store, redis_client

log = logging.getLogger(__name__)


def queue_enrichment(customer_id: str) -> None:
    """Queue a refresh of the customer's profile unless one is pending; never raises, since the
    ticket is recorded already and beat's run catches up whatever this misses."""
    client = redis_client()
    try:
        first = mark_pending(client, customer_id)
    except redis.RedisError:
        first = True  # cannot tell: one refresh too many is harmless
    if not first:
        return
    try:
        enrich_customer.apply_async((customer_id,), queue=QUEUE_CRM)
    except Exception:  # noqa: BLE001 - see the docstring
        log.warning("could not enqueue the enrichment of %s", customer_id, exc_info=True)
        with suppress(redis.RedisError):
            clear_pending(client, [customer_id])


@app.task(name=ENRICH_TASK, base=MicroBatches, ignore_result=True,
          flush_every=get_settings().batch_max, flush_interval=get_settings().batch_wait_ms / 1000)
def enrich_customer(requests: list[Any]) -> dict[str, Any]:
    """Refresh the profiles of the customers whose tickets were just recorded, each once however many
    of their refreshes came together; idempotent, so redelivery is harmless. Should the database be
    down, beat's periodic run (``enrich_due``) catches these customers up later."""
    customers = list(dict.fromkeys(str(r.args[0]) for r in requests if r.args and isinstance(r.args[0], str)))
    with suppress(redis.RedisError):  # a mark left behind expires; the refresh still runs
        clear_pending(redis_client(), customers)
    try:
        changed = enricher_for(get_store()).enrich_many(customers)
    except (OperationalError, InterfaceError):
        log.warning("could not enrich %d customers now; the periodic run will", len(customers), exc_info=True)
        changed = 0
    return {"customers": len(customers), "changed": changed}


@app.task(name=ENRICH_DUE_TASK, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3)
def enrich_due() -> dict[str, int]:
    """Beat's periodic run: every customer whose profile is behind their history or the clock."""
    return enricher_for(get_store()).enrich_due(limit=get_settings().enrich_batch)
