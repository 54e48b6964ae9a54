"""From a help-desk payload to a contract ticket: recognise, extract, fetch attachments, validate.

:func:`convert_payload` serves one webhook delivery; :func:`convert_files` serves
``ticketfusion convert zendesk|freshdesk|mapping:FILE``. Both answer one
:class:`~producers.conversion.Converted` per ticket and never raise for one bad item, so the
caller reports each input by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from producers.conversion import Converted
from producers.mappings.errors import MappingError, PayloadNotRecognised
from producers.mappings.extraction import extract
from producers.mappings.fetching import AttachmentFetcher
from producers.mappings.loading import load_mapping
from producers.mappings.payload_files import read_payloads
from producers.mappings.spec import Mapping
from producers.mappings.transforms import TransformContext
from worker.blobs import BlobError, BlobStore
from worker.contract import Ticket, describe_validation_error
from worker.settings import Settings

__all__ = ["convert_files", "convert_payload", "payload_to_ticket"]

_MAX_SKIPPED_LISTED = 20


def _truncate(fields: dict[str, Any], settings: Settings, metadata: dict[str, Any]) -> None:
    """A help desk cannot shorten what its customer wrote: keep the start of an overlong subject
    or body (the newest message comes first) and record the original length."""
    for name, limit in (("subject", settings.max_subject_chars), ("body", settings.max_body_chars)):
        value = fields.get(name)
        if isinstance(value, str) and len(value) > limit:
            metadata.setdefault("truncated", {})[name] = len(value)
            fields[name] = value[:limit].rstrip()


def payload_to_ticket(payload: Any, mapping: Mapping, *, settings: Settings, blobs: BlobStore) -> Ticket | str:
    """The ticket, or the skip reason when the mapping recognises the payload as one to skip.

    Raises :class:`MappingError` (the payload is not this source's or lacks a field),
    ``ValidationError`` (the result breaks the contract) or a blob-store error.
    """
    envelope = mapping.match(payload)
    if envelope is None:
        raise PayloadNotRecognised(mapping.name, [f"{env.name}: {env.when_text}" for env in mapping.envelopes])
    if envelope.skip is not None:
        return f"{mapping.name} {envelope.name}: {envelope.skip}"
    ctx = TransformContext(customer_hash_key=settings.customer_hash_key, phone_region=settings.phone_region)
    extracted = extract(payload, envelope, ctx)
    metadata: dict[str, Any] = {**extracted.metadata, "source": mapping.name, "envelope": envelope.name}
    fields = dict(extracted.fields)
    _truncate(fields, settings, metadata)
    attachments, skips = AttachmentFetcher(settings, blobs).fetch_all(extracted.attachments)
    skipped = extracted.skipped + [skip.entry() for skip in skips]
    if skipped:
        metadata["skipped_attachments"] = skipped[:_MAX_SKIPPED_LISTED]
        if len(skipped) > _MAX_SKIPPED_LISTED:
            metadata["skipped_attachments_count"] = len(skipped)
    data = {**fields, "attachments": attachments, "metadata": metadata}
    return Ticket.model_validate(data, context={"limits": settings.limits()})


def convert_payload(payload: Any, mapping: Mapping | str, *, settings: Settings, blobs: BlobStore, source: str) -> Converted:
    """One payload's outcome: a ticket, a skip (e.g. a Zendesk event that is not ticket.created)
    or an error that names the field and the path. Never raises for a bad payload; a bad
    mapping name or file (a configuration error) raises UnknownMapping or InvalidMapping."""
    try:
        mapping = load_mapping(mapping)
        outcome = payload_to_ticket(payload, mapping, settings=settings, blobs=blobs)
    except MappingError as exc:
        return Converted(source, error=str(exc))
    except ValidationError as exc:
        entries = describe_validation_error(exc)
        return Converted(source, error="; ".join(entry.message for entry in entries))
    except (BlobError, OSError) as exc:
        return Converted(source, error=f"attachment store failed: {exc}")
    if isinstance(outcome, str):
        return Converted(source, skipped=outcome)
    return Converted(source, ticket=outcome)


def convert_files(
    paths: Iterable[Path | str], mapping: Mapping | str, *, settings: Settings, blobs: BlobStore
) -> Iterator[Converted]:
    """One :class:`Converted` per ticket in each file (JSON, JSON arrays, ``{"tickets": [...]}``,
    JSON Lines), in order; sources read ``file.json`` or ``file.json#3``."""
    mapping = load_mapping(mapping)
    for path in paths:
        for item in read_payloads(Path(path), max_line_bytes=settings.max_line_bytes,
                                  recognised=lambda doc: mapping.match(doc) is not None):
            if item.error is not None:
                yield Converted(item.source, error=item.error)
                continue
            try:
                yield convert_payload(item.payload, mapping, settings=settings, blobs=blobs, source=item.source)
            except Exception as exc:  # noqa: BLE001 - one bad item must not stop the file
                yield Converted(item.source, error=f"{type(exc).__name__}: {exc}")
