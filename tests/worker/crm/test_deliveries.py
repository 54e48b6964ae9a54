"""DeliveryStore on SQLite and PostgreSQL: idempotent opening, attempts, dead letters, reset."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from worker.crm.deliveries import (
    MAX_ERROR_CHARS,
    DeliveryNotFound,
    DeliveryNotReplayable,
    DeliveryStore,
    delivery_id_for,
)
from worker.crm.models import WebhookDelivery
from worker.crm.store import CrmStore

URL = "https://crm.example.com/hooks"
PAYLOAD = {"event": "ticket.triaged", "ticket_id": "T-1", "result": {"intent": {"label": "card_arrival"}}}


@pytest.fixture
def deliveries(store: CrmStore) -> DeliveryStore:
    """A delivery store on the migrated test database."""
    return DeliveryStore(store)


def test_open_is_idempotent_by_subscription_and_ticket(deliveries: DeliveryStore) -> None:
    """Opening the same (subscription, ticket) twice gives one pending row and the same id."""
    first = deliveries.open_delivery("crm", "T-1", URL, PAYLOAD)
    second = deliveries.open_delivery("crm", "T-1", URL, {"other": True})
    assert first == second == delivery_id_for("crm", "T-1")
    row = deliveries.get(first)
    assert row is not None
    assert (row["status"], row["attempts"], row["payload"], row["url"]) == ("pending", 0, PAYLOAD, URL)
    assert deliveries.open_delivery("desk", "T-1", URL, PAYLOAD) != first
    assert deliveries.open_delivery("crm", "T-2", URL, PAYLOAD) != first
    assert deliveries.count() == 3


def test_a_delivered_delivery_is_never_reopened(deliveries: DeliveryStore) -> None:
    """Opening a delivered (subscription, ticket) again leaves it delivered; failing it changes nothing."""
    delivery_id = deliveries.open_delivery("crm", "T-1", URL, PAYLOAD)
    deliveries.mark_delivered(delivery_id)
    assert deliveries.open_delivery("crm", "T-1", URL, PAYLOAD) == delivery_id
    assert deliveries.mark_failed(delivery_id, "late failure", dead=True) == 1
    row = deliveries.get(delivery_id)
    assert row is not None and (row["status"], row["attempts"], row["last_error"]) == ("delivered", 1, None)
    deliveries.mark_delivered(delivery_id)  # a second success is a no-op
    assert deliveries.get(delivery_id)["attempts"] == 1  # type: ignore[index]


def test_mark_failed_counts_attempts_and_keeps_a_short_masked_error(deliveries: DeliveryStore) -> None:
    """Each failure adds an attempt; the error is masked (no card number), on one line, and shortened."""
    delivery_id = deliveries.open_delivery("crm", "T-1", URL, PAYLOAD)
    assert deliveries.mark_failed(delivery_id, "HTTP 503 Service Unavailable", dead=False) == 1
    long_error = "HTTP 400 Bad Request: card 4111 1111 1111 1111\nrejected " + "x" * 2000
    assert deliveries.mark_failed(delivery_id, long_error, dead=True) == 2
    row = deliveries.get(delivery_id)
    assert row is not None and row["status"] == "dead"
    assert "4111 1111 1111 1111" not in row["last_error"] and "[card ****1111]" in row["last_error"]
    assert "\n" not in row["last_error"] and len(row["last_error"]) == MAX_ERROR_CHARS


def test_dead_lists_dead_deliveries_oldest_first_without_payloads(deliveries: DeliveryStore) -> None:
    """dead(limit) lists only dead deliveries, oldest failure first, at most limit, with no payload."""
    ids = [deliveries.open_delivery("crm", f"T-{n}", URL, PAYLOAD) for n in range(4)]
    for delivery_id in (ids[2], ids[0], ids[3]):
        deliveries.mark_failed(delivery_id, "HTTP 410 Gone", dead=True)
        time.sleep(0.01)
    deliveries.mark_failed(ids[1], "HTTP 503", dead=False)
    listed = deliveries.dead(10)
    assert [row["id"] for row in listed] == [ids[2], ids[0], ids[3]]
    assert "payload" not in listed[0] and listed[0]["last_error"] == "HTTP 410 Gone"
    assert isinstance(listed[0]["updated_at"], str) and listed[0]["updated_at"].startswith("20")
    assert [row["id"] for row in deliveries.dead(2)] == [ids[2], ids[0]]
    assert len(deliveries.dead(None)) == 3 and deliveries.count("dead") == 3


def test_reset_makes_a_dead_delivery_pending_with_no_attempts(deliveries: DeliveryStore) -> None:
    """reset returns the delivery pending, attempts 0, no error; it keeps its id and payload."""
    delivery_id = deliveries.open_delivery("crm", "T-1", URL, PAYLOAD)
    for _ in range(3):
        deliveries.mark_failed(delivery_id, "HTTP 500", dead=False)
    deliveries.mark_failed(delivery_id, "HTTP 500", dead=True)
    row = deliveries.reset(delivery_id)
    assert (row["id"], row["status"], row["attempts"], row["last_error"], row["payload"]) == (
        delivery_id, "pending", 0, None, PAYLOAD)
    assert deliveries.dead() == []


def test_reset_refuses_unknown_and_delivered(deliveries: DeliveryStore) -> None:
    """reset of an unknown id or a delivered delivery is a named error."""
    with pytest.raises(DeliveryNotFound, match="no webhook delivery 'dlv_nope'"):
        deliveries.reset("dlv_nope")
    delivery_id = deliveries.open_delivery("crm", "T-1", URL, PAYLOAD)
    deliveries.mark_delivered(delivery_id)
    with pytest.raises(DeliveryNotReplayable, match="is delivered"):
        deliveries.reset(delivery_id)


def test_unknown_ids(deliveries: DeliveryStore) -> None:
    """get of an unknown id is None; marking one is a DeliveryNotFound."""
    assert deliveries.get("dlv_nope") is None
    with pytest.raises(DeliveryNotFound):
        deliveries.mark_delivered("dlv_nope")
    with pytest.raises(DeliveryNotFound):
        deliveries.mark_failed("dlv_nope", "x", dead=False)


def test_workers_opening_the_same_delivery_at_once_make_one_row(make_store: Callable[[], CrmStore]) -> None:
    """Eight threads on four engines opening the same delivery together leave one row and one id."""
    crm = make_store()
    crm.migrate()
    stores = [DeliveryStore(make_store()) for _ in range(4)]
    barrier = threading.Barrier(8)
    ids: list[str] = []
    errors: list[BaseException] = []

    def open_one(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            ids.append(stores[index % 4].open_delivery("crm", "T-race", URL, {"n": index}))
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(set(ids)) == 1 and len(ids) == 8
    with crm.engine.connect() as connection:
        assert len(connection.execute(select(WebhookDelivery.id)).all()) == 1
