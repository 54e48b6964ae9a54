"""Taking a ticket in, for every door (POST, batch, webhooks): validate, claim its id, publish.

The id is claimed in the CRM before the message is published, so a second post of the same id
finds the claim and is not triaged again; a publish that fails (Redis down) drops the claim and
answers 503, so the sender's retry is taken and nothing accepted is ever lost.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy.exc import SQLAlchemyError

from producers.enqueue import InvalidTicket, broker_down, publish, validate_ticket
from worker.api.context import ApiContext
from worker.api.errors import ApiError
from worker.blobs import BLOB_SCHEME, AttachmentTooLarge, BlobError, scheme_of
from worker.contract import AttachmentKind, Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intake:
    """What became of one ticket handed in."""

    ticket_id: str
    task_id: str | None
    status: str
    duplicate: bool


def invalid(exc: InvalidTicket) -> ApiError:
    first = exc.errors[0]
    more = f" (and {len(exc.errors) - 1} more problems)" if len(exc.errors) > 1 else ""
    return ApiError(422, first.code or "invalid_ticket", first.message + more, field=first.where)


def check(context: ApiContext, raw: Any) -> Ticket:
    """A contract ticket whose attachments are already in the blob store; 422 otherwise.

    A client may not name files on this server: attachments come as multipart uploads, or as
    ``blob://`` references to files already uploaded."""
    if not isinstance(raw, dict):
        raise ApiError(422, "not_an_object", f"a ticket is a JSON object, not {type(raw).__name__}", field="body")
    try:
        ticket = validate_ticket(raw, settings=context.settings)
    except InvalidTicket as exc:
        raise invalid(exc) from None
    for index, attachment in enumerate(ticket.attachments):
        where = f"attachments.{index}.uri"
        if scheme_of(attachment.uri) != BLOB_SCHEME:
            raise ApiError(422, "attachment_not_uploaded", "attachments must be uploaded (multipart/form-data) or "
                           "name a blob:// already stored; the API never reads server paths or URLs", field=where)
        try:
            context.blobs.resolve(attachment.uri)
        except BlobError as exc:
            raise ApiError(422, "blob_not_found", str(exc), field=where) from None
    return ticket


def accept(context: ApiContext, ticket: Ticket, *, source: str) -> Intake:
    """Claim the id, publish the chain, remember its task id; 503 when a service is down."""
    try:
        context.ensure_schema()
        created, row = context.statuses.accept(ticket.ticket_id, source=source)
    except SQLAlchemyError:
        log.warning("the database refused a claim for %s", ticket.ticket_id, exc_info=True)
        raise ApiError(503, "database_unavailable", "the database does not answer; nothing was accepted, "
                       "retry shortly") from None
    if not created:
        return Intake(ticket.ticket_id, row["task_id"], row["status"], duplicate=True)
    try:
        sent = publish(ticket, celery_app=context.celery_app)
    except Exception as exc:
        if not broker_down(exc):
            raise
        log.warning("publishing %s failed", ticket.ticket_id, exc_info=True)
        _release(context, ticket.ticket_id)
        raise ApiError(503, "broker_unavailable", "Redis does not answer; nothing was accepted, retry shortly") from None
    try:
        context.statuses.set_task(ticket.ticket_id, sent.task_id)
    except SQLAlchemyError:  # published: the ticket is safe, only the task id is not remembered
        log.warning("could not store the task id of %s", ticket.ticket_id, exc_info=True)
    return Intake(ticket.ticket_id, sent.task_id, "queued", duplicate=False)


def _release(context: ApiContext, ticket_id: str) -> None:
    try:
        context.statuses.forget(ticket_id)
    except SQLAlchemyError:
        log.error("could not release the claim on %s; its status stays queued", ticket_id, exc_info=True)


def attachment_kind(content_type: str | None, filename: str | None) -> AttachmentKind | None:
    """Image or audio, by the declared type or else the file name; None for anything else."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if not kind or kind == "application/octet-stream":
        kind = mimetypes.guess_type(filename or "")[0] or ""
    if kind.startswith("image/"):
        return AttachmentKind.image
    if kind.startswith("audio/") or kind in ("video/ogg", "application/ogg"):
        return AttachmentKind.audio
    return None


def store_upload(context: ApiContext, stream: BinaryIO, *, index: int, content_type: str | None,
                 filename: str | None) -> dict[str, Any]:
    """Put one uploaded file in the blob store; the attachment entry that names it."""
    kind = attachment_kind(content_type, filename)
    where = f"attachments.{index}"
    if kind is None:
        raise ApiError(415, "unsupported_attachment", f"{filename or 'the file'} ({content_type or 'no type'}) is "
                       "neither an image nor audio", field=where)
    limit = context.settings.max_attachment_bytes
    try:
        ref = context.blobs.put_stream(stream, max_bytes=limit, name=filename or where)
    except AttachmentTooLarge:
        raise ApiError(413, "attachment_too_large", f"{filename or where} is over the {limit}-byte limit",
                       field=where) from None
    except BlobError as exc:
        raise ApiError(422, "attachment_error", str(exc), field=where) from None
    return {"kind": kind.value, "uri": ref.uri, "content_type": content_type, "size_bytes": ref.size_bytes}
