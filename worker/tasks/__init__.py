"""Thin Celery tasks around the pipeline: triage (one ticket, or a micro-batch of text tickets) and
the worker's signals; the CRM write and webhooks are in :mod:`worker.tasks.crm`, profile refreshes
in :mod:`worker.tasks.profiles`. Models and the database engine load once per worker process (on
its first task); triage redacts what it hands on."""

from __future__ import annotations

import logging
import threading
import time
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

from worker.app import CRM_TASK, TRIAGE_TASK, TRIAGE_TEXT_TASK, app
from worker.batching import HANDOFF_RETRY, MicroBatches, announce_done, next_task, send_next
from worker.contract import CustomerContext, ErrorEntry, Ticket, TriageResult
from worker.tasks.crm import get_subscriptions, record_answer  # and registers the CRM tasks
from worker.failures import dead_letter, deliveries_before, delivery_count, delivery_counts, error_entry, why
from worker.observability import exporter, json_logs, metrics
from worker.orchestrator.triager import Triager, parse_ticket
from worker.pii.identities import Identity, identities_in
from worker.pii.redaction import RedactingFilter, redact_result, redact_ticket
from worker.redelivery import Reclaim, Watchdog, claim, delivery_tag
from worker.settings import get_settings
from worker.state import get_store, mark, mark_many, redis_client, reset_after_fork

log = logging.getLogger(__name__)
# Ticket contents stay out of the logs, even redacted: log that a task succeeded, not its value.
trace.LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime).3fs"
_lock = threading.Lock()
_triager: Triager | None = None
_watchdog: Watchdog | None = None
app.steps["consumer"].add(Reclaim)  # a reconnect gives back what the lost connection held
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
        return _dead(parsed.ticket_id, "triage", why(exc), parsed.ticket)
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
    here = True  # until a write here fails: then the rest go to crm_update without waiting on it
    done: list[tuple[str, Any, float]] = []
    for index, request in enumerate(requests):  # in the request's context: logs and metrics name it
        triage_text.push_request(id=request.id, args=request.args, delivery_info=request.delivery_info)
        try:
            log.info("triaged in a batch of %d", len(requests))
            started = time.perf_counter()
            crm_id = _recorded_here(request, answers[index]) if here else None
            here = crm_id is not None
            if here:
                done.append((crm_id, request, time.perf_counter() - started))
            else:
                send_next(request, answers[index], app=app)
        finally:
            triage_text.pop_request()
    announce_done(app, CRM_TASK, done)
    return len(requests)


def _recorded_here(request: Any, answer: dict[str, Any]) -> str | None:
    """Record the ticket in this process when the chain's only next task is crm_update, storing
    crm_update's result under its id (returned), so a batch costs no message per ticket to the CRM;
    on any failure, None: the caller hands the ticket to crm_update, whose retries and dead letter
    hold."""
    found = next_task(request)
    if found is None or found[0].task != CRM_TASK or found[1]:
        return None
    try:
        summary = record_answer(answer)
        app.backend.mark_as_done(found[0].id, summary)
    except Exception:  # noqa: BLE001 - crm_update takes the ticket (its write is idempotent)
        log.warning("recording in the batch failed; handing the ticket to crm_update", exc_info=True)
        return None
    return str(found[0].id)


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
            outcomes.append(why(exc))
    return outcomes


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


