"""Deliveries end to end against a real receiver: retries, dead letters, replay, exactly one delivery."""

from __future__ import annotations

import json
import random

import pytest
from outbound_samples import SECRET, Receiver, no_pii, ticket_with_card, triaged
from outbound_samples import subscription as make_subscription

from worker.crm.deliveries import DeliveryNotFound, DeliveryNotReplayable, DeliveryStore
from worker.outbound import ReplayFailed, attempt, backoff_s, list_dead, open_deliveries, replay
from worker.signing import verify


def opened(store: DeliveryStore, subscriptions: list, ticket_id: str = "T-77") -> str:
    (delivery_id,) = open_deliveries(store, triaged(ticket_id), ticket_with_card(ticket_id), subscriptions)
    return delivery_id


def test_a_delivery_arrives_signed_and_is_recorded(receiver: Receiver, delivery_store: DeliveryStore) -> None:
    """open_deliveries then attempt: the receiver gets the signed, PII-free payload once; the row is delivered."""
    subscriptions = [make_subscription(receiver.url)]
    delivery_id = opened(delivery_store, subscriptions)
    outcome = attempt(delivery_id, store=delivery_store, subscriptions=subscriptions)
    assert (outcome.kind, outcome.attempts) == ("delivered", 1)
    (request,) = receiver.requests
    verify(SECRET, request.body, request.headers)
    assert request.headers["Idempotency-Key"] == delivery_id
    assert json.loads(request.body)["ticket_id"] == "T-77" and no_pii(request.body.decode())
    row = delivery_store.get(delivery_id)
    assert row is not None and (row["status"], row["attempts"], row["last_error"]) == ("delivered", 1, None)


def test_a_failing_receiver_is_retried_with_backoff_then_dead(receiver: Receiver,
                                                              delivery_store: DeliveryStore) -> None:
    """A receiver that keeps answering 503 gives retry outcomes with growing countdowns, then dead at max_attempts."""
    receiver.fail(10, status=503)
    subscriptions = [make_subscription(receiver.url, max_attempts=4, backoff_base_s=2.0, backoff_max_s=5.0)]
    delivery_id = opened(delivery_store, subscriptions)
    outcomes = [attempt(delivery_id, store=delivery_store, subscriptions=subscriptions, rng=random.Random(1))
                for _ in range(4)]
    assert [o.kind for o in outcomes] == ["retry", "retry", "retry", "dead"]
    assert [o.attempts for o in outcomes] == [1, 2, 3, 4]
    countdowns = [o.countdown for o in outcomes[:3]]
    assert 1.0 <= countdowns[0] <= 2.0 and 2.0 <= countdowns[1] <= 4.0 and 2.5 <= countdowns[2] <= 5.0
    assert outcomes[-1].status == 503 and outcomes[-1].retryable is True
    assert len(receiver.requests) == 4
    (dead,) = list_dead(delivery_store)
    assert (dead["id"], dead["attempts"], dead["status"]) == (delivery_id, 4, "dead")
    assert dead["last_error"].startswith("HTTP 503 Service Unavailable")
    again = attempt(delivery_id, store=delivery_store, subscriptions=subscriptions)
    assert again.kind == "dead" and len(receiver.requests) == 4  # a stale retry sends nothing


def test_a_400_is_dead_at_once(receiver: Receiver, delivery_store: DeliveryStore) -> None:
    """A 400 cannot succeed by retrying: the first attempt is the last."""
    receiver.fail(1, status=400, body=b"bad payload")
    subscriptions = [make_subscription(receiver.url)]
    delivery_id = opened(delivery_store, subscriptions)
    outcome = attempt(delivery_id, store=delivery_store, subscriptions=subscriptions)
    assert (outcome.kind, outcome.retryable, outcome.status, outcome.attempts) == ("dead", False, 400, 1)
    assert outcome.error == "HTTP 400 Bad Request: bad payload"
    assert [row["id"] for row in list_dead(delivery_store)] == [delivery_id]


def test_retry_after_lengthens_the_countdown(receiver: Receiver, delivery_store: DeliveryStore) -> None:
    """A 429 with Retry-After waits at least that long, within the cap."""
    receiver.fail(1, status=429, headers={"Retry-After": "20"})
    subscriptions = [make_subscription(receiver.url, backoff_base_s=1.0, backoff_max_s=30.0)]
    outcome = attempt(opened(delivery_store, subscriptions), store=delivery_store, subscriptions=subscriptions)
    assert outcome.kind == "retry" and outcome.countdown == 20.0


def test_replay_after_the_receiver_recovers_delivers(receiver: Receiver, delivery_store: DeliveryStore) -> None:
    """Dead after a failing receiver; replay resets it and re-enqueues it; once the receiver is up it is delivered."""
    receiver.fail(2, status=500)
    subscriptions = [make_subscription(receiver.url, max_attempts=2)]
    delivery_id = opened(delivery_store, subscriptions)
    kinds = [attempt(delivery_id, store=delivery_store, subscriptions=subscriptions).kind for _ in range(2)]
    assert kinds == ["retry", "dead"]

    enqueued: list[str] = []
    assert replay(delivery_store, None, enqueued.append) == [delivery_id]
    assert enqueued == [delivery_id]
    row = delivery_store.get(delivery_id)
    assert row is not None and (row["status"], row["attempts"]) == ("pending", 0)

    outcome = attempt(delivery_id, store=delivery_store, subscriptions=subscriptions)
    assert (outcome.kind, outcome.attempts) == ("delivered", 1)
    assert len(receiver.requests) == 3
    assert len({r.headers["Idempotency-Key"] for r in receiver.requests}) == 1
    assert list_dead(delivery_store) == []


def test_the_same_subscription_and_ticket_is_never_delivered_twice(receiver: Receiver,
                                                                   delivery_store: DeliveryStore) -> None:
    """A redelivered crm_update opens the same delivery; attempting it again sends nothing more."""
    subscriptions = [make_subscription(receiver.url)]
    first = opened(delivery_store, subscriptions)
    assert attempt(first, store=delivery_store, subscriptions=subscriptions).kind == "delivered"
    second = opened(delivery_store, subscriptions)
    assert second == first
    outcome = attempt(second, store=delivery_store, subscriptions=subscriptions)
    assert (outcome.kind, outcome.already) == ("delivered", True)
    assert len(receiver.requests) == 1
    with pytest.raises(DeliveryNotReplayable, match="is delivered, not dead"):
        replay(delivery_store, [first], lambda _: None)
    assert delivery_store.count() == 1


def test_each_subscription_gets_its_own_delivery(receiver: Receiver, delivery_store: DeliveryStore) -> None:
    """Two subscriptions to one ticket are two deliveries, each delivered once, with its own template."""
    subscriptions = [make_subscription(receiver.url, name="crm"),
                     make_subscription(receiver.url, name="desk", template="zendesk")]
    ids = open_deliveries(delivery_store, triaged(), ticket_with_card(), subscriptions)
    assert len(set(ids)) == 2
    for delivery_id in ids:
        assert attempt(delivery_id, store=delivery_store, subscriptions=subscriptions).kind == "delivered"
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert "event" in bodies[0] and bodies[1]["ticket"]["tags"] == ["intent__card_charged_twice", "priority__high"]
    assert all(no_pii(r.body.decode()) for r in receiver.requests)


def test_a_removed_subscription_makes_the_delivery_dead(delivery_store: DeliveryStore) -> None:
    """A delivery whose subscription left the file is dead, saying so, without a request."""
    delivery_id = opened(delivery_store, [make_subscription("https://gone.example/h", name="gone")])
    outcome = attempt(delivery_id, store=delivery_store, subscriptions=[])
    assert outcome.kind == "dead" and "'gone' is not in the subscriptions file" in (outcome.error or "")


def test_an_unknown_delivery_is_skipped(delivery_store: DeliveryStore) -> None:
    """attempt on an id with no row does nothing and says so."""
    outcome = attempt("dlv_missing", store=delivery_store, subscriptions=[])
    assert outcome.kind == "skipped" and "no webhook delivery 'dlv_missing'" in (outcome.error or "")


def test_replay_checks_every_id_before_resetting_any(receiver: Receiver, delivery_store: DeliveryStore) -> None:
    """An unknown id among those given is a named error, and no delivery is reset or enqueued."""
    receiver.fail(1, status=400)
    subscriptions = [make_subscription(receiver.url)]
    delivery_id = opened(delivery_store, subscriptions)
    attempt(delivery_id, store=delivery_store, subscriptions=subscriptions)
    enqueued: list[str] = []
    with pytest.raises(DeliveryNotFound, match="no webhook delivery 'dlv_nope'.*webhooks dead"):
        replay(delivery_store, [delivery_id, "dlv_nope"], enqueued.append)
    assert enqueued == [] and delivery_store.get(delivery_id)["status"] == "dead"  # type: ignore[index]
    assert replay(delivery_store, [delivery_id, delivery_id], enqueued.append) == [delivery_id]


def test_a_replay_that_cannot_be_enqueued_stays_dead(receiver: Receiver, delivery_store: DeliveryStore) -> None:
    """When send fails (the broker is down) the delivery is dead again and ReplayFailed names it."""
    receiver.fail(1, status=400)
    subscriptions = [make_subscription(receiver.url)]
    delivery_id = opened(delivery_store, subscriptions)
    attempt(delivery_id, store=delivery_store, subscriptions=subscriptions)

    def broker_down(_: str) -> None:
        raise ConnectionError("redis is down")

    with pytest.raises(ReplayFailed, match="could not be re-enqueued.*redis is down") as caught:
        replay(delivery_store, None, broker_down)
    assert caught.value.replayed == []
    row = delivery_store.get(delivery_id)
    assert row is not None and row["status"] == "dead" and "replay could not be enqueued" in row["last_error"]


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    """Each wait lies in [step/2, step] with step = base * 2^(n-1), capped; failures count from 1."""
    rng = random.Random(7)
    for failures, step in [(1, 10), (2, 20), (3, 40), (4, 80), (9, 100), (500, 100)]:
        waits = [backoff_s(failures, base_s=10, max_s=100, rng=rng) for _ in range(50)]
        assert all(step / 2 <= wait <= step for wait in waits)
        assert len(set(waits)) > 1
    with pytest.raises(ValueError, match="counts from 1"):
        backoff_s(0, base_s=1, max_s=2)
