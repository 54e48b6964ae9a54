"""Send tickets to the workers: validate, move attachments into the blob store, publish the chain.

Every public function returns the id of the chain's *last* task (``crm_update``): that is the id a
caller waits on, because its result exists only once the ticket is triaged and written to the CRM.
The triage task id is kept in :class:`Enqueued` for callers who want the triage result itself.
Messages are JSON (``ticket.model_dump(mode="json")``) and carry ``blob://`` references, never file
bytes. A batch publishes through one producer (one broker connection) for speed.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery
from kombu.exceptions import KombuError
from pydantic import ValidationError
from redis.exceptions import RedisError

from producers.sources import SourceLine, read_tickets
from worker.app import app as default_app
from worker.app import triage_chain
from worker.blobs import BlobError, BlobStore, local_path
from worker.contract import Attachment, ErrorEntry, Ticket, describe_validation_error
from worker.errors import TicketfusionError
from worker.settings import Settings, get_settings


log = logging.getLogger(__name__)


class InvalidTicket(TicketfusionError, ValueError):
    """A ticket breaks the contract; ``errors`` names each field and reason."""

    def __init__(self, errors: list[ErrorEntry]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{entry.where}: {entry.message}" for entry in errors))


class EnqueueInterrupted(TicketfusionError, RuntimeError):
    """Publishing stopped part-way (the broker stayed down past the deadline); ``report`` says what
    was sent (``tasks``) and what was not (``unsent``, ``stopped_at_line``)."""

    def __init__(self, report: EnqueueReport, cause: BaseException) -> None:
        self.report = report
        where = f" at line {report.stopped_at_line}" if report.stopped_at_line else ""
        super().__init__(f"stopped{where} after {report.enqueued} tickets sent; not sent: "
                         f"{', '.join(report.unsent[:10])}{' …' if len(report.unsent) > 10 else ''} ({cause})")


class AttachmentUnreadable(BlobError, OSError):
    """An attachment file exists but the OS will not let us read it (EIO, EACCES, disk full...);
    a :class:`BlobError` so a file batch records it by line instead of stopping."""

    def __init__(self, index: int, path: Path, cause: OSError) -> None:
        self.index, self.path = index, path
        reason = cause.strerror or str(cause) or type(cause).__name__
        errno = f" (errno {cause.errno})" if cause.errno is not None else ""
        super().__init__(f"attachments.{index}: cannot read {path}: {reason}{errno}")


@dataclass(frozen=True)
class Enqueued:
    """One sent ticket: wait on ``task_id`` (crm_update); ``triage_id`` is the first task."""

    ticket_id: str
    task_id: str
    triage_id: str | None
    line_no: int | None = None


@dataclass
class EnqueueReport:
    """What :func:`enqueue_file` did: sent tickets in file order and bad records by line."""

    path: Path | None
    enqueued: int = 0
    skipped: int = 0  # already enqueued or recorded (``skip``)
    unsent: list[str] = field(default_factory=list)  # ids not sent when the broker stayed down
    stopped_at_line: int | None = None  # the file's line where sending stopped (it and after: not sent)
    tasks: list[Enqueued] = field(default_factory=list)
    errors: dict[int, list[ErrorEntry]] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """How many records were refused."""
        return len(self.errors)

    @property
    def task_ids(self) -> list[str]:
        """The crm_update ids, in file order."""
        return [item.task_id for item in self.tasks]


@dataclass(frozen=True)
class _Context:
    app: Celery
    store: BlobStore
    settings: Settings


def _context(
    celery_app: Celery | None, blob_store: BlobStore | None, settings: Settings | None
) -> _Context:
    settings = settings or get_settings()
    return _Context(
        app=celery_app or default_app,
        store=blob_store or BlobStore(settings.blob_dir),
        settings=settings,
    )


def validate_ticket(
    ticket: Ticket | Mapping[str, Any], *, settings: Settings | None = None
) -> Ticket:
    """A contract-checked ticket under the configured limits, or :class:`InvalidTicket`."""
    settings = settings or get_settings()
    data = ticket.model_dump() if isinstance(ticket, Ticket) else ticket
    try:
        return Ticket.model_validate(data, context={"limits": settings.limits()})
    except ValidationError as exc:
        raise InvalidTicket(describe_validation_error(exc)) from exc


def stage_attachments(
    ticket: Ticket, *, blob_store: BlobStore, settings: Settings, base: Path | None = None
) -> Ticket:
    """The ticket with every attachment in the blob store and its uri rewritten to ``blob://``.

    Local files (paths, ``file://``) are copied in; ``blob://`` references must already be in the
    store. Raises the store's named errors (:class:`~worker.blobs.AttachmentNotFound`, ...), and
    :class:`AttachmentUnreadable` for any other OS error while reading or storing a file.
    """
    if not ticket.attachments:
        return ticket
    limit = settings.limits().max_attachment_bytes
    staged: list[Attachment] = []
    for index, attachment in enumerate(ticket.attachments):
        path = local_path(attachment.uri, base=base)
        try:
            if path is None:
                stored = blob_store.resolve(attachment.uri)
                key = stored.name
                size = stored.stat().st_size
            else:
                ref = blob_store.put(path, max_bytes=limit)
                key, size = ref.sha256, ref.size_bytes
        except BlobError:
            raise
        except OSError as exc:
            raise AttachmentUnreadable(index, path or Path(attachment.uri), exc) from exc
        update: dict[str, Any] = {"uri": f"blob://{key}", "sha256": key, "size_bytes": size}
        if attachment.content_type is None and path is not None:
            update["content_type"] = mimetypes.guess_type(path.name)[0]
        staged.append(attachment.model_copy(update=update))
    return ticket.model_copy(update={"attachments": staged})


def broker_down(exc: BaseException) -> bool:
    """Whether Redis not answering is behind ``exc`` (Celery's result backend wraps it in a
    RuntimeError once its own reconnect attempts are spent)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (KombuError, RedisError, OSError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def publish(ticket: Ticket, *, celery_app: Celery | None = None, producer: Any = None) -> Enqueued:
    """Publish one validated ticket whose attachments are in the blob store (the HTTP API's path:
    it answers 503 at once rather than holding a request through a broker outage)."""
    return _send(ticket, app=celery_app or default_app, producer=producer)


def _send_within(ticket: Ticket, *, app: Celery, producer: Any, deadline_s: float,
                 line_no: int | None = None) -> Enqueued:
    """Publish, retrying with backoff while Redis is down or restarting, for at most ``deadline_s``
    from the first failure; then the broker's error goes to the caller."""
    deadline, delay = None, 0.25
    while True:
        try:
            return _send(ticket, app=app, producer=producer, line_no=line_no)
        except Exception as exc:
            if not broker_down(exc):
                raise
            deadline = deadline or time.monotonic() + deadline_s
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Redis does not answer (%s); retrying %s in %.1f s", type(exc).__name__, ticket.ticket_id,
                        delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _send(ticket: Ticket, *, app: Celery, producer: Any, line_no: int | None = None) -> Enqueued:
    """Publish one chain; a short argsrepr keeps ticket text out of headers, logs and Flower."""
    result = triage_chain(ticket.model_dump(mode="json"), celery_app=app).apply_async(
        producer=producer, argsrepr=f"(<ticket {ticket.ticket_id}>,)", kwargsrepr="{}"
    )
    parent = getattr(result, "parent", None)
    return Enqueued(ticket.ticket_id, result.id, parent.id if parent is not None else None, line_no)


def enqueue_ticket(
    ticket: Ticket | Mapping[str, Any],
    *,
    celery_app: Celery | None = None,
    blob_store: BlobStore | None = None,
    settings: Settings | None = None,
) -> str:
    """Validate, stage attachments and send one ticket; returns the crm_update task id."""
    return enqueue_many([ticket], celery_app=celery_app, blob_store=blob_store, settings=settings)[
        0
    ]


def enqueue_many(
    tickets: Iterable[Ticket | Mapping[str, Any]],
    *,
    celery_app: Celery | None = None,
    blob_store: BlobStore | None = None,
    settings: Settings | None = None,
) -> list[str]:
    """Send many tickets through one producer; returns their crm_update task ids in order.

    Every ticket is validated and its attachments staged *before* the first is sent, so a bad
    ticket raises (:class:`InvalidTicket` or a blob error, naming its index) and nothing is sent;
    an attachment the OS cannot read is an :class:`InvalidTicket` naming the ticket and file.
    """
    ctx = _context(celery_app, blob_store, settings)
    ready: list[Ticket] = []
    for index, item in enumerate(tickets):
        try:
            ticket = validate_ticket(item, settings=ctx.settings)
        except InvalidTicket as exc:
            raise InvalidTicket(
                [
                    entry.model_copy(update={"where": f"tickets[{index}].{entry.where}"})
                    for entry in exc.errors
                ]
            ) from exc
        try:
            ready.append(stage_attachments(ticket, blob_store=ctx.store, settings=ctx.settings))
        except AttachmentUnreadable as exc:
            where = f"tickets[{index}].attachments.{exc.index}.uri"
            entry = ErrorEntry(where=where, code="attachment_unreadable", message=str(exc))
            raise InvalidTicket([entry]) from exc
    sent: list[Enqueued] = []
    try:
        with ctx.app.producer_or_acquire() as producer:
            for ticket in ready:
                sent.append(_send_within(ticket, app=ctx.app, producer=producer,
                                         deadline_s=ctx.settings.enqueue_deadline_s))
    except Exception as exc:
        if not broker_down(exc):
            raise
        report = EnqueueReport(path=None, enqueued=len(sent), tasks=sent,
                               unsent=[ticket.ticket_id for ticket in ready[len(sent):]])
        raise EnqueueInterrupted(report, exc) from exc
    return [item.task_id for item in sent]


def enqueue_file(
    path: Path,
    *,
    fmt: str | None = None,
    mapping: str | Mapping[str, str] | None = None,
    progress: bool = True,
    celery_app: Celery | None = None,
    blob_store: BlobStore | None = None,
    settings: Settings | None = None,
    skip: Callable[[str], bool] | None = None,
    on_sent: Callable[[Enqueued], None] | None = None,
) -> EnqueueReport:
    """Send every valid record of a JSONL/CSV file; bad records are reported by line, not sent.

    Streams the file (memory stays flat however long it is). A broker failure part-way raises
    :class:`EnqueueInterrupted` whose ``report`` lists what was sent, so a rerun can skip it:
    ``skip(ticket_id)`` true leaves a ticket out (``--resume``), and ``on_sent`` hears of each one
    sent (to record it as queued).
    """
    path = Path(path)
    ctx = _context(celery_app, blob_store, settings)
    report = EnqueueReport(path=path)
    lines = read_tickets(path, fmt=fmt, mapping=mapping, settings=ctx.settings)
    with _progress(path, enabled=progress) as advance, ctx.app.producer_or_acquire() as producer:
        for line in lines:
            advance(line.line_no)
            if skip is not None and line.ticket is not None and skip(line.ticket.ticket_id):
                report.skipped += 1
                continue
            ticket = _staged(line, report, ctx)
            if ticket is None:
                continue
            try:
                sent = _send_within(ticket, app=ctx.app, producer=producer, line_no=line.line_no,
                                    deadline_s=ctx.settings.enqueue_deadline_s)
            except Exception as exc:
                report.unsent.append(ticket.ticket_id)
                report.stopped_at_line = line.line_no
                raise EnqueueInterrupted(report, exc) from exc
            report.tasks.append(sent)
            report.enqueued += 1
            if on_sent is not None:
                on_sent(sent)
        advance(None)
    return report


def _staged(line: SourceLine, report: EnqueueReport, ctx: _Context) -> Ticket | None:
    """The line's ticket with attachments in the store, or None after recording its errors."""
    if line.ticket is None or line.errors:
        report.errors[line.line_no] = list(line.errors)
        return None
    try:
        return stage_attachments(line.ticket, blob_store=ctx.store, settings=ctx.settings)
    except BlobError as exc:
        report.errors[line.line_no] = [
            ErrorEntry(where=f"line {line.line_no}: attachments", code=_code(exc), message=str(exc))
        ]
        return None


def _code(exc: Exception) -> str:
    """``AttachmentTooLarge`` -> ``attachment_too_large``: a code a program can match on."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


@contextmanager
def _progress(path: Path, *, enabled: bool) -> Iterator[Any]:
    """A rich bar over the file's physical lines (on stderr); a no-op when disabled."""
    if not enabled:
        yield lambda line_no: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    total = _count_lines(path)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(f"enqueue {path.name}", total=total)

        def advance(line_no: int | None) -> None:
            bar.update(task, completed=total if line_no is None else line_no)

        yield advance


def _count_lines(path: Path) -> int:
    """Physical lines, counted in binary chunks so the bar can show a total."""
    count, last = 0, b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")
