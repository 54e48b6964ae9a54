"""Fetch each attachment's bytes from the blob store, refusing what a worker must not read.

The media stages then decode what this returns; everything that stops an attachment here becomes
an entry in the result's ``errors``, and the ticket is triaged on what remains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worker.blobs import BLOB_SCHEME, BlobError, BlobStore, scheme_of
from worker.contract import Attachment, ErrorEntry, Limits, Ticket


@dataclass(frozen=True)
class LoadedAttachment:
    """One attachment's bytes, with its position in the ticket for error messages."""

    index: int
    attachment: Attachment
    data: bytes

    @property
    def where(self) -> str:
        return f"attachments.{self.index}"


def load_attachments(
    ticket: Ticket, *, blob_dir: Path, limits: Limits, allow_local_files: bool = False
) -> tuple[list[LoadedAttachment], list[ErrorEntry]]:
    """The attachments that can be read, and one error entry for each that cannot.

    A worker reads the blob store only: a message naming a local path would otherwise let anyone
    who can write to the broker make it read any file. In-process triage of a user's own file may
    read local paths (``allow_local_files``).
    """
    store = BlobStore(blob_dir)
    loaded: list[LoadedAttachment] = []
    errors: list[ErrorEntry] = []
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
            size = path.stat().st_size
        except (BlobError, OSError) as exc:
            errors.append(ErrorEntry(where=where, code="attachment_missing", message=str(exc)[:500]))
            continue
        except (ValueError, RuntimeError) as exc:  # pathlib: "~nobody/x", "file://[::1", a NUL byte
            errors.append(ErrorEntry(where=where, code="attachment_missing",
                                     message=f"{attachment.uri[:200]!r} names no readable file ({exc})"))
            continue
        if size > limits.max_attachment_bytes:
            errors.append(
                ErrorEntry(
                    where=where,
                    code="attachment_too_large",
                    message=f"{attachment.uri} is {size} bytes; the limit is {limits.max_attachment_bytes}",
                )
            )
            continue
        try:
            with path.open("rb") as handle:
                data = handle.read(limits.max_attachment_bytes + 1)
        except (OSError, ValueError) as exc:
            errors.append(ErrorEntry(where=where, code="attachment_unreadable", message=str(exc)[:500]))
            continue
        loaded.append(LoadedAttachment(index, attachment, data))
    return loaded, errors
