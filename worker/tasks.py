"""Thin Celery tasks around the pipeline and the CRM store.

Models and the database engine load once per worker process (lazily, on the first task), never
per task. The triage task redacts what it returns, because the result backend is persisted too.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.app import trace
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_process_init,
)
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.app import CRM_TASK, TRIAGE_TASK, app
from worker.contract import CustomerContext, Ticket, TriageResult
from worker.crm.store import CrmStore, TicketMismatch
from worker.orchestrator.triager import Triager, parse_ticket
from worker.pii.redaction import RedactingFilter, redact_result, redact_ticket
from worker.settings import get_settings

log = logging.getLogger(__name__)
# Ticket contents stay out of the logs, even redacted: log that a task succeeded, not its value.
trace.LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime)ss"
_lock = threading.Lock()
_triager: Triager | None = None
_store: CrmStore | None = None


def get_triager() -> Triager:
    """The process's loaded models."""
    global _triager
    with _lock:
        if _triager is None:
            _triager = Triager.load(get_settings(), context=customer_context)
        return _triager


def customer_context(ticket: Ticket) -> CustomerContext:
    """The CRM's name for the customer and their recent intents, for the greeting and priority."""
    return get_store().customer_context(
        ticket.customer_id,
        before=ticket.created_at,
        days=get_settings().repeat_contact_days,
        exclude_ticket_id=ticket.ticket_id,
    )


def get_store() -> CrmStore:
    """The process's CRM store (one engine and pool per process)."""
    global _store
    with _lock:
        if _store is None:
            store = CrmStore(get_settings().database_url)
            store.migrate()  # kept only once it succeeds, so a later retry migrates again
            _store = store
        return _store


@worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    """A forked child must not share the parent's sessions or database connections."""
    global _triager, _store
    _triager, _store = None, None


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_logs(logger: logging.Logger, **_: Any) -> None:
    """Mask card numbers and other PII in everything the worker logs."""
    for handler in logger.handlers:
        handler.addFilter(RedactingFilter())


@app.task(name=TRIAGE_TASK, ignore_result=True)
def triage(ticket: dict[str, Any]) -> dict[str, Any]:
    """Triage one ticket; the returned (redacted) ticket and result feed ``crm_update``.

    The value travels to ``crm_update`` in the chain's next message and is not kept in the result
    backend: the ticket's text has no business sitting in Redis for a day.
    """
    parsed = parse_ticket(ticket, limits=get_settings().limits())
    result = get_triager().triage(parsed.ticket or ticket)  # validated once; errors come back named
    return {
        "ticket": redact_ticket(parsed.ticket).model_dump(mode="json") if parsed.ticket else None,
        "result": redact_result(result).model_dump(mode="json"),
    }


@app.task(
    name=CRM_TASK,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=20,
)
def crm_update(payload: dict[str, Any]) -> dict[str, Any]:
    """Record a triaged ticket; idempotent by ticket_id, so redelivery has one effect.

    A database outage retries with backoff (about an hour in all) instead of losing the write.
    """
    result = TriageResult.model_validate(payload["result"])
    flat = result.summary()
    summary: dict[str, Any] = {
        "ticket_id": flat.ticket_id,
        "customer_id": flat.customer_id,
        "recorded": False,
        "intent": flat.intent,
        "confidence": flat.confidence,
        "out_of_scope": flat.out_of_scope,
        "priority": flat.priority,
        "action": flat.action,
        "entities": list(flat.entities),
        "errors": list(flat.errors),
    }
    if payload.get("ticket") is None:
        log.warning("ticket %s not recorded: it failed validation", result.ticket_id)
        return summary
    ticket = Ticket.model_validate(payload["ticket"], context={"limits": get_settings().limits()})
    try:
        created = get_store().record(ticket, result)
    except TicketMismatch as exc:
        log.error("ticket %s not recorded: %s", ticket.ticket_id, exc)
        return summary | {"errors": [*summary["errors"], f"ticket_id: ticket_conflict ({exc})"]}
    return summary | {"recorded": True, "created": created}
