"""Locate each attachment in the blob store and check it before any media stage reads it.

Image and audio understanding arrive with the media stages; until then an attachment that is
present is reported as not analysed, so that a user sees the ticket was triaged on its text alone.
"""

from __future__ import annotations

from pathlib import Path

from worker.blobs import BLOB_SCHEME, BlobError, BlobStore, scheme_of
from worker.contract import ErrorEntry, Limits, Ticket


def check_attachments(
    ticket: Ticket, *, blob_dir: Path, limits: Limits, allow_local_files: bool = False
) -> list[ErrorEntry]:
    """One entry per attachment that is missing, too large, or not analysed yet.

    A worker reads the blob store only: a message naming a local path would otherwise let anyone
    who can write to the broker make it read any file. In-process triage of a user's own file may
    read local paths (``allow_local_files``).
    """
    store = BlobStore(blob_dir)
    errors = []
    for index, attachment in enumerate(ticket.attachments):
        where = f"attachments.{index}"
        if not allow_local_files and scheme_of(attachment.uri) != BLOB_SCHEME:
            errors.append(
                ErrorEntry(
                    where=where,
                    code="attachment_not_in_blob_store",
                    message="workers read attachments from the blob store only (blob://<sha256>); "
                    "enqueue tickets through the producer API, which stores them there",
                )
            )
            continue
        try:
            path = store.resolve(attachment.uri)
        except BlobError as exc:
            errors.append(ErrorEntry(where=where, code="attachment_missing", message=str(exc)))
            continue
        size = path.stat().st_size
        if size > limits.max_attachment_bytes:
            errors.append(
                ErrorEntry(
                    where=where,
                    code="attachment_too_large",
                    message=f"{attachment.uri} is {size} bytes; the limit is {limits.max_attachment_bytes}",
                )
            )
            continue
        errors.append(
            ErrorEntry(
                where=where,
                code="attachment_not_analysed",
                message=f"{attachment.kind.value} attachments are not analysed yet; triaged on text only",
            )
        )
    return errors
