"""The worker's Prometheus metrics and the few calls the tasks make to move them.

The metrics live in whichever process runs the task (a prefork pool process, or the worker's main
process for the triage task's error callback). Under ``ticketfusion worker`` every process writes
them to a shared folder (prometheus_client's multiprocess mode, set up by :mod:`.exporter` before
the pool forks) and the main process adds them up when scraped; anywhere else (a test, the
in-process CLI) they are ordinary in-memory metrics. Every metric has labels, so no value exists
before its first use: that is what lets the exporter switch to multiprocess mode after this module
was imported.

Label values come from small fixed sets (the queues, :data:`OUTCOMES`, :data:`STAGES`, the
dead-letter stages), never from a ticket, so the number of series stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from celery._state import get_current_task
from prometheus_client import Counter, Gauge, Histogram

from worker.app import ALL_QUEUES, queue_for
from worker.crm.dead_letters import STAGES as DEAD_LETTER_STAGES

#: How a ticket ends, counted once by the task that ends it:
#: ``recorded``: triaged and written to the CRM (status done);
#: ``failed``: ends with status failed but not in the dead-letter store (nothing could be triaged,
#: so the CRM holds the errors; or its ticket_id belongs to another customer, ``ticket_conflict``);
#: ``dead_lettered``: ends in the dead-letter store (a contract breach, a triage that raised, a
#: hard time limit, a poison message, a CRM write out of retries), status failed.
OUTCOMES = ("recorded", "failed", "dead_lettered")

#: The pipeline's stages, as charted.
STAGES = ("decode", "ocr", "speech", "encode", "fuse", "understand", "crm")

#: ``TriageResult.timings_ms`` key -> stage. Keys of one stage are added up per ticket, so each
#: stage a ticket went through is one observation. ``total`` is the triage as a whole
#: (``ticketfusion_triage_seconds``); ``crm`` is timed by the crm_update task itself.
STAGE_OF_TIMING: Mapping[str, str] = {
    "cleaning": "decode",        # text: HTML to text, normalisation, quoted thread and signature removed
    "decode": "decode",          # media: image or audio bytes decoded (worker/media/reader.py)
    "ocr": "ocr",                # screenshot text (rapidocr)
    "vad": "speech",             # silence trimmed (Silero VAD)
    "asr": "speech",             # transcription (Whisper)
    "intent": "encode",          # sentence encoder and intent head over the ticket's texts
    "image_encoder": "encode",   # image embedding for the fusion
    "audio_encoder": "encode",   # audio embedding for the fusion
    "fusion": "fuse",            # the fusion classifier (tickets with readable attachments)
    "entities": "understand",    # entities and values
    "scope": "understand",       # out-of-scope score
    "reply": "understand",       # priority and reply
}

_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0)

TICKETS = Counter("ticketfusion_tickets", "Tickets ended, by the queue they were triaged on and how they ended",
                  ["queue", "outcome"])
STAGE_SECONDS = Histogram("ticketfusion_stage_seconds", "Time one ticket spent in one stage of the pipeline",
                          ["stage"], buckets=_SECONDS_BUCKETS)
TRIAGE_SECONDS = Histogram("ticketfusion_triage_seconds", "Time to triage one ticket, all stages but the CRM write",
                           ["queue"], buckets=_SECONDS_BUCKETS)
DEAD_LETTERS = Counter("ticketfusion_dead_letters", "Tickets put in the dead-letter store, by the stage that failed",
                       ["stage"])
BATCH_SIZE = Histogram("ticketfusion_batch_size", "Tickets a pool process triaged together (micro-batching)",
                       ["queue"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
MODEL_INFO = Gauge("ticketfusion_model_info", "The models a live pool process triages with (value 1)",
                   ["model", "version"], multiprocess_mode="livemax")


def current_queue() -> str:
    """The queue the running task was taken from; ``unknown`` outside a worker's task."""
    task = get_current_task()
    info = getattr(getattr(task, "request", None), "delivery_info", None) or {}
    queue = info.get("routing_key") if isinstance(info, dict) else None
    return queue if queue in ALL_QUEUES else "unknown"


def _queue_of(payload: Any) -> str:
    """The triage queue of a crm_update payload: as the triage task wrote it, else as routed."""
    if not isinstance(payload, dict):
        return "unknown"
    if payload.get("queue") in ALL_QUEUES:
        return str(payload["queue"])
    ticket = payload.get("ticket")
    return queue_for(ticket) if isinstance(ticket, dict) else "unknown"


def ticket_ended(payload: Any, outcome: str) -> None:
    """Count one ticket as ended; call it where the task that ends the ticket returns."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    TICKETS.labels(_queue_of(payload), outcome).inc()


def ticket_ended_at_triage(raw_ticket: Any, outcome: str) -> None:
    """Count a ticket that ended at the triage step (its error callback), from its raw payload."""
    ticket_ended({"ticket": raw_ticket if isinstance(raw_ticket, dict) else None}, outcome)


def observe_triage(timings_ms: Mapping[str, float], model_version: str, *, queue: str) -> None:
    """One ticket's stage timings (see :data:`STAGE_OF_TIMING`) and the models that triaged it."""
    per_stage: dict[str, float] = {}
    for key, ms in timings_ms.items():
        stage = STAGE_OF_TIMING.get(key)
        if stage is not None:
            per_stage[stage] = per_stage.get(stage, 0.0) + float(ms)
    for stage, ms in per_stage.items():
        STAGE_SECONDS.labels(stage).observe(ms / 1000)
    if "total" in timings_ms:
        TRIAGE_SECONDS.labels(queue if queue in ALL_QUEUES else "unknown").observe(float(timings_ms["total"]) / 1000)
    for part in filter(None, model_version.split(";")):
        name, _, version = part.partition(":")
        model = name if version else part.split("-", 1)[0]
        MODEL_INFO.labels(model, version or part).set(1)


def observe_batch(size: int, *, queue: str) -> None:
    """One micro-batch of ``size`` tickets (worker.batching): how well arrivals are grouped."""
    BATCH_SIZE.labels(queue=queue if queue in ALL_QUEUES else "unknown").observe(size)


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Observe the block's duration as ``stage`` when it completes; a block that raises (a
    database outage, retried) is not a stage the ticket went through, so it is not observed."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    started = time.perf_counter()
    yield
    STAGE_SECONDS.labels(stage).observe(time.perf_counter() - started)


def dead_lettered(stage: str) -> None:
    """Count one ticket put in the dead-letter store at ``stage``."""
    DEAD_LETTERS.labels(stage if stage in DEAD_LETTER_STAGES else "other").inc()
