"""``TICKETFUSION_LOG_FORMAT=json``: a real worker's log is one JSON object per line, with the task's
ids on the lines logged inside a task, and no card number or e-mail address."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery.result import AsyncResult

from producers.enqueue import enqueue_ticket
from worker.app import CRM_TASK, QUEUE_CRM
from worker.contract import TriageResult
from worker.observability.json_logs import JsonFormatter, ticket_of

REDIS_DB = 15  # apart from the session worker's database, so no other worker takes these tickets
CARD, EMAIL = "4539 1488 0343 6467", "jane.doe@example.com"


@pytest.fixture(scope="module")
def worker(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from tests.conftest import running_worker

    state = tmp_path_factory.mktemp("json-logs-worker")
    env = {
        "TICKETFUSION_REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "TICKETFUSION_DATABASE_URL": postgres_url,
        "TICKETFUSION_BLOB_DIR": str(state / "blobs"),
        "TICKETFUSION_STATE_DIR": str(state),
        "TICKETFUSION_METRICS_PORT": "0",
        "TICKETFUSION_LOG_FORMAT": "json",
    }
    redis.Redis.from_url(env["TICKETFUSION_REDIS_URL"]).flushdb()
    with running_worker(env, state / "worker.log", concurrency=1) as running:
        yield running


def _lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _wait_for(log: Path, predicate, timeout: float = 10.0) -> list[dict]:
    """The log's lines once one of them matches (the worker writes after it answers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = _lines(log)
        if any(predicate(line) for line in lines):
            return lines
        time.sleep(0.2)
    raise AssertionError(f"no matching line in {log}:\n{log.read_text()[-3000:]}")


def test_every_line_is_json_and_task_lines_carry_the_ticket(worker: dict) -> None:
    """Each line parses as JSON with ts, level, logger, message; a ticket's task lines name it and its task."""
    ticket_id = f"J-{uuid.uuid4().hex[:8]}"
    task_id = enqueue_ticket({"ticket_id": ticket_id, "customer_id": "C-json", "channel": "chat",
                              "body": "I lost my card"}, celery_app=worker["app"])
    assert AsyncResult(task_id, app=worker["app"]).get(timeout=60)["recorded"] is True
    lines = _wait_for(worker["log"], lambda line: line.get("ticket_id") == ticket_id)
    assert all({"ts", "level", "logger", "message", "task_id", "ticket_id"} <= set(line) for line in lines)
    mine = [line for line in lines if line["ticket_id"] == ticket_id]
    # Batched: the CRM write runs in the triage batch, in the triage request's context.
    assert {line["task"] for line in mine} == {"ticketfusion.triage_text"}
    assert {line["task_id"] for line in mine} == {task_id.replace("crm-", "triage-", 1)}
    outside = [line for line in lines if " received" in line["message"]]
    assert outside and all(line["task_id"] is None for line in outside)  # "received": not inside a task


def test_card_numbers_and_emails_in_a_task_log_line_are_masked(worker: dict) -> None:
    """A task that logs a reason holding a card number and an e-mail address logs them masked."""
    ticket_id = f"J-pii-{uuid.uuid4().hex[:8]}"
    task_id = f"crm-{uuid.uuid4().hex}-{ticket_id}"
    payload = {"ticket": None, "dead_letter": f"card {CARD}, reply to {EMAIL}",
               "result": TriageResult(ticket_id=ticket_id).model_dump(mode="json")}
    worker["app"].send_task(CRM_TASK, args=(payload,), queue=QUEUE_CRM, task_id=task_id).get(timeout=60)
    lines = _wait_for(worker["log"], lambda line: "not recorded" in line["message"] and line["task_id"] == task_id)
    [line] = [line for line in lines if "not recorded" in line["message"] and line["task_id"] == task_id]
    assert line["ticket_id"] == ticket_id and line["level"] == "WARNING"
    assert "6467" in line["message"] and "4539" not in line["message"] and EMAIL not in line["message"]
    text = worker["log"].read_text()
    assert CARD not in text and CARD.replace(" ", "") not in text and EMAIL not in text


def test_the_formatter_outside_a_worker() -> None:
    """One line per record, even with newlines and a traceback, masked; ids from a task id or a payload."""
    try:
        raise ValueError(f"bad card {CARD}")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "two\nlines for %s", (EMAIL,), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"].startswith("two\nlines for ") and EMAIL not in line and "4539" not in line
    assert "ValueError" in parsed["exc_info"] and parsed["ticket_id"] is None
    assert ticket_of(f"triage-{uuid.uuid4().hex}-T-9-x") == "T-9-x"
    assert ticket_of("custom-id", [{"result": {"ticket_id": "T-7"}}]) == "T-7"
    assert ticket_of("custom-id", [{"ticket_id": "T-8"}]) == "T-8"
