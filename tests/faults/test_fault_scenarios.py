"""Faults on real processes and services: every accepted ticket ends in the CRM exactly once or in
the dead-letter store, never twice, never missing. Each test runs on its own Redis and database and
stops what it starts; its waits are bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from fault_services import fresh_database, private_redis

from producers.enqueue import enqueue_many
from tests.conftest import running_worker
from worker.crm.dead_letters import DeadLetterStore
from worker.crm.store import CrmStore

N = 2000


def _env(worker_env: dict, redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    return {**worker_env, "TICKETFUSION_REDIS_URL": redis_url, "TICKETFUSION_DATABASE_URL": database_url,
            "TICKETFUSION_HEARTBEAT_S": "2", **extra}


def _tickets(prefix: str, customer: str, n: int) -> list[dict]:
    return [{"ticket_id": f"{prefix}-{i:05d}", "customer_id": customer, "channel": "chat",
             "body": f"fault test {i}: my card has not arrived yet"} for i in range(n)]


def _wait_count(crm: CrmStore, customer: str, n: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = crm.count_tickets(customer)
    while count < n and time.monotonic() < deadline:
        time.sleep(0.5)
        count = crm.count_tickets(customer)
    return count


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _kill_host(process: subprocess.Popen) -> None:
    """What a lost host looks like: the main process and its pool, SIGKILLed at once."""
    children = _children(process.pid)
    process.kill()
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def _ticketfusion(env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "worker.cli.main", *args], env=os.environ | env,
                          capture_output=True, text=True, timeout=120)


def test_killed_pool_process_and_killed_host_lose_nothing(worker_env: dict, tmp_path: Path) -> None:
    """2,000 tickets; a pool process of one worker and then a whole second worker host are SIGKILLed
    mid-stream; the survivor takes over the dead host's tickets: each ticket is in the CRM once."""
    with private_redis(tmp_path) as broker, fresh_database() as (database, _):
        env = _env(worker_env, broker.url, database)
        with running_worker(env, tmp_path / "a.log", concurrency=1) as a, \
                running_worker(env, tmp_path / "b.log", concurrency=1) as b:
            enqueue_many(_tickets("K", "C-kill", N), celery_app=a["app"])
            crm = CrmStore(database)
            assert _wait_count(crm, "C-kill", 200, 300) >= 200
            for pid in _children(a["process"].pid):
                os.kill(pid, signal.SIGKILL)
            assert _wait_count(crm, "C-kill", 600, 300) >= 600
            killed_at = time.monotonic()
            _kill_host(b["process"])
            assert _wait_count(crm, "C-kill", N, 600) == N
            took = time.monotonic() - killed_at
            crm.dispose()
        assert "redelivered" in (tmp_path / "a.log").read_text() or took < 600
        assert DeadLetterStore.from_url(broker.url).count() == 0


def test_redis_restarted_mid_stream_loses_nothing(worker_env: dict, tmp_path: Path) -> None:
    """Redis (AOF on) is killed and restarted while 2,000 tickets are being enqueued and triaged: the
    producer retries through the outage and every ticket lands once."""
    with private_redis(tmp_path) as broker, fresh_database() as (database, _):
        env = _env(worker_env, broker.url, database)
        with running_worker(env, tmp_path / "w.log", concurrency=1) as worker:
            errors: list[BaseException] = []

            def produce() -> None:
                try:
                    enqueue_many(_tickets("R", "C-redis", N), celery_app=worker["app"])
                except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                    errors.append(exc)

            producer = threading.Thread(target=produce)
            producer.start()
            time.sleep(1.0)
            broker.restart(down_s=3.0)
            producer.join(timeout=300)
            assert not errors, errors
            crm = CrmStore(database)
            assert _wait_count(crm, "C-redis", N, 600) == N
            crm.dispose()


def test_database_outage_past_the_retries_is_dead_lettered_then_replayed(worker_env: dict, tmp_path: Path) -> None:
    """With the database gone for longer than the CRM write's retries, the ticket is dead-lettered
    (stage crm); once the database is back, `dlq replay --all` records it and empties the list."""
    with private_redis(tmp_path) as broker, fresh_database(create=False) as (database, create):
        env = _env(worker_env, broker.url, database, TICKETFUSION_CRM_RETRIES="2")
        with running_worker(env, tmp_path / "w.log", concurrency=1) as worker:
            enqueue_many(_tickets("P", "C-pg", 3), celery_app=worker["app"])
            letters = DeadLetterStore.from_url(broker.url)
            deadline = time.monotonic() + 180
            while letters.count() < 3 and time.monotonic() < deadline:
                time.sleep(0.5)
            listed = _ticketfusion(env, "dlq", "list", "--json").stdout.splitlines()
            assert len(listed) == 3 and all('"stage": "crm"' in line for line in listed)
            create()
            done = _ticketfusion(env, "dlq", "replay", "--all")
            assert done.returncode == 0, done.stderr
            crm = CrmStore(database)
            assert _wait_count(crm, "C-pg", 3, 120) == 3
            crm.dispose()
            deadline = time.monotonic() + 60
            while letters.count() and time.monotonic() < deadline:
                time.sleep(0.3)
            assert letters.count() == 0


def test_triage_that_raises_is_dead_lettered_and_replays_once_fixed(worker_env: dict, tmp_path: Path) -> None:
    """A worker whose models are missing dead-letters each ticket with the reason; a healthy worker
    then takes the replay and records them."""
    broken = tmp_path / "no-models"
    broken.mkdir()
    with private_redis(tmp_path) as broker, fresh_database() as (database, _):
        env = _env(worker_env, broker.url, database)
        with running_worker({**env, "TICKETFUSION_MODELS_DIR": str(broken)}, tmp_path / "bad.log") as bad:
            enqueue_many(_tickets("T", "C-fix", 2), celery_app=bad["app"])
            letters = DeadLetterStore.from_url(broker.url)
            deadline = time.monotonic() + 120
            while letters.count() < 2 and time.monotonic() < deadline:
                time.sleep(0.3)
        entries = letters.list()
        assert [e["stage"] for e in entries] == ["triage", "triage"]
        assert all("models build" in e["reason"] or "missing" in e["reason"] for e in entries)
        assert "4539" not in str(entries)
        with running_worker(env, tmp_path / "good.log", concurrency=1):
            assert _ticketfusion(env, "dlq", "replay", "--all").returncode == 0
            crm = CrmStore(database)
            assert _wait_count(crm, "C-fix", 2, 120) == 2
            crm.dispose()


def test_poison_message_is_dead_lettered_not_redelivered_forever(worker_env: dict, tmp_path: Path) -> None:
    """A message whose pool process is killed on every delivery is dead-lettered (stage poison) on
    the delivery after TICKETFUSION_MAX_DELIVERIES, and the worker goes on with the next ticket."""
    with private_redis(tmp_path) as broker, fresh_database() as (database, _):
        env = _env(worker_env, broker.url, database, TICKETFUSION_MAX_DELIVERIES="2")
        with running_worker(env, tmp_path / "w.log", concurrency=1) as worker:
            poison, after = _tickets("X", "C-poison", 2)
            crm_ids = enqueue_many([poison], celery_app=worker["app"])
            client = redis.Redis.from_url(broker.url)
            key = next(iter(client.scan_iter("ticketfusion:deliveries:*", count=1000)), None)
            deadline, killed = time.monotonic() + 180, 0
            while killed < 2 and time.monotonic() < deadline:
                key = key or next(iter(client.scan_iter("ticketfusion:deliveries:*")), None)
                if key is not None and int(client.get(key) or 0) > killed:
                    for pid in _children(worker["process"].pid):
                        os.kill(pid, signal.SIGKILL)
                    killed += 1
                time.sleep(0.05)
            assert killed == 2
            letters = DeadLetterStore.from_url(broker.url)
            deadline = time.monotonic() + 120
            while not letters.count() and time.monotonic() < deadline:
                time.sleep(0.3)
            entry = letters.get(poison["ticket_id"])
            assert entry["stage"] == "poison"
            enqueue_many([after], celery_app=worker["app"])
            crm = CrmStore(database)
            crm.migrate()  # the worker creates the tables on its first CRM write, which may not have come yet
            assert _wait_count(crm, "C-poison", 1, 120) == 1
            assert crm.count_tickets("C-poison") == 1  # the poison ticket is dead-lettered, not recorded
            crm.dispose()
            assert crm_ids
