"""One e-mail message (its bytes) to one :class:`Converted`: a ticket, a skip or a failure.

This is where the pieces meet: parse (modern parser, ``compat32`` when it raises), skip what no
person wrote, walk the MIME tree, store media attachments, derive the ids, and fit everything
into the contract's limits: text is cut with a note in the metadata, never refused for length.
Nothing raised for one message escapes; it becomes that message's ``error``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from email.message import Message
from typing import Any

from pydantic import ValidationError

from producers.conversion import Converted
from producers.email.attachments import Stored, store_attachments
from producers.email.automated import skip_reason
from producers.email.headers import (
    first_address,
    header_date,
    header_text,
    message_ids,
    one_line,
    parse_message,
    raw_header,
)
from producers.email.identity import customer_id_for, thread_id_for, ticket_id_for
from producers.email.mimetree import Walked, walk_message
from worker.blobs import BlobError, BlobStore
from worker.contract import EARLIEST, LATEST, Channel, Limits, Ticket, describe_validation_error
from worker.settings import Settings

log = logging.getLogger(__name__)
#: Error codes that say nothing about the message (the blob store failed): retry it later.
TRANSIENT_ERRORS = ("blob_store",)
MAX_NOTES = 10
TRUNCATION_MARK = "\n[…]"
_MESSAGE_HEADERS = ("From", "Sender", "To", "Subject", "Date", "Message-ID", "Received", "MIME-Version", "Content-Type")


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    room = max(limit - len(TRUNCATION_MARK), 0)
    head = text[:room]
    space = head.rfind(" ", int(room * 0.9))
    head = head[:space] if space > 0 else head
    return (head.rstrip() + TRUNCATION_MARK)[:limit]


def _created_at(msg: Message, notes: list[str]) -> datetime:
    value = header_date(msg)
    if value is None:
        notes.append("date: missing or unreadable, conversion time used")
    elif not EARLIEST <= value < LATEST:
        notes.append(f"date: {value.year} is out of range, conversion time used")
        value = None
    return value or datetime.now(timezone.utc)


def _plain(value: Any) -> Any:
    """Strings from headers and file names without NUL or other control characters (no
    database stores NUL; a stray escape code garbles a terminal)."""
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _fit_metadata(metadata: dict[str, Any], limit: int) -> dict[str, Any]:
    """Drop the least useful detail until the metadata fits ``limit`` bytes as JSON."""
    metadata = _plain(metadata)

    def size(value: dict[str, Any]) -> int:
        return len(json.dumps(value, ensure_ascii=False).encode())

    skipped = metadata.get("skipped_attachments", [])
    while size(metadata) > limit and len(skipped) > 1:
        metadata.setdefault("skipped_attachments_total", len(skipped))
        skipped = skipped[: len(skipped) // 2]
        metadata["skipped_attachments"] = skipped
    for key in ("parse_notes", "skipped_attachments", "display_name", "truncated"):
        if size(metadata) <= limit:
            break
        metadata.pop(key, None)
    return metadata if size(metadata) <= limit else {"source": "email"}


def _metadata(msg: Message, *, ticket_id: str, display_name: str, walked: Walked, stored: Stored,
              truncated: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """What the ticket says about its e-mail: thread, format, what was left out and why."""
    references = message_ids(raw_header(msg, "References"))
    in_reply_to = message_ids(raw_header(msg, "In-Reply-To"))
    formats = {piece.format for piece in walked.texts if piece.text.strip()}
    metadata: dict[str, Any] = {
        "source": "email",
        "thread_id": thread_id_for(references, in_reply_to, ticket_id=ticket_id),
        "is_reply": bool(references or in_reply_to),
        "body_format": "text/html" if "text/html" in formats else "text/plain" if formats else "none",
    }
    if display_name and "@" not in display_name:  # the CRM greets the customer by it
        metadata["display_name"] = display_name[:255]
    if walked.forwarded:
        metadata["forwarded_messages"] = walked.forwarded
    if stored.skipped:
        metadata["skipped_attachments"] = stored.skipped
    if truncated:
        metadata["truncated"] = truncated
    if notes:
        metadata["parse_notes"] = [note[:200] for note in notes[:MAX_NOTES]]
    return metadata


def _build(msg: Message, data: bytes, *, source: str, settings: Settings, blobs: BlobStore) -> Converted:
    limits: Limits = settings.limits()
    if not any(raw_header(msg, name) is not None for name in _MESSAGE_HEADERS):
        return Converted(source=source, error="not_an_email: no message headers (From, Subject, Date, ...) found")
    subject = header_text(msg, "Subject")
    name, address = first_address(msg) or ("", None)
    reason = skip_reason(msg, data=data, subject=subject, sender=address)
    if reason:
        return Converted(source=source, skipped=reason)

    walked = walk_message(msg)
    body = "\n\n".join(piece.text.strip() for piece in walked.texts if piece.text.strip())
    stored = store_attachments(walked.leaves, blobs=blobs, limits=limits)
    if not (subject or body or stored.attachments):
        left = f" ({len(stored.skipped)} attachment(s) not readable)" if stored.skipped else ""
        return Converted(source=source, skipped=f"empty: no subject, no text and no readable attachment{left}")

    own_ids = message_ids(raw_header(msg, "Message-ID"))
    ticket_id = ticket_id_for(
        own_ids[0] if own_ids else None,
        sender=address or header_text(msg, "From"),
        date=raw_header(msg, "Date") or "",
        subject=subject,
        body=body,
    )
    notes = list(walked.notes)
    created_at = _created_at(msg, notes)
    checked = (("subject", subject, limits.max_subject_chars), ("body", body, limits.max_body_chars))
    truncated = {field: {"chars": len(text), "kept": limit} for field, text, limit in checked if len(text) > limit}
    metadata = _metadata(msg, ticket_id=ticket_id, display_name=name, walked=walked, stored=stored,
                         truncated=truncated, notes=notes)
    fields = {
        "ticket_id": ticket_id,
        "customer_id": customer_id_for(address, key=settings.customer_hash_key),
        "channel": Channel.email,
        "subject": _cut(subject, limits.max_subject_chars),
        "body": _cut(body, limits.max_body_chars),
        "attachments": stored.attachments,
        "created_at": created_at,
        "metadata": _fit_metadata(metadata, limits.max_metadata_bytes),
    }
    try:
        ticket = Ticket.model_validate(fields, context={"limits": limits})
    except ValidationError as exc:
        problems = "; ".join(entry.message for entry in describe_validation_error(exc))
        return Converted(source=source, error=f"invalid_ticket: {problems}")
    return Converted(source=source, ticket=ticket)


def convert_message(data: bytes, *, source: str, settings: Settings, blobs: BlobStore) -> Converted:
    """The outcome for one message's bytes; never raises for anything in the message."""
    if len(data) > settings.max_email_bytes:
        return Converted(source=source, error=f"too_large: {len(data)} bytes; the limit is {settings.max_email_bytes}")
    if not data.strip():
        return Converted(source=source, error="empty_file: no bytes to read")
    try:
        return _build(parse_message(data), data, source=source, settings=settings, blobs=blobs)
    except (BlobError, OSError) as exc:  # the store, not the message: say so, do not retry
        return Converted(source=source, error=f"blob_store: {exc}")
    except Exception as exc:  # noqa: BLE001 - the modern parser raised: read it the lenient way
        log.info("modern parser failed on %s (%s); retrying with compat32", source, type(exc).__name__)
    try:
        return _build(parse_message(data, modern=False), data, source=source, settings=settings, blobs=blobs)
    except (BlobError, OSError) as exc:
        return Converted(source=source, error=f"blob_store: {exc}")
    except Exception as exc:  # noqa: BLE001
        return Converted(source=source, error=f"unreadable: {type(exc).__name__}: {str(exc)[:200]}")
