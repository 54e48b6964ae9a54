"""The CRM side of the pipeline: recording a triaged ticket (``crm_update``, with its retries and
dead letter), linking and profiling the customer, and owing the result to webhook subscribers."""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from typing import Any

import redis
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.app import CRM_TASK, QUEUE_WEBHOOKS, WEBHOOK_TASK, app
from worker.contract import ErrorEntry, Ticket, TriageResult, is_id
from worker.crm.deliveries import DeliveryStore
from worker.crm.links import LinkStore
from worker.crm.store import TicketMismatch
from worker.failures import dead_letter, dead_letters, error_entry, why
from worker.observability import metrics
from worker.outbound import Subscription, attempt, load_subscriptions, open_deliveries
from worker.pii.identities import Identity
from worker.pii.redaction import redact_text
from worker.tasks.profiles import queue_enrichment
from worker.settings import get_settings
from worker.state import get_store, mark

log = logging.getLogger(__name__)
CRM_RETRIES = get_settings().crm_retries  # read when the worker imports its tasks
_lock = threading.Lock()
_subscriptions: list[Subscription] | None = None


def get_subscriptions() -> list[Subscription]:
    """The result subscriptions (``TICKETFUSION_WEBHOOKS_FILE``), read once per process."""
    global _subscriptions
    with _lock:
        if _subscriptions is None:
            _subscriptions = load_subscriptions(settings=get_settings())
        return _subscriptions


def _failed(result: TriageResult) -> bool:
    """Nothing could be triaged: no intent came out, for the reasons in ``errors``."""
    return result.intent is None and bool(result.errors)


class CrmTask(app.Task):  # type: ignore[name-defined,misc]
    """crm_update, which dead-letters its payload once its retries are spent."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        payload = args[0] if args else {}
        result = payload.get("result") if isinstance(payload, dict) else None
        ticket_id = (result or {}).get("ticket_id")
        reason = f"the CRM write failed after {self.request.retries} retries: {why(exc)}"
        dead_letter(ticket_id=ticket_id, stage="crm", reason=reason,
                    ticket=payload.get("ticket") if isinstance(payload, dict) else None, result=result)
        metrics.ticket_ended(payload, "dead_lettered")


@app.task(
    base=CrmTask,
    name=CRM_TASK,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=False,  # waits 1, 2, 4 … 256 s, then 300 s: about an hour in all, then dead-lettered
    max_retries=CRM_RETRIES,
)
def crm_update(payload: dict[str, Any]) -> dict[str, Any]:
    """Record a triaged ticket; idempotent by ticket_id, so redelivery has one effect.

    A database outage retries with backoff for about an hour (20 retries), then the payload is
    dead-lettered (stage ``crm``) and `ticketfusion dlq replay` writes it once the database is back.
    """
    return record_answer(payload)


def record_answer(payload: dict[str, Any]) -> dict[str, Any]:
    """Record what triage answered for one ticket (a triage, or a failure to mark); the summary it
    returns is crm_update's result. A database error is raised: the caller retries."""
    result = TriageResult.model_validate(payload["result"])
    summary = _summary(result)
    errors = [error.model_dump() for error in result.errors]
    if payload.get("ticket") is None:
        log.warning("ticket %s not recorded: %s", result.ticket_id, payload.get("dead_letter") or "no ticket")
        mark(result.ticket_id, "failed", errors)
        metrics.ticket_ended(payload, "dead_lettered")
        return summary | {"dead_letter": payload.get("dead_letter")}
    try:
        ticket = Ticket.model_validate(payload["ticket"], context={"limits": get_settings().limits()})
    except ValidationError as exc:  # the redacted ticket no longer fits the limits: keep it, say why
        reason = f"the redacted ticket breaks the contract: {redact_text(str(exc))[:300]}"
        dead_letter(ticket_id=result.ticket_id, stage="crm", reason=reason, ticket=payload["ticket"],
                    result=payload["result"])
        mark(result.ticket_id, "failed", [error_entry("crm", reason)])
        metrics.ticket_ended(payload, "dead_lettered")
        return summary | {"dead_letter": "crm"}
    try:
        with metrics.timed("crm"):
            created = get_store().record(ticket, result)
    except TicketMismatch as exc:
        log.error("ticket %s not recorded: %s", ticket.ticket_id, exc)
        conflict = ErrorEntry(where="ticket_id", code="ticket_conflict", message=redact_text(str(exc))[:300])
        mark(ticket.ticket_id, "failed", [*errors, conflict.model_dump()])
        metrics.ticket_ended(payload, "failed")
        return summary | {"errors": [*summary["errors"], f"ticket_id: ticket_conflict ({exc})"]}
    mark(ticket.ticket_id, "failed" if _failed(result) else "done", errors)
    _link_and_enrich(ticket, payload.get("identities") or [])
    _resolved(ticket.ticket_id)
    _send_results(result, ticket)
    metrics.ticket_ended(payload, "failed" if _failed(result) else "recorded")
    return summary | {"recorded": True, "created": created}


def _link_and_enrich(ticket: Ticket, identities: list[Any]) -> None:
    """Record the ticket's identities (linking customers) and refresh the customer's profile in
    the background; the periodic run catches up whatever this misses."""
    found = [Identity(str(kind), str(digest)) for kind, digest in identities
             if kind in ("email", "phone") and isinstance(digest, str) and is_id(digest)]
    LinkStore(get_store()).add_identities(ticket.customer_id, found, ticket_id=ticket.ticket_id)
    queue_enrichment(ticket.customer_id)


def _resolved(ticket_id: str) -> None:
    """A ticket recorded now (a replay, a redelivery that got through) leaves the dead-letter store."""
    try:
        dead_letters().remove(ticket_id)
    except redis.RedisError:
        log.warning("could not clear the dead letter of %s", ticket_id, exc_info=True)


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
    flat = asdict(result.summary())
    keep = ("ticket_id", "customer_id", "intent", "confidence", "out_of_scope", "priority", "action")
    return {key: flat[key] for key in keep} | {"recorded": False, "entities": list(flat["entities"]),
                                               "errors": list(flat["errors"])}
