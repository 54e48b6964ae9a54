"""The triage → crm_update chain through a real worker process, real Redis and real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery.result import AsyncResult
from samples import long_flac, png_bomb, screenshot_png, silence_wav

from producers.enqueue import enqueue_many, enqueue_ticket
from worker.app import CRM_TASK, triage_chain
from worker.blobs import BlobStore
from worker.crm.store import CrmStore

CARD = "4539 1488 0343 6467"  # a Luhn-valid test number


@pytest.fixture(scope="module")
def worker(celery_worker_process: dict) -> dict:
    return celery_worker_process


@pytest.fixture(scope="module")
def store(worker: dict) -> CrmStore:
    crm = CrmStore(worker["env"]["TICKETFUSION_DATABASE_URL"])
    crm.migrate()
    yield crm
    crm.dispose()


def _wait(app, task_id: str, timeout: float = 120) -> dict:
    return AsyncResult(task_id, app=app).get(timeout=timeout)


def _ticket(ticket_id: str, body: str, customer: str = "C-test", **extra) -> dict:
    return {"ticket_id": ticket_id, "customer_id": customer, "channel": "chat", "body": body, **extra}


def test_ticket_flows_to_the_crm(worker: dict, store: CrmStore) -> None:
    """An enqueued ticket is triaged by the worker and recorded in the customer's history."""
    task_id = enqueue_ticket(_ticket("W-1", "I lost my card on the bus, please block it"), celery_app=worker["app"])
    summary = _wait(worker["app"], task_id)
    assert summary["recorded"] is True
    assert summary["intent"] == "lost_or_stolen_card"
    history = store.history("C-test")
    assert [ticket["ticket_id"] for ticket in history["tickets"]] == ["W-1"]
    assert history["tickets"][0]["intent"] == "lost_or_stolen_card"


def test_redelivered_ticket_is_one_ticket(worker: dict, store: CrmStore) -> None:
    """The same ticket_id delivered three times leaves exactly one ticket."""
    ticket = _ticket("W-dup", "How do I change my PIN?", customer="C-dup")
    ids = [enqueue_ticket(ticket, celery_app=worker["app"]) for _ in range(3)]
    created = [_wait(worker["app"], task_id)["created"] for task_id in ids]
    assert sorted(created) == [False, False, True]
    assert store.count_tickets("C-dup") == 1


def test_invalid_payload_gets_errors_and_worker_survives(worker: dict, store: CrmStore) -> None:
    """A payload that bypassed the producer comes back with named errors; the next ticket still works."""
    bad = triage_chain({"ticket_id": "W-bad", "channel": "fax"}, celery_app=worker["app"]).apply_async()
    summary = bad.get(timeout=60)
    assert summary["recorded"] is False
    assert {"customer_id: invalid_missing", "channel: invalid_enum"} <= set(summary["errors"])
    good = enqueue_ticket(_ticket("W-after-bad", "my card payment was declined"), celery_app=worker["app"])
    assert _wait(worker["app"], good)["recorded"] is True


def test_worker_reads_no_local_paths(worker: dict, store: CrmStore) -> None:
    """A message naming a local file instead of a blob is triaged on its text; the file is not read."""
    ticket = _ticket("W-local", "my card was declined", attachments=[{"kind": "image", "uri": "/etc/passwd"}])
    summary = triage_chain(ticket, celery_app=worker["app"]).apply_async().get(timeout=60)
    assert summary["recorded"] is True
    assert "attachments.0: attachment_not_in_blob_store" in summary["errors"]


def test_pickle_messages_are_refused(worker: dict, store: CrmStore) -> None:
    """A pickled message is rejected by the worker, which keeps serving JSON ones."""
    client = worker["app"]
    client.conf.accept_content = ["json", "pickle"]
    try:
        payload = {
            "ticket": _ticket("W-pickle", "I lost my card", customer="C-pickle"),
            "result": {"ticket_id": "W-pickle", "customer_id": "C-pickle"},
        }
        client.send_task(CRM_TASK, args=(payload,), queue="crm", serializer="pickle")
    finally:
        client.conf.accept_content = ["json"]
    good = enqueue_ticket(_ticket("W-after-pickle", "what is the exchange rate for euros"), celery_app=client)
    assert _wait(client, good)["recorded"] is True
    assert store.count_tickets("C-pickle") == 0
    assert "disallowed" in worker["log"].read_text().lower()


def test_attachment_ticket_is_triaged_from_the_blob_store(worker: dict, store: CrmStore, tmp_path: Path) -> None:
    """A ticket with a screenshot (media queue) is read from its blob and classified from its text."""
    image = tmp_path / "screen.png"
    image.write_bytes(screenshot_png(["Why is my card payment still pending?"]))
    blobs = BlobStore(Path(worker["env"]["TICKETFUSION_BLOB_DIR"]))
    ticket = _ticket("W-media", "see attached", attachments=[{"kind": "image", "uri": str(image)}])
    task_id = enqueue_ticket(ticket, celery_app=worker["app"], blob_store=blobs)
    summary = _wait(worker["app"], task_id, timeout=300)
    assert summary["recorded"] is True
    assert summary["errors"] == []
    assert summary["intent"] == "pending_card_payment"


def test_bad_media_batch_is_recorded_and_the_worker_survives(worker: dict, store: CrmStore, tmp_path: Path) -> None:
    """Corrupt, empty, bomb, silent and over-long attachments each end as an error; nothing is lost."""
    blobs = BlobStore(Path(worker["env"]["TICKETFUSION_BLOB_DIR"]))
    cases = {
        "corrupt.png": ("image", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "corrupt_media"),
        "empty.wav": ("audio", b"", "empty_attachment"),
        "bomb.png": ("image", png_bomb(), "image_too_large"),
        "silent.wav": ("audio", silence_wav(2.0), "silent_audio"),
        "long.flac": ("audio", long_flac(3600.0), "audio_too_long"),
        "words.png": ("image", b"not an image at all", "unsupported_media_type"),
    }
    tickets = []
    for n, (name, (kind, data, _)) in enumerate(cases.items()):
        path = tmp_path / name
        path.write_bytes(data)
        tickets.append(_ticket(f"W-bad-{n}", "my transfer failed", customer="C-badmedia",
                               attachments=[{"kind": kind, "uri": str(path)}]))
    ids = enqueue_many(tickets, celery_app=worker["app"], blob_store=blobs)
    summaries = [_wait(worker["app"], task_id, timeout=300) for task_id in ids]
    expected = [f"attachments.0: {code}" for _, _, code in cases.values()]
    assert [s["errors"] for s in summaries] == [[e] for e in expected]
    assert all(s["recorded"] and s["intent"] == "failed_transfer" for s in summaries)
    assert store.count_tickets("C-badmedia") == len(cases)
    assert worker["process"].poll() is None
    assert worker["app"].control.ping(timeout=5)


def test_card_number_never_reaches_database_or_logs(worker: dict, store: CrmStore) -> None:
    """Card numbers and e-mails, in the body or the metadata, reach neither the CRM, Redis nor the log."""
    metadata = {"display_name": "Jo (jo@example.com)", "card": CARD, "phone": "+44 20 7946 0958"}
    task_id = enqueue_ticket(
        _ticket("W-card", f"my card {CARD} was charged twice", customer="C-card", metadata=metadata),
        celery_app=worker["app"],
    )
    _wait(worker["app"], task_id)
    digits = CARD.replace(" ", "")
    from sqlalchemy import text

    with store.engine.connect() as connection:
        for table in ("tickets", "triage", "events", "customers"):
            dump = " ".join(str(row) for row in connection.execute(text(f"SELECT * FROM {table}")))
            assert digits not in dump.replace(" ", "").replace("-", ""), table
    backend = redis.Redis.from_url(worker["env"]["TICKETFUSION_REDIS_URL"])
    for key in backend.scan_iter("*"):
        if backend.type(key) == b"string":
            value = (backend.get(key) or b"").decode(errors="replace")
            assert digits not in value.replace(" ", "") and "jo@example.com" not in value, key
    assert digits not in worker["log"].read_text().replace(" ", "")
    assert store.history("C-card")["display_name"] == "Jo ([email])"
    with store.engine.connect() as connection:
        (result,) = connection.execute(text("SELECT result FROM triage WHERE ticket_id = 'W-card'")).one()
    result = result if isinstance(result, dict) else json.loads(result)
    assert {"type": "card_last4", "value": "6467"}.items() <= next(
        e for e in result["entities"] if e["type"] == "card_last4").items()


def test_repeat_contact_and_name_come_from_the_crm(worker: dict, store: CrmStore) -> None:
    """A second ticket about the same intent within days is a repeat contact, greeted by the CRM's name."""
    first = _ticket("W-rep-1", "I lost my card on the bus", customer="C-rep", channel="email",
                    created_at="2026-11-20T09:00:00Z", metadata={"display_name": "Ada Lovelace"})
    _wait(worker["app"], enqueue_ticket(first, celery_app=worker["app"]))
    second = _ticket("W-rep-2", "I have lost my card, please help me block it", customer="C-rep", channel="email",
                     created_at="2026-11-22T09:00:00Z")
    _wait(worker["app"], enqueue_ticket(second, celery_app=worker["app"]))
    from sqlalchemy import text

    with store.engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT ticket_id, result FROM triage WHERE ticket_id LIKE 'W-rep-%'")).all())
    results = {k: v if isinstance(v, dict) else json.loads(v) for k, v in rows.items()}
    assert results["W-rep-1"]["intent"]["label"] == results["W-rep-2"]["intent"]["label"] == "lost_or_stolen_card"
    assert not any("contact about" in r for r in results["W-rep-1"]["priority"]["reasons"])
    assert "2nd contact about lost_or_stolen_card within 14 days" in results["W-rep-2"]["priority"]["reasons"]
    assert results["W-rep-2"]["priority"]["level"] == "urgent"
    assert results["W-rep-2"]["reply"]["action"] == "escalate"
    assert results["W-rep-2"]["reply"]["text"].startswith("Hi Ada,")


def test_duplicate_batch_ends_as_exactly_n_tickets(worker: dict, store: CrmStore) -> None:
    """N tickets enqueued twice with the same ids end as exactly N tickets in the histories."""
    n = int(os.environ.get("TICKETFUSION_TEST_DUPLICATES", "1000"))
    tickets = [
        _ticket(f"D-{i:05d}", f"ticket number {i}: my transfer has not arrived yet", customer=f"C-d{i % 37}")
        for i in range(n)
    ]
    ids = enqueue_many(tickets, celery_app=worker["app"]) + enqueue_many(tickets, celery_app=worker["app"])
    deadline = time.monotonic() + 600
    for task_id in ids:
        _wait(worker["app"], task_id, timeout=max(1.0, deadline - time.monotonic()))
    total = sum(store.count_tickets(f"C-d{c}") for c in range(37))
    assert total == n
    assert sum(len(store.history(f"C-d{c}", limit=10_000)["tickets"]) for c in range(37)) == n


def test_crm_write_waits_out_a_database_outage(worker_env: dict, tmp_path: Path) -> None:
    """While the database is unreachable the CRM write retries; once it is back, the ticket lands."""
    from sqlalchemy import create_engine, text

    from tests.conftest import PG_ADMIN_URL, running_worker

    name = f"tf_outage_{uuid.uuid4().hex[:8]}"
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    env = worker_env | {
        "TICKETFUSION_DATABASE_URL": url,
        "TICKETFUSION_REDIS_URL": worker_env["TICKETFUSION_REDIS_URL"].rsplit("/", 1)[0] + "/14",
    }
    redis.Redis.from_url(env["TICKETFUSION_REDIS_URL"]).flushdb()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with running_worker(env, tmp_path / "worker.log", concurrency=1) as outage:
            task_id = enqueue_ticket(_ticket("W-outage", "I lost my card", customer="C-outage"), celery_app=outage["app"])
            log_file = tmp_path / "worker.log"
            deadline = time.monotonic() + 120  # a loaded machine may take a while to load models and triage
            while time.monotonic() < deadline and "Retry" not in (log_file.read_text() if log_file.exists() else ""):
                time.sleep(0.5)
            assert "Retry" in log_file.read_text(), "the CRM write never retried while the database was missing"
            assert not AsyncResult(task_id, app=outage["app"]).ready()
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            assert _wait(outage["app"], task_id, timeout=120)["recorded"] is True
        crm = CrmStore(url)
        assert crm.count_tickets("C-outage") == 1
        crm.dispose()
        assert "Retry" in (tmp_path / "worker.log").read_text()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_killed_pool_process_loses_no_ticket(worker: dict, store: CrmStore) -> None:
    """Pool processes killed mid-burst (SIGKILL) have their tickets redelivered: every one lands."""
    n = 300
    tickets = [_ticket(f"K-{i:04d}", f"kill test {i}: where is my card?", customer="C-kill") for i in range(n)]
    ids = enqueue_many(tickets, celery_app=worker["app"])
    deadline = time.monotonic() + 120
    while store.count_tickets("C-kill") < n // 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = Path(f"/proc/{worker['process'].pid}/task/{worker['process'].pid}/children").read_text().split()
    assert children, "the worker has no pool processes"
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)
    for task_id in ids:
        _wait(worker["app"], task_id, timeout=max(1.0, deadline + 120 - time.monotonic()))
    assert store.count_tickets("C-kill") == n
    assert "WorkerLostError" in worker["log"].read_text() or "signal 9" in worker["log"].read_text()
