"""Flower beside a worker started as the README says (`ticketfusion worker`): the worker sends task
events by itself, so Flower's HTTP API lists the worker and each task of a ticket's chain."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
from celery.result import AsyncResult

from producers.enqueue import enqueue_ticket
from worker.cli.processes import WorkerDidNotStart, free_port, stop_process, wait_until_serving

REDIS_DB = 15  # apart from the session worker's database, so no other worker takes these tickets
AUTH = ("ops", "flower-test-password")


@pytest.fixture(scope="module")
def env(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("flower-worker")
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    return {
        "TICKETFUSION_REDIS_URL": url,
        "TICKETFUSION_DATABASE_URL": postgres_url,
        "TICKETFUSION_BLOB_DIR": str(state / "blobs"),
        "TICKETFUSION_STATE_DIR": str(state),
        "TICKETFUSION_METRICS_PORT": "0",
    }


@pytest.fixture(scope="module")
def flower(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Flower as docker-compose runs it, with a password, and without its periodic enable_events
    broadcast: whatever it shows of tasks, the worker sent unasked."""
    import os

    port = free_port()
    log_path = tmp_path_factory.mktemp("flower-log") / "flower.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.app", "flower", f"--port={port}", "--address=127.0.0.1",
             f"--basic-auth={AUTH[0]}:{AUTH[1]}", "--enable_events=False"],
            env=os.environ | env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url, timeout=30, path="/healthcheck", name="flower")
    except WorkerDidNotStart as exc:
        stop_process(process, grace=5)
        pytest.fail(f"{exc}:\n{log_path.read_text()[-3000:]}")
    try:
        yield url
    finally:
        stop_process(process, grace=10)


@pytest.fixture(scope="module")
def worker(env: dict[str, str], flower: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from tests.conftest import running_worker

    with running_worker(env, tmp_path_factory.mktemp("flower-worker-log") / "worker.log", concurrency=1) as running:
        yield running


def _poll(url: str, predicate, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    answer: dict = {}
    while time.monotonic() < deadline:
        response = httpx.get(url, auth=AUTH, timeout=10)
        response.raise_for_status()
        answer = response.json()
        if predicate(answer):
            return answer
        time.sleep(0.5)
    raise AssertionError(f"{url} never matched; last answer: {str(answer)[:2000]}")


def test_flower_lists_the_worker_and_the_tickets_tasks(worker: dict, flower: str) -> None:
    """A ticket's (batched) triage and its crm_update, written in the batch, appear in /api/tasks as
    succeeded, on a worker /api/workers lists."""
    assert httpx.get(f"{flower}/api/tasks", timeout=5).status_code == 401  # never without the password
    ticket_id = f"FL-{uuid.uuid4().hex[:8]}"
    crm_id = enqueue_ticket({"ticket_id": ticket_id, "customer_id": "C-flower", "channel": "chat",
                             "body": "my card has not arrived"}, celery_app=worker["app"])
    assert AsyncResult(crm_id, app=worker["app"]).get(timeout=60)["recorded"] is True
    triage_id = crm_id.replace("crm-", "triage-", 1)
    tasks = _poll(f"{flower}/api/tasks",
                  lambda found: all(found.get(i, {}).get("state") == "SUCCESS" for i in (triage_id, crm_id)))
    assert tasks[triage_id]["name"] == "ticketfusion.triage_text" and tasks[crm_id]["name"] == "ticketfusion.crm_update"
    assert tasks[crm_id]["parent_id"] == triage_id
    assert tasks[triage_id]["sent"] is not None  # the producer's task-sent event (task_send_sent_event)
    hostname = tasks[triage_id]["worker"]
    assert hostname.startswith(f"ticketfusion-{worker['process'].pid}@")
    workers = _poll(f"{flower}/api/workers?refresh=1", lambda found: hostname in found)
    assert "ticketfusion.triage" in " ".join(workers[hostname].get("registered", []))
