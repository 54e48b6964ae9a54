"""A triage task that dies without answering still ends: dead-lettered and failed, with its reason,
and the chain's waiter gets an answer instead of waiting forever."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import redis
from celery.result import AsyncResult
from samples import speech_wav

from producers.enqueue import enqueue_ticket
from tests.conftest import running_worker
from worker.blobs import BlobStore
from worker.crm.dead_letters import DeadLetterStore
from worker.crm.statuses import StatusStore
from worker.crm.store import CrmStore


def test_hard_time_limit_ends_failed_and_releases_the_waiter(worker_env: dict, tmp_path: Path) -> None:
    """A voice ticket killed by a one-second hard limit is recorded failed (TimeLimitExceeded), and
    its crm_update id resolves as failed."""
    env = worker_env | {"TICKETFUSION_TASK_TIME_LIMIT_S": "1",
                        "TICKETFUSION_REDIS_URL": worker_env["TICKETFUSION_REDIS_URL"].rsplit("/", 1)[0] + "/9"}
    redis.Redis.from_url(env["TICKETFUSION_REDIS_URL"]).flushdb()
    audio = tmp_path / "long.wav"
    audio.write_bytes(speech_wav("My card was declined at the shop yesterday and I want to know why. " * 6))
    ticket_id = f"hard-{uuid.uuid4().hex[:8]}"
    with running_worker(env, tmp_path / "worker.log", concurrency=1) as worker:
        crm_id = enqueue_ticket({"ticket_id": ticket_id, "customer_id": "C-hard", "channel": "phone",
                                 "attachments": [{"kind": "audio", "uri": str(audio)}]},
                                celery_app=worker["app"], blob_store=BlobStore(Path(env["TICKETFUSION_BLOB_DIR"])))
        outcome = AsyncResult(crm_id, app=worker["app"])
        outcome.get(timeout=120, propagate=False)  # the chain's last task is failed with it, not left pending
        assert outcome.state == "FAILURE" and "TimeLimitExceeded" in repr(outcome.result)
        crm = CrmStore(env["TICKETFUSION_DATABASE_URL"])
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and (status is None or status["status"] != "failed"):
            status = StatusStore(crm).get(ticket_id)
            time.sleep(0.2)
        crm.dispose()
    assert status is not None and status["status"] == "failed"
    assert "TimeLimitExceeded" in status["errors"][0]["message"]
    entry = DeadLetterStore.from_url(env["TICKETFUSION_REDIS_URL"]).get(ticket_id)
    assert entry["stage"] == "time_limit" and "TimeLimitExceeded" in entry["reason"]
    assert entry["ticket"]["ticket_id"] == ticket_id and entry["ticket"]["attachments"]
    redis.Redis.from_url(env["TICKETFUSION_REDIS_URL"]).flushdb()
