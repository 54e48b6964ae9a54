"""The Celery app: broker, serialization, queues and routes. Imports the contract and settings only.

Delivery is at-least-once (late acks, requeue when a worker dies); the CRM write is idempotent by
``ticket_id``, so a redelivered ticket has exactly one effect.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import Celery, chain
from kombu import Exchange, Queue

from worker.settings import Settings, get_settings

TRIAGE_TASK = "ticketfusion.triage"  # one ticket at a time: media, and messages sent before batching
TRIAGE_TEXT_TASK = "ticketfusion.triage_text"  # text tickets, micro-batched (worker.batching)
CRM_TASK = "ticketfusion.crm_update"
FAILED_TASK = "ticketfusion.triage_failed"
WEBHOOK_TASK = "ticketfusion.webhook_deliver"
ENRICH_TASK = "ticketfusion.enrich_customer"  # after each CRM write: that customer's profile
ENRICH_DUE_TASK = "ticketfusion.enrich_due"  # from beat: every customer whose profile is behind
QUEUE_TEXT = "text"
QUEUE_MEDIA = "media"
QUEUE_CRM = "crm"
QUEUE_WEBHOOKS = "webhooks"  # results out: a slow receiver never holds up the CRM writes
ALL_QUEUES = (QUEUE_TEXT, QUEUE_MEDIA, QUEUE_CRM, QUEUE_WEBHOOKS)


def configure(app: Celery, settings: Settings) -> None:
    """Apply the broker URL and the delivery guarantees to ``app``."""
    url = settings.redis_url or "redis://127.0.0.1:6379/0"
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Text tickets are micro-batched: the buffer fills only with that many messages in hand,
        # and twice a batch lets the next one gather while the first runs.
        worker_prefetch_multiplier=2 * settings.batch_max if settings.batch_max > 1 else 1,
        ticketfusion_batch_text=settings.batch_max > 1,  # producers send text to the batched task
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=max(1, settings.task_time_limit_s - 10),
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        result_expires=settings.result_expires_s,
        broker_connection_retry_on_startup=True,
        # One direct exchange per queue: a message for one queue can never land in another.
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ALL_QUEUES],
        task_default_exchange=QUEUE_TEXT,
        task_default_routing_key=QUEUE_TEXT,
        task_default_queue=QUEUE_TEXT,
        task_routes={TRIAGE_TASK: {"queue": QUEUE_TEXT}, TRIAGE_TEXT_TASK: {"queue": QUEUE_TEXT}, CRM_TASK: {"queue": QUEUE_CRM},
                     FAILED_TASK: {"queue": QUEUE_CRM}, WEBHOOK_TASK: {"queue": QUEUE_WEBHOOKS},
                     ENRICH_TASK: {"queue": QUEUE_CRM}, ENRICH_DUE_TASK: {"queue": QUEUE_CRM}},
        # `ticketfusion beat`: the periodic enrichment catches what on-update tasks missed (a
        # worker down) and profiles whose time windows moved; it expires before the next run.
        beat_schedule={"enrich-due": {"task": ENRICH_DUE_TASK, "schedule": float(settings.enrich_interval_s),
                                      "options": {"queue": QUEUE_CRM, "expires": float(settings.enrich_interval_s)}}},
        worker_hijack_root_logger=False,
        # Task events (received, started, succeeded...; "sent" from producers) so Flower shows live tasks.
        worker_send_task_events=True,
        task_send_sent_event=True,
        imports=("worker.tasks",),
    )


app = Celery("ticketfusion")
configure(app, get_settings())


def queue_for(ticket: dict[str, Any]) -> str:
    """Tickets with attachments go to ``media`` so text tickets never wait behind OCR or ASR."""
    return QUEUE_MEDIA if ticket.get("attachments") else QUEUE_TEXT


def chain_ids(ticket_id: str) -> tuple[str, str]:
    """The triage and crm_update task ids of a new chain: one random part, then the ticket id, so
    Flower, the logs and Redis name the ticket a task belongs to."""
    base = uuid.uuid4().hex
    return f"triage-{base}-{ticket_id}", f"crm-{base}-{ticket_id}"


def triage_chain(ticket: dict[str, Any], *, celery_app: Celery | None = None) -> Any:
    """The signature a producer sends: triage on the right queue, then the CRM update.

    Should the triage task fail outright (a hard time limit kills it before it can answer), its
    error callback dead-letters the ticket with the cause (worker.failures)."""
    the_app = celery_app or app
    triage_id, crm_id = chain_ids(str(ticket.get("ticket_id") or "unknown"))
    queue = queue_for(ticket)
    batched = queue == QUEUE_TEXT and the_app.conf.get("ticketfusion_batch_text")
    name = TRIAGE_TEXT_TASK if batched else TRIAGE_TASK
    triage = the_app.signature(name, args=(ticket,), queue=queue, task_id=triage_id)
    triage.on_error(the_app.signature(FAILED_TASK, queue=QUEUE_CRM))
    update = the_app.signature(CRM_TASK, queue=QUEUE_CRM, task_id=crm_id)
    return chain(triage, update)
