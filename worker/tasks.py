"""Thin Celery tasks around the pipeline and the CRM store. Models and the database engine load
once per worker process (on its first task); triage redacts what it hands on."""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from typing import Any

import redis
from celery.app import trace
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_init,
    task_received,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.app import (
    CRM_TASK,
    QUEUE_WEBHOOKS,
    TRIAGE_TASK,
    TRIAGE_TEXT_TASK,
    WEBHOOK_TASK,
    app,
)
from worker.batching import HANDOFF_RETRY, MicroBatches, send_next
from worker.contract import CustomerContext, ErrorEntry, Ticket, TriageResult, is_id
from worker.crm.deliveries import DeliveryStore
from worker.crm.links import LinkStore
from worker.crm.store import TicketMismatch
from worker.failures import dead_letter, dead_letters, deliveries_before, delivery_count, delivery_counts, error_entry
from worker.observability import exporter, json_logs, metrics
from worker.orchestrator.triager import Triager, parse_ticket
from worker.outbound import Subscription, attempt, load_subscriptions, open_deliveries
from worker.pii.identities import Identity, identities_in
from worker.profile_tasks import queue_enrichment  # and registers the profile tasks
from worker.pii.redaction import RedactingFilter, redact_result, redact_text, redact_ticket
from worker.redelivery import Watchdog, claim, delivery_tag
from worker.settings import get_settings
from worker.state import get_store, mark, mark_many, redis_client, reset_after_fork

log = logging.getLogger(__name__)
CRM_RETRIES = get_settings().crm_retries  # read when the worker imports its tasks
# Ticket contents stay out of the logs, even redacted: log that a task succeeded, not its value.
trace.LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime).3fs"
_lock = threading.Lock()
_triager: Triager | None = None
_subscriptions: list[Subscription] | None = None
_watchdog: Watchdog | None = None
exporter.connect()  # the metrics endpoint and the log format follow the worker's signals
json_logs.connect()


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


def get_subscriptions() -> list[Subscription]:
    """The result subscriptions (``TICKETFUSION_WEBHOOKS_FILE``), read once per process."""
    global _subscriptions
    with _lock:
        if _subscriptions is None:
            _subscriptions = load_subscriptions(settings=get_settings())
        return _subscriptions


@celeryd_init.connect
def _patient_publishes(**_: Any) -> None:
    """A worker's publishes (the chain's next task above all) wait out a Redis restart, about 90 s,
    instead of failing a triaged ticket; producers keep Celery's short default and their own retries."""
    app.conf.task_publish_retry_policy = HANDOFF_RETRY
    app.amqp.__dict__.pop("send_task_message", None)  # a sender made before would keep the old policy


@worker_ready.connect
def _check_subscriptions(**_: Any) -> None:
    """A bad subscriptions file stops the worker at start, loudly, rather than at the first result."""
    get_subscriptions()


@worker_ready.connect
def _start_watchdog(sender: Any = None, **_: Any) -> None:
    """Heartbeat, and redelivery of what dead workers held (worker.redelivery)."""
    global _watchdog
    hostname = getattr(sender, "hostname", None)
    if hostname and _watchdog is None:
        _watchdog = Watchdog(app, redis_client(), hostname=hostname, heartbeat_s=get_settings().heartbeat_s)
        _watchdog.start()


@worker_shutdown.connect
def _stop_watchdog(**_: Any) -> None:
    if _watchdog is not None:
        _watchdog.stop()


@task_received.connect
def _claim(sender: Any = None, request: Any = None, **_: Any) -> None:
    """Say which worker holds each message it takes, so its death can be seen."""
    tag, hostname = delivery_tag(request), getattr(sender, "hostname", None)
    if tag and hostname:
        try:
            claim(redis_client(), tag, hostname)
        except redis.RedisError:
            log.warning("could not record the holder of %s", tag, exc_info=True)


@worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    """A forked child must not share the parent's sessions or database connections."""
    global _triager
    _triager = None  # subscriptions hold no connection: the child keeps them
    reset_after_fork()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_logs(logger: logging.Logger, **_: Any) -> None:
    """Mask card numbers and other PII in everything the worker logs."""
    for handler in logger.handlers:
        handler.addFilter(RedactingFilter())


def _failed(result: TriageResult) -> bool:
    """Nothing could be triaged: no intent came out, for the reasons in ``errors``."""
    return result.intent is None and bool(result.errors)


# Errors are stored although results are not: only a hard time limit escapes the task (it catches the
# rest), its TimeLimitExceeded holds no ticket text, and Celery needs it stored to fail the chain's
# last task too, which is what releases a caller waiting on it.
@app.task(name=TRIAGE_TASK, bind=True, ignore_result=True, store_errors_even_if_ignored=True)
def triage(self: Any, ticket: dict[str, Any]) -> dict[str, Any]:
    """Triage one ticket (media, or sent before batching); the redacted ticket and result feed
    ``crm_update`` in the chain's next message, not the result backend. A ticket that cannot be
    processed is dead-lettered with its reason (:mod:`worker.failures`): a payload that breaks the
    contract, a triage that raises, a message delivered more than ``max_deliveries`` times.
    """
    parsed = parse_ticket(ticket, limits=get_settings().limits())
    ended = _refused(parsed, ticket, delivery_count(self.request.id))
    if ended is not None:
        return ended
    assert parsed.ticket is not None
    mark(parsed.ticket_id, "processing")
    try:
        result = get_triager().triage(parsed.ticket)
    except Exception as exc:  # noqa: BLE001 - dead-lettered with why, instead of vanishing
        log.exception("triage of %s failed", parsed.ticket_id)
        return _dead(parsed.ticket_id, "triage", _why(exc), parsed.ticket)
    return _answer(parsed.ticket, result, metrics.current_queue())


# A message that ran before runs alone; a batch that raised (a failed hand-off) goes back on the queue.
@app.task(name=TRIAGE_TEXT_TASK, base=MicroBatches, ignore_result=True, seen_before=staticmethod(deliveries_before),
          requeue_on_error=True, flush_every=get_settings().batch_max, flush_interval=get_settings().batch_wait_ms / 1000)
def triage_text(requests: list[Any]) -> int:
    """Triage the text tickets that arrived together in one pass of the models, each then on to
    its own ``crm_update``; the same answers, dead letters and poison rule as :func:`triage`."""
    settings = get_settings()
    answers: dict[int, dict[str, Any]] = {}
    ready: list[tuple[int, Ticket]] = []
    counts = delivery_counts([request.id for request in requests])
    for index, (request, deliveries) in enumerate(zip(requests, counts)):
        raw = request.args[0] if request.args else None
        parsed = parse_ticket(raw, limits=settings.limits())
        ended = _refused(parsed, raw, deliveries, queue=_queue(request))
        if ended is not None:
            answers[index] = ended
        else:
            ready.append((index, parsed.ticket))  # _refused answers every ticket that is None
    metrics.observe_batch(len(requests), queue=_queue(requests[0]) if requests else "unknown")
    mark_many([ticket.ticket_id for _, ticket in ready], "processing")
    for (index, ticket), result in zip(ready, _triage_all([ticket for _, ticket in ready])):
        queue = _queue(requests[index])
        answers[index] = (_answer(ticket, result, queue) if isinstance(result, TriageResult)
                          else _dead(ticket.ticket_id, "triage", result, ticket, queue=queue))
    for index, request in enumerate(requests):  # in the request's context: logs and metrics name it
        triage_text.push_request(id=request.id, args=request.args, delivery_info=request.delivery_info)
        try:
            log.info("triaged in a batch of %d", len(requests))
            send_next(request, answers[index], app=app)
        finally:
            triage_text.pop_request()
    return len(requests)


def _triage_all(tickets: list[Ticket]) -> list[TriageResult | str]:
    """Results in order; should the batch fail, each ticket alone, so one costs only itself."""
    try:
        return list(get_triager().triage_batch(tickets))
    except Exception:  # noqa: BLE001 - retried one by one below
        log.exception("a batch of %d tickets failed; triaging them one by one", len(tickets))
    outcomes: list[TriageResult | str] = []
    for ticket in tickets:
        try:
            outcomes.append(get_triager().triage(ticket))
        except Exception as exc:  # noqa: BLE001 - dead-lettered with why
            log.exception("triage of %s failed", ticket.ticket_id)
            outcomes.append(_why(exc))
    return outcomes


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {redact_text(str(exc))[:300]}"


def _queue(request: Any) -> str:
    return str((getattr(request, "delivery_info", None) or {}).get("routing_key") or "unknown")


def _refused(parsed: Any, raw: Any, deliveries: int, *, queue: str | None = None) -> dict[str, Any] | None:
    """The dead-letter answer for a message delivered too often or breaking the contract, else None."""
    settings = get_settings()
    if deliveries > settings.max_deliveries:
        reason = (f"delivered {deliveries} times: it stopped its worker process each time (killed, or out of "
                  "memory) before it could answer")
        return _dead(parsed.ticket_id, "poison", reason, parsed.ticket or raw, queue=queue)
    if parsed.ticket is None:
        reason = "; ".join(f"{e.where}: {e.message}" for e in parsed.errors)[:500]
        return _dead(parsed.ticket_id, "validation", reason, raw, errors=parsed.errors, queue=queue)
    return None


def _answer(ticket: Ticket, result: TriageResult, queue: str) -> dict[str, Any]:
    """What crm_update receives: the redacted ticket and result, the queue, the hashed identities."""
    metrics.observe_triage(result.timings_ms, result.model_version or "", queue=queue)
    return {
        "ticket": redact_ticket(ticket, limits=get_settings().limits()).model_dump(mode="json"),
        "result": redact_result(result).model_dump(mode="json"),
        "queue": queue,  # the ticket's queue, for crm_update's count
        # Addresses and numbers the ticket shows, as keyed hashes only: they link customer ids.
        "identities": [[i.kind, i.digest] for i in _identities(ticket)],
    }


def _identities(ticket: Ticket) -> list[Identity]:
    """The hashed e-mail addresses and phone numbers in the ticket's text and metadata values."""
    settings = get_settings()
    texts = [ticket.subject, ticket.body, *(v for v in ticket.metadata.values() if isinstance(v, str))]
    try:
        return identities_in(texts, key=settings.customer_hash_key or "", region=settings.phone_region)
    except Exception:  # noqa: BLE001 - linking is an extra: a finder's failure must not cost the ticket
        log.warning("could not read identities of %s", ticket.ticket_id, exc_info=True)
        return []


def _dead(ticket_id: str, stage: str, reason: str, ticket: Any, *, errors: list[ErrorEntry] | None = None,
          queue: str | None = None) -> dict[str, Any]:
    """Dead-letter the ticket; the answer tells crm_update to record the failure, not a triage.
    ``errors`` name each problem (a contract breach has one per field); by default, the reason."""
    dead_letter(ticket_id=ticket_id, stage=stage, reason=reason, ticket=ticket)
    named = errors or [ErrorEntry.model_validate(error_entry(stage, reason))]
    result = TriageResult(ticket_id=ticket_id or "unknown", errors=named)
    return {"ticket": None, "dead_letter": stage, "queue": queue or metrics.current_queue(),
            "result": redact_result(result).model_dump(mode="json")}


class CrmTask(app.Task):  # type: ignore[name-defined,misc]
    """crm_update, which dead-letters its payload once its retries are spent."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        payload = args[0] if args else {}
        result = payload.get("result") if isinstance(payload, dict) else None
        ticket_id = (result or {}).get("ticket_id")
        reason = f"the CRM write failed after {self.request.retries} retries: {_why(exc)}"
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
