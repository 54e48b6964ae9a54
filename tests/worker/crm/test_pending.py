"""One pending profile refresh per customer, on the real Redis."""

from __future__ import annotations

import time
import uuid

import redis

from worker.crm.pending import PENDING, clear_pending, mark_pending


def test_only_the_first_ticket_of_a_burst_queues_a_refresh(redis_url: str) -> None:
    """mark_pending says True once per customer until the refresh clears the mark."""
    client = redis.Redis.from_url(redis_url)
    customer, other = f"C-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    assert [mark_pending(client, customer) for _ in range(5)] == [True, False, False, False, False]
    assert mark_pending(client, other)
    clear_pending(client, [customer, customer])
    assert mark_pending(client, customer) and not mark_pending(client, other)
    clear_pending(client, [customer, other])


def test_a_lost_refresh_frees_its_customer_after_the_ttl(redis_url: str) -> None:
    """A mark whose refresh never ran expires, so the customer's next ticket queues one."""
    client = redis.Redis.from_url(redis_url)
    customer = f"C-{uuid.uuid4().hex[:8]}"
    assert mark_pending(client, customer, ttl_s=1)
    assert 0 < client.ttl(PENDING + customer) <= 1
    time.sleep(1.2)
    assert mark_pending(client, customer)
    clear_pending(client, [customer])
    clear_pending(client, [])
