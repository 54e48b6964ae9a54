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
    worker_ready,
)
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.app import CRM_TASK, FAILED_TASK, QUEUE_WEBHOOKS, TRIAGE_TASK, WEBHOOK_TASK, app, parse_chain_id
from worker.contract import CustomerContext, ErrorEntry, Ticket, TriageResult
from worker.crm.deliveries import DeliveryStore
from worker.crm.statuses import Status, StatusStore
from worker.crm.store import CrmStore, TicketMismatch
from worker.orchestrator.triager import Triager, parse_ticket
from worker.outbound import Subscription, attempt, load_subscriptions, open_deliveries
from worker.pii.redaction import RedactingFilter, redact_result, redact_ticket
from worker.settings import get_settings

log = logging.getLogger(__name__)
# Ticket contents stay out of the logs, even redacted: log that a task succeeded, not its value.
trace.LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime)ss"
_lock = threading.Lock()
_triager: Triager | None = None
_store: CrmStore | None = None
_subscriptions: list[Subscription] | None = None


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


def get_subscriptions() -> list[Subscription]:
    """The result subscriptions (``TICKETFUSION_WEBHOOKS_FILE``), read once per process."""
    global _subscriptions
    with _lock:
        if _subscriptions is None:
            _subscriptions = load_subscriptions(settings=get_settings())
        return _subscriptions


@worker_ready.connect
def _check_subscriptions(**_: Any) -> None:
    """A bad subscriptions file stops the worker at start, loudly, rather than at the first result."""
    get_subscriptions()


@worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    """A forked child must not share the parent's sessions or database connections."""
    global _triager, _store
    _triager, _store = None, None  # subscriptions hold no connection: the child keeps them


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_logs(logger: logging.Logger, **_: Any) -> None:
    """Mask card numbers and other PII in everything the worker logs."""
    for handler in logger.handlers:
        handler.addFilter(RedactingFilter())


def _mark(ticket_id: str, status: Status, errors: list[dict[str, Any]] | None = None) -> None:
    """Move the ticket's status on; a database hiccup costs the status, never the ticket."""
    if not ticket_id:
        return
    try:
        StatusStore(get_store()).mark(ticket_id, status, errors=errors or [])
    except Exception:  # noqa: BLE001 - the CRM write (retried) is what must not be lost
        log.warning("could not mark ticket %s %s", ticket_id, status, exc_info=True)


def _failed(result: TriageResult) -> bool:
    """Nothing could be triaged: no intent came out, for the reasons in ``errors``."""
    return result.intent is None and bool(result.errors)


@app.task(name=TRIAGE_TASK, ignore_result=True, store_errors_even_if_ignored=True)
def triage(ticket: dict[str, Any]) -> dict[str, Any]:
    """Triage one ticket; the returned (redacted) ticket and result feed ``crm_update``.

    The value travels to ``crm_update`` in the chain's next message and is not kept in the result
    backend: the ticket's text has no business sitting in Redis for a day. Any failure, a soft time
    limit included, still answers, with the failure in ``errors``, so the chain reaches the CRM.
    """
    parsed = parse_ticket(ticket, limits=get_settings().limits())
    _mark(parsed.ticket_id, "processing")
    try:
        result = get_triager().triage(parsed.ticket or ticket)  # validated once; errors come back named
    except Exception as exc:  # noqa: BLE001 - recorded as failed, with why, instead of vanishing
        log.exception("triage of %s failed", parsed.ticket_id)
        result = TriageResult(ticket_id=parsed.ticket_id, customer_id=parsed.customer_id, errors=[
            ErrorEntry(where="triage", code="triage_failed", message=f"{type(exc).__name__}: {str(exc)[:300]}")])
    return {
        "ticket": redact_ticket(parsed.ticket).model_dump(mode="json") if parsed.ticket else None,
        "result": redact_result(result).model_dump(mode="json"),
    }


@app.task(name=FAILED_TASK, ignore_result=True)
def triage_failed(task_id: str) -> None:
    """The triage task died without answering (its hard time limit): mark the ticket failed, with
    the cause. (Celery itself marks the chain's later tasks failed, so waiters are released.)"""
    parsed = parse_chain_id(task_id)
    if parsed is None:
        log.error("triage task %s failed and names no ticket", task_id)
        return
    ticket_id, _ = parsed
    cause = app.AsyncResult(task_id).result
    reason = f"{type(cause).__name__}: {str(cause)[:300]}" if isinstance(cause, BaseException) else "the task failed"
    log.error("triage of %s failed: %s", ticket_id, reason)
    _mark(ticket_id, "failed", [ErrorEntry(where="triage", code="triage_failed", message=reason).model_dump()])


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

    A database outage retries with backoff instead of losing the write.
    """
    result = TriageResult.model_validate(payload["result"])
    summary = _summary(result)
    errors = [error.model_dump() for error in result.errors]
    if payload.get("ticket") is None:
        log.warning("ticket %s not recorded: it failed validation", result.ticket_id)
        _mark(result.ticket_id, "failed", errors)
        return summary
    ticket = Ticket.model_validate(payload["ticket"], context={"limits": get_settings().limits()})
    try:
        created = get_store().record(ticket, result)
    except TicketMismatch as exc:
        log.error("ticket %s not recorded: %s", ticket.ticket_id, exc)
        conflict = ErrorEntry(where="ticket_id", code="ticket_conflict", message=str(exc)[:300])
        _mark(ticket.ticket_id, "failed", [*errors, conflict.model_dump()])
        return summary | {"errors": [*summary["errors"], f"ticket_id: ticket_conflict ({exc})"]}
    _mark(ticket.ticket_id, "failed" if _failed(result) else "done", errors)
    _send_results(result, ticket)
    return summary | {"recorded": True, "created": created}


def _send_results(result: TriageResult, ticket: Ticket) -> None:
    """Owe the result to each subscription that wants it; a redelivery opens the same deliveries."""
    subscriptions = get_subscriptions()
    if not subscriptions:
        return
    for delivery_id in open_deliveries(DeliveryStore(get_store()), result, ticket, subscriptions):
        webhook_deliver.apply_async((delivery_id,), queue=QUEUE_WEBHOOKS)


@app.task(name=WEBHOOK_TASK, bind=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
          retry_backoff_max=300, retry_jitter=True, max_retries=100)
def webhook_deliver(self: Any, delivery_id: str) -> dict[str, Any]:
    """POST one result to its subscriber; the delivery's row counts the attempts and says when it is dead."""
    outcome = attempt(delivery_id, store=DeliveryStore(get_store()), subscriptions=get_subscriptions())
    if outcome.kind == "retry":
        raise self.retry(countdown=outcome.countdown)
    return outcome.as_dict()


def _summary(result: TriageResult) -> dict[str, Any]:
    """What ``crm_update`` answers: the result's flat values, not its text."""
    flat = result.summary()
    return {
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
