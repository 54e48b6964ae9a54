"""Where a ticket goes when it cannot be processed: the dead-letter store, with its reason.

Four ways in, one store (:mod:`worker.crm.dead_letters`): the triage task raised (stage
``triage``) or its payload broke the contract (``validation``); its hard time limit killed it
(``time_limit``, from the error callback below, which Celery runs in the worker's main process
with the task's arguments); a message that keeps killing its pool process (``poison``: counted
per message, dead-lettered on the delivery after ``TICKETFUSION_MAX_DELIVERIES``); the CRM write
ran out of retries (``crm``, by the task's ``on_failure``). The ticket's status says failed, with
the same reason.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

from worker.app import FAILED_TASK, app
from worker.contract import ErrorEntry, Ticket
from worker.crm.dead_letters import DeadLetterStore
from worker.observability import metrics
from worker.pii.redaction import redact_text, redact_ticket
from worker.settings import get_settings
from worker.state import mark, redis_client

log = logging.getLogger(__name__)
DELIVERIES = "ticketfusion:deliveries:"


def dead_letters() -> DeadLetterStore:
    return DeadLetterStore(redis_client())


def redacted(raw: Any) -> dict[str, Any] | None:
    """A payload fit to keep: the ticket as the CRM would store it, or, for one that breaks the
    contract, its JSON redacted and cut to a size a person can read."""
    if isinstance(raw, Ticket):
        return redact_ticket(raw, limits=get_settings().limits()).model_dump(mode="json")
    try:
        ticket = Ticket.model_validate(raw, context={"limits": get_settings().limits()})
    except Exception:  # noqa: BLE001 - whatever it is, keep a redacted view of it
        text = json.dumps(raw, default=str)[:20_000] if not isinstance(raw, str) else raw[:20_000]
        return {"unparsed": redact_text(text)}
    return redact_ticket(ticket, limits=get_settings().limits()).model_dump(mode="json")


def dead_letter(*, ticket_id: str | None, stage: str, reason: str, ticket: Any,
                result: dict[str, Any] | None = None) -> str | None:
    """Record the ticket in the dead-letter store; None (and a loud log line) when Redis refuses."""
    try:
        entry = dead_letters().add(ticket_id=ticket_id or None, stage=stage, reason=reason,
                                   ticket=redacted(ticket) if ticket is not None else None, result=result)
    except redis.RedisError:
        log.error("could not dead-letter ticket %s (%s: %s)", ticket_id, stage, reason, exc_info=True)
        return None
    log.warning("ticket %s dead-lettered at %s: %s", ticket_id, stage, reason)
    metrics.dead_lettered(stage)
    return entry


def delivery_count(task_id: str | None) -> int:
    """This message's delivery number (1 the first time); 0 when it cannot be counted."""
    return delivery_counts([task_id])[0]


def delivery_counts(task_ids: list[str | None]) -> list[int]:
    """:func:`delivery_count` of each message, counted in one round trip (a micro-batch's)."""
    known = [task_id for task_id in task_ids if task_id]
    try:
        with redis_client().pipeline() as pipe:
            for task_id in known:
                pipe.incr(DELIVERIES + task_id)
                pipe.expire(DELIVERIES + task_id, 7 * 24 * 3600)
            counts = iter(pipe.execute()[::2]) if known else iter(())
    except redis.RedisError:
        log.warning("could not count the deliveries of %s", ", ".join(known)[:200], exc_info=True)
        return [0] * len(task_ids)
    return [int(next(counts)) if task_id else 0 for task_id in task_ids]


def deliveries_before(task_ids: list[str]) -> list[int]:
    """How many times each message ran before (0: never), read without counting a delivery;
    raises RedisError, so that a caller can choose the safe side."""
    values = redis_client().mget([DELIVERIES + task_id for task_id in task_ids]) if task_ids else []
    return [int(value or 0) for value in values]


def why(exc: BaseException) -> str:
    """A failure's reason for its dead letter: the exception's type and redacted message."""
    return f"{type(exc).__name__}: {redact_text(str(exc))[:300]}"


def error_entry(stage: str, reason: str) -> dict[str, Any]:
    code = {"time_limit": "time_limit_exceeded", "poison": "poison_message"}.get(stage, f"{stage}_failed")
    return ErrorEntry(where=stage, code=code, message=reason[:500]).model_dump()


@app.task(name=FAILED_TASK, ignore_result=True)
def triage_failed(request: Any, exc: BaseException, traceback: Any) -> None:
    """Error callback of the triage task: it died without answering (its hard time limit killed
    the pool process). Dead-letter the ticket with the cause and mark it failed."""
    args = getattr(request, "args", None) or []
    raw = args[0] if args else None
    ticket_id = str(raw.get("ticket_id") or "") if isinstance(raw, dict) else ""
    reason = why(exc)
    stage = "time_limit" if "TimeLimit" in type(exc).__name__ else "triage"
    log.error("triage of %s failed: %s", ticket_id or "(no id)", reason)
    dead_letter(ticket_id=ticket_id, stage=stage, reason=reason, ticket=raw)
    mark(ticket_id, "failed", [error_entry(stage, reason)])
    metrics.ticket_ended_at_triage(raw, "dead_lettered")
