"""Enqueueing against the real Redis (db 11): queues, message format, blob refs, batch reports."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

import producers.enqueue as enqueue_module
from producers import (
    AttachmentNotFound,
    BlobStore,
    EnqueueInterrupted,
    InvalidTicket,
    enqueue_file,
    enqueue_many,
    enqueue_ticket,
)
from worker.app import CRM_TASK, TRIAGE_TASK, TRIAGE_TEXT_TASK, configure
from worker.contract import Ticket
from worker.settings import Settings

ReadQueue = Callable[[str], list[dict[str, Any]]]
SECRET_BYTES = b"\x89PNG unique-attachment-bytes-7f3a9c"


def _ticket(n: int, **extra: Any) -> dict[str, Any]:
    return {"ticket_id": f"T{n}", "customer_id": "C1", "body": f"my card {n} was declined", **extra}


def _lengths(client: redis.Redis) -> dict[str, int]:
    return {queue: client.llen(queue) for queue in ("text", "media", "crm")}


def test_text_ticket_goes_to_the_text_queue_as_json(
    celery_app: Celery,
    store: BlobStore,
    settings: Settings,
    redis_client: redis.Redis,
    read_queue: ReadQueue,
) -> None:
    """A ticket without attachments is one JSON triage message on `text` (the batched task), chained
    to crm_update."""
    task_id = enqueue_ticket(_ticket(1), celery_app=celery_app, blob_store=store, settings=settings)
    assert _lengths(redis_client) == {"text": 1, "media": 0, "crm": 0}
    [message] = read_queue("text")
    assert message["content-type"] == "application/json"  # never pickle
    assert message["headers"]["task"] == TRIAGE_TEXT_TASK
    assert "declined" not in message["headers"]["argsrepr"]  # ticket text stays out of headers
    args, _kwargs, embed = message["decoded"]
    assert (
        Ticket.model_validate(args[0]).ticket_id == "T1"
        and args[0]["body"] == "my card 1 was declined"
    )
    [next_step] = embed["chain"]
    assert next_step["task"] == CRM_TASK and next_step["options"]["queue"] == "crm"
    assert (
        task_id == next_step["options"]["task_id"] != message["headers"]["id"]
    )  # the id to wait on


def test_without_batching_a_text_ticket_goes_to_the_per_ticket_task(
    celery_app: Celery, store: BlobStore, settings: Settings, read_queue: ReadQueue
) -> None:
    """With TICKETFUSION_BATCH_MAX=1 the producer sends text tickets to the one-at-a-time task."""
    configure(celery_app, settings.model_copy(update={"batch_max": 1}))
    enqueue_ticket(_ticket(2), celery_app=celery_app, blob_store=store, settings=settings)
    [message] = read_queue("text")
    assert message["headers"]["task"] == TRIAGE_TASK


def test_ticket_with_attachment_goes_to_media_with_a_blob_reference(
    tmp_path: Path,
    celery_app: Celery,
    store: BlobStore,
    settings: Settings,
    redis_client: redis.Redis,
    read_queue: ReadQueue,
) -> None:
    """An attachment is copied into the store and `media` holds blob://sha256, not the bytes."""
    image = tmp_path / "screen.png"
    image.write_bytes(SECRET_BYTES)
    digest = hashlib.sha256(SECRET_BYTES).hexdigest()
    ticket = _ticket(2, attachments=[{"kind": "image", "uri": f"file://{image}"}])
    enqueue_ticket(ticket, celery_app=celery_app, blob_store=store, settings=settings)
    assert _lengths(redis_client) == {"text": 0, "media": 1, "crm": 0}
    [message] = read_queue("media")
    [attachment] = message["decoded"][0][0]["attachments"]
    assert attachment == {
        "kind": "image",
        "uri": f"blob://{digest}",
        "content_type": "image/png",
        "size_bytes": len(SECRET_BYTES),
        "sha256": digest,
    }
    assert store.resolve(attachment["uri"]).read_bytes() == SECRET_BYTES
    raw = message["raw"]
    assert SECRET_BYTES not in raw and base64.b64encode(SECRET_BYTES)[:24] not in raw


def test_enqueue_many_validates_everything_before_sending(
    celery_app: Celery, store: BlobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    """One invalid ticket in a batch raises InvalidTicket naming index and field; sends nothing."""
    batch = [_ticket(1), {"ticket_id": "T2", "body": "no customer"}, _ticket(3)]
    with pytest.raises(InvalidTicket) as caught:
        enqueue_many(batch, celery_app=celery_app, blob_store=store, settings=settings)
    assert [entry.where for entry in caught.value.errors] == ["tickets[1].customer_id"]
    assert _lengths(redis_client) == {"text": 0, "media": 0, "crm": 0}


def test_enqueue_applies_the_configured_limits_to_ticket_objects(
    celery_app: Celery, store: BlobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    """A Ticket built under the default limits is re-checked under the configured ones."""
    ticket = Ticket(ticket_id="T1", customer_id="C1", body="x" * 201)
    with pytest.raises(InvalidTicket, match="201 characters; the limit is 200"):
        enqueue_ticket(ticket, celery_app=celery_app, blob_store=store, settings=settings)
    assert redis_client.llen("text") == 0


def test_missing_attachment_is_refused_before_sending(
    tmp_path: Path,
    celery_app: Celery,
    store: BlobStore,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    """enqueue_ticket raises AttachmentNotFound for a missing file and sends nothing."""
    ticket = _ticket(1, attachments=[{"kind": "audio", "uri": str(tmp_path / "gone.wav")}])
    with pytest.raises(AttachmentNotFound):
        enqueue_ticket(ticket, celery_app=celery_app, blob_store=store, settings=settings)
    assert _lengths(redis_client) == {"text": 0, "media": 0, "crm": 0}


def test_batch_publishes_over_a_few_connections_not_one_per_ticket(
    celery_app: Celery, store: BlobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    """Sending 200 tickets opens a handful of Redis connections, not one per ticket."""
    enqueue_ticket(
        _ticket(0), celery_app=celery_app, blob_store=store, settings=settings
    )  # warm the pools
    before = int(redis_client.info("stats")["total_connections_received"])
    ids = enqueue_many(
        [_ticket(n) for n in range(1, 201)],
        celery_app=celery_app,
        blob_store=store,
        settings=settings,
    )
    opened = int(redis_client.info("stats")["total_connections_received"]) - before
    assert len(set(ids)) == 200 and redis_client.llen("text") == 201
    assert opened < 20, f"{opened} connections for 200 tickets"


def test_file_with_bad_lines_enqueues_the_good_ones_and_reports_the_bad(
    tmp_path: Path,
    celery_app: Celery,
    store: BlobStore,
    settings: Settings,
    redis_client: redis.Redis,
    read_queue: ReadQueue,
) -> None:
    """Valid lines are sent in order with their line numbers; bad lines are reported, not sent."""
    (tmp_path / "a.png").write_bytes(SECRET_BYTES)
    lines = [
        json.dumps(_ticket(1)),
        "{not json",
        json.dumps(_ticket(3, attachments=[{"kind": "image", "uri": "a.png"}])),
        json.dumps({"ticket_id": "T4", "customer_id": "C1"}),  # nothing to triage
        "",
        json.dumps(_ticket(6, attachments=[{"kind": "image", "uri": "blob://" + "0" * 64}])),
        json.dumps(_ticket(7)),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = enqueue_file(
        path, progress=False, celery_app=celery_app, blob_store=store, settings=settings
    )
    assert report.enqueued == 3
    assert [(t.line_no, t.ticket_id) for t in report.tasks] == [(1, "T1"), (3, "T3"), (7, "T7")]
    assert all(t.triage_id and t.task_id != t.triage_id for t in report.tasks)
    assert {n: [e.code for e in errs] for n, errs in report.errors.items()} == {
        2: ["invalid_json"],
        4: ["invalid_value_error"],
        6: ["blob_not_found"],
    }
    assert _lengths(redis_client) == {"text": 2, "media": 1, "crm": 0}
    assert [m["decoded"][0][0]["ticket_id"] for m in read_queue("text")] == ["T1", "T7"]
    [media] = read_queue("media")
    assert media["decoded"][0][0]["attachments"][0]["uri"].startswith("blob://")


def test_csv_file_with_mapping_and_relative_attachments(
    tmp_path: Path,
    celery_app: Celery,
    store: BlobStore,
    settings: Settings,
    redis_client: redis.Redis,
    read_queue: ReadQueue,
) -> None:
    """A mapped CSV with a relative attachment path is sent with the attachment as a blob."""
    (tmp_path / "voice.wav").write_bytes(b"RIFF....WAVE")
    path = tmp_path / "export.csv"
    path.write_text("id,client,message,files\nX1,C1,please call me,voice.wav\nX2,C1,thanks,\n")
    report = enqueue_file(
        path,
        mapping="ticket_id=id,customer_id=client,body=message,attachments=files",
        progress=False,
        celery_app=celery_app,
        blob_store=store,
        settings=settings,
    )
    assert report.enqueued == 2 and report.errors == {}
    assert _lengths(redis_client) == {"text": 1, "media": 1, "crm": 0}
    [attachment] = read_queue("media")[0]["decoded"][0][0]["attachments"]
    assert attachment["kind"] == "audio" and attachment["uri"].startswith("blob://")
    assert store.resolve(attachment["uri"]).read_bytes() == b"RIFF....WAVE"


def test_progress_bar_is_drawn_on_stderr(
    tmp_path: Path,
    celery_app: Celery,
    store: BlobStore,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With progress on, a bar naming the file goes to stderr and stdout stays clean."""
    path = tmp_path / "tickets.jsonl"
    path.write_text("".join(json.dumps(_ticket(n)) + "\n" for n in range(5)))
    report = enqueue_file(
        path, progress=True, celery_app=celery_app, blob_store=store, settings=settings
    )
    captured = capsys.readouterr()
    assert report.enqueued == 5
    assert "tickets.jsonl" in captured.err and "5/5" in captured.err
    assert captured.out == ""


def test_a_broker_failure_mid_file_reports_what_was_sent(
    tmp_path: Path,
    celery_app: Celery,
    store: BlobStore,
    settings: Settings,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broker that stays down past the deadline stops the file; the report names what was and was not sent."""
    real_chain = enqueue_module.triage_chain
    calls = {"n": 0}

    def failing_chain(ticket: dict[str, Any], *, celery_app: Celery) -> Any:
        calls["n"] += 1
        if calls["n"] >= 3:
            raise ConnectionError("broker went away")
        return real_chain(ticket, celery_app=celery_app)

    monkeypatch.setattr(enqueue_module, "triage_chain", failing_chain)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(_ticket(n)) + "\n" for n in range(1, 6)))
    with pytest.raises(EnqueueInterrupted, match="broker went away") as caught:
        enqueue_file(path, progress=False, celery_app=celery_app, blob_store=store,
                     settings=settings.model_copy(update={"enqueue_deadline_s": 1.0}))
    report = caught.value.report
    assert [t.line_no for t in report.tasks] == [1, 2]
    assert report.unsent == ["T3"] and report.stopped_at_line == 3
    assert calls["n"] > 3  # it retried before giving up
    assert redis_client.llen("text") == 2


def test_a_broker_blip_is_retried_and_nothing_is_lost(
    tmp_path: Path, celery_app: Celery, store: BlobStore, settings: Settings, redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A publish that fails twice and then works is retried: every line is sent, once."""
    real_chain = enqueue_module.triage_chain
    calls = {"n": 0}

    def blip(ticket: dict[str, Any], *, celery_app: Celery) -> Any:
        calls["n"] += 1
        if calls["n"] in (3, 4):
            raise ConnectionError("broker restarting")
        return real_chain(ticket, celery_app=celery_app)

    monkeypatch.setattr(enqueue_module, "triage_chain", blip)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(_ticket(n)) + "\n" for n in range(1, 6)))
    report = enqueue_file(path, progress=False, celery_app=celery_app, blob_store=store, settings=settings)
    assert [t.line_no for t in report.tasks] == [1, 2, 3, 4, 5]
    assert redis_client.llen("text") == 5


UNREADABLE = Path("/proc/self/mem")  # a regular file whose first read fails with EIO, even as root


def test_unreadable_attachment_in_a_file_is_a_line_error(
    tmp_path: Path,
    celery_app: Celery,
    store: BlobStore,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    """An OSError reading an attachment is attachment_unreadable for that line; the rest is sent."""
    lines = [
        json.dumps(_ticket(1, attachments=[{"kind": "image", "uri": str(UNREADABLE)}])),
        json.dumps(_ticket(2)),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = enqueue_file(
        path, progress=False, celery_app=celery_app, blob_store=store, settings=settings
    )
    assert [t.ticket_id for t in report.tasks] == ["T2"]
    [error] = report.errors[1]
    assert error.code == "attachment_unreadable"
    assert str(UNREADABLE) in error.message and "Input/output error" in error.message
    assert _lengths(redis_client) == {"text": 1, "media": 0, "crm": 0}


def test_unreadable_attachment_makes_enqueue_many_raise_invalid_ticket(
    celery_app: Celery, store: BlobStore, settings: Settings, redis_client: redis.Redis
) -> None:
    """enqueue_many turns an OSError on an attachment into InvalidTicket and sends nothing."""
    bad = _ticket(2, attachments=[{"kind": "audio", "uri": f"file://{UNREADABLE}"}])
    with pytest.raises(InvalidTicket) as caught:
        enqueue_many([_ticket(1), bad], celery_app=celery_app, blob_store=store, settings=settings)
    [entry] = caught.value.errors
    assert entry.where == "tickets[1].attachments.0.uri" and entry.code == "attachment_unreadable"
    assert str(UNREADABLE) in entry.message
    assert isinstance(caught.value.__cause__, enqueue_module.AttachmentUnreadable)
    with pytest.raises(InvalidTicket, match="cannot read"):
        enqueue_ticket(bad, celery_app=celery_app, blob_store=store, settings=settings)
    assert _lengths(redis_client) == {"text": 0, "media": 0, "crm": 0}
