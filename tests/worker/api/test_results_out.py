"""Results pushed out, end to end: a ticket posted over HTTP reaches a real receiver signed; a
receiver that keeps failing is retried, dead-lettered, and replayed from the CLI."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from api_server import make_key, running_api, ticketfusion, wait_done
from receivers import Receiver, running_receiver

from tests.conftest import running_worker
from worker.signing import verify

SECRET = "results-out-secret-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/10"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as live:
        yield live


@pytest.fixture(scope="module")
def stack(worker_env: dict, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Its own Redis database, worker (subscribed to the receiver, two attempts a delivery) and API."""
    folder = tmp_path_factory.mktemp("results-out")
    hooks = folder / "webhooks.yaml"
    hooks.write_text(f"- name: receiver\n  url: {receiver.url}\n  secret_env: TF_RESULTS_SECRET\n"
                     "  template: generic\n  max_attempts: 2\n", encoding="utf-8")
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {**worker_env, "TICKETFUSION_REDIS_URL": REDIS_URL, "TICKETFUSION_WEBHOOKS_FILE": str(hooks),
           "TF_RESULTS_SECRET": SECRET, "TICKETFUSION_WEBHOOK_OUT_BACKOFF_BASE_S": "0.5",
           "TICKETFUSION_WEBHOOK_OUT_BACKOFF_MAX_S": "1"}
    with running_worker(env, folder / "worker.log"), running_api(env, folder / "api.log") as api:
        key = make_key(env, f"out-{uuid.uuid4().hex[:6]}")
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            yield {"env": env, "client": client}
    redis.Redis.from_url(REDIS_URL).flushdb()


def _post(client: httpx.Client, body: str) -> str:
    ticket_id = f"out-{uuid.uuid4().hex[:8]}"
    answer = client.post("/v1/tickets", json={"ticket_id": ticket_id, "customer_id": "c-out", "body": body})
    assert answer.status_code == 202, answer.text
    return ticket_id


def _received(receiver: Receiver, ticket_id: str, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in list(receiver.requests) if ticket_id.encode() in r.body]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"the receiver never got {ticket_id}")


def test_receiver_gets_each_result_signed(stack: dict, receiver: Receiver) -> None:
    """The subscribed receiver gets the ticket's result, signed so that our scheme verifies it, with no card number."""
    ticket_id = _post(stack["client"], "My card 4539 1488 0343 6467 was charged twice")
    assert wait_done(stack["client"], ticket_id)["status"] == "done"
    request = _received(receiver, ticket_id)[0]
    verify(SECRET, request.body, request.headers)
    payload = json.loads(request.body)
    assert payload["ticket_id"] == ticket_id and payload["result"]["intent"]["label"]
    assert b"4539148803436467" not in request.body and b"4539 1488 0343 6467" not in request.body


def test_failing_receiver_is_dead_lettered_then_replayed(stack: dict, receiver: Receiver) -> None:
    """A receiver that fails every attempt leaves a dead delivery; after it recovers, replay delivers it."""
    receiver.fail(2, status=503)
    ticket_id = _post(stack["client"], "How do I change my PIN?")
    deadline, dead = time.monotonic() + 60, []
    while time.monotonic() < deadline and not dead:
        listed = ticketfusion(stack["env"], "webhooks", "dead", "--json").stdout.splitlines()
        dead = [json.loads(line) for line in listed if ticket_id in line]
        time.sleep(0.5)
    assert dead, "the delivery never went dead"
    assert dead[0]["attempts"] == 2
    assert len(_received(receiver, ticket_id)) == 2
    done = ticketfusion(stack["env"], "webhooks", "replay", dead[0]["id"])
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_received(receiver, ticket_id)) < 3:
        time.sleep(0.2)
    assert len(_received(receiver, ticket_id)) == 3
    listed = ticketfusion(stack["env"], "webhooks", "dead", "--json").stdout
    assert ticket_id not in listed
