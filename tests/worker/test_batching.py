"""Micro-batching on a real worker (worker.batching): text tickets that arrive together are triaged
together, each still ends in the CRM exactly once, and a batch whose pool process dies is put back
on the queue and retried ticket by ticket."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import redis
from celery.result import AsyncResult

from producers.enqueue import enqueue_many
from tests.conftest import running_worker
from tests.faults.fault_services import fresh_database
from tests.worker.test_metrics import scrape, total
from worker.cli.processes import free_port
from worker.crm.dead_letters import DeadLetterStore
from worker.crm.store import CrmStore

REDIS_DB = 4  # apart from the session worker's database, so no other worker takes these tickets


def _env(worker_env: dict, tmp_path: Path, **extra: str) -> dict[str, str]:
    url = worker_env["TICKETFUSION_REDIS_URL"].rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    return {**worker_env, "TICKETFUSION_REDIS_URL": url, "TICKETFUSION_BATCH_MAX": "32",
            "TICKETFUSION_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}", **extra}


def _tickets(customer: str, n: int) -> list[dict]:
    run = uuid.uuid4().hex[:6]
    return [{"ticket_id": f"B-{run}-{i:03d}", "customer_id": customer, "channel": "chat",
             "body": f"batch test {i}: my card payment was declined at the shop"} for i in range(n)]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_tickets_sent_together_are_triaged_in_batches(worker_env: dict, tmp_path: Path) -> None:
    """40 tickets sent at once reach the CRM through fewer than 40 batches, all 40 recorded once."""
    port = free_port()
    env = _env(worker_env, tmp_path, TICKETFUSION_METRICS_PORT=str(port), TICKETFUSION_METRICS_HOST="127.0.0.1")
    with running_worker(env, tmp_path / "worker.log", concurrency=1) as worker:
        worker["app"].conf.ticketfusion_batch_text = True  # the producer's side of TICKETFUSION_BATCH_MAX
        ids = enqueue_many(_tickets("C-batch", 40), celery_app=worker["app"])
        outcomes = [AsyncResult(task_id, app=worker["app"]).get(timeout=180) for task_id in ids]
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert all(outcome["recorded"] and outcome["intent"] for outcome in outcomes)
    assert "ticketfusion.crm_update[" not in worker["log"].read_text()  # each recorded in its batch
    assert total(samples, "ticketfusion_batch_size_sum", queue="text") == 40
    assert 1 <= total(samples, "ticketfusion_batch_size_count", queue="text") < 40
    crm = CrmStore(env["TICKETFUSION_DATABASE_URL"])
    assert crm.count_tickets("C-batch") == 40
    crm.dispose()


def test_batch_whose_process_dies_is_retried_and_loses_nothing(worker_env: dict, tmp_path: Path) -> None:
    """The pool process is killed while it holds a batch of 20: all 20 are recorded once, none
    dead-lettered (each is retried alone, and none was delivered past the limit)."""
    env = _env(worker_env, tmp_path)
    client = redis.Redis.from_url(env["TICKETFUSION_REDIS_URL"])
    with running_worker(env, tmp_path / "worker.log", concurrency=1) as worker:
        worker["app"].conf.ticketfusion_batch_text = True  # the producer's side of TICKETFUSION_BATCH_MAX
        ids = enqueue_many(_tickets("C-killed", 20), celery_app=worker["app"])
        deadline = time.monotonic() + 120
        while not any(client.scan_iter("ticketfusion:deliveries:*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in _children(worker["process"].pid):  # the batch is running: models loading, or triage
            os.kill(pid, signal.SIGKILL)
        outcomes = [AsyncResult(task_id, app=worker["app"]).get(timeout=180) for task_id in ids]
    assert all(outcome["recorded"] for outcome in outcomes)
    crm = CrmStore(env["TICKETFUSION_DATABASE_URL"])
    assert crm.count_tickets("C-killed") == 20
    crm.dispose()
    assert DeadLetterStore.from_url(env["TICKETFUSION_REDIS_URL"]).count() == 0
    assert max(int(client.get(key) or 0) for key in client.scan_iter("ticketfusion:deliveries:*")) == 2
    client.flushdb()


def test_batch_whose_crm_write_fails_hands_each_ticket_to_crm_update(worker_env: dict, tmp_path: Path) -> None:
    """With the CRM database missing, the batch cannot record its tickets: each goes on to its own
    crm_update, whose retries record it once the database exists."""
    with fresh_database(create=False) as (database, create):
        env = _env(worker_env, tmp_path, TICKETFUSION_DATABASE_URL=database)
        with running_worker(env, tmp_path / "worker.log", concurrency=1) as worker:
            ids = enqueue_many(_tickets("C-later", 5), celery_app=worker["app"])
            deadline = time.monotonic() + 120
            while "ticketfusion.crm_update[" not in worker["log"].read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            create()
            outcomes = [AsyncResult(task_id, app=worker["app"]).get(timeout=180) for task_id in ids]
        assert all(outcome["recorded"] for outcome in outcomes)
        crm = CrmStore(database)
        assert crm.count_tickets("C-later") == 5
        crm.dispose()
