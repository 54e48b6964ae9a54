"""Profile refreshes after CRM writes, through the real worker, Redis and PostgreSQL."""

from __future__ import annotations

import time
import uuid

import redis

from producers.enqueue import enqueue_many
from worker.crm.enrichment import Enricher
from worker.crm.pending import PENDING
from worker.crm.store import CrmStore


def test_a_burst_of_one_customer_ends_with_a_profile_of_all_its_tickets(celery_worker_process: dict) -> None:
    """Coalesced refreshes still see the last ticket, and leave no pending mark behind."""
    env = celery_worker_process["env"]
    customer = f"C-burst-{uuid.uuid4().hex[:8]}"
    tickets = [{"ticket_id": f"{customer}-{i}", "customer_id": customer, "channel": "email",
                "body": f"burst {i}: my card payment was declined twice"} for i in range(30)]
    store = CrmStore(env["TICKETFUSION_DATABASE_URL"])
    store.migrate()
    enqueue_many(tickets, celery_app=celery_worker_process["app"])
    client = redis.Redis.from_url(env["TICKETFUSION_REDIS_URL"])
    enricher = Enricher(store)
    deadline = time.monotonic() + 180
    profile = enricher.profile(customer)
    while (profile is None or profile["tickets"] < 30 or client.exists(PENDING + customer)) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
        profile = enricher.profile(customer)
    store.dispose()
    assert profile is not None and profile["tickets"] == 30
    assert not client.exists(PENDING + customer)
