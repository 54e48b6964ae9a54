"""Producers: validate tickets and hand them to the workers through Redis.

Imports the contract, the settings, ``worker.app`` and celery's client side only — never the
pipeline, torch or onnxruntime — so any system that creates tickets can use it cheaply.
"""

from producers.enqueue import (
    AttachmentUnreadable,
    Enqueued,
    EnqueueInterrupted,
    EnqueueReport,
    InvalidTicket,
    enqueue_file,
    enqueue_many,
    enqueue_ticket,
    publish,
    stage_attachments,
    validate_ticket,
)
from producers.sources import SourceError, SourceLine, parse_mapping, read_tickets
from worker.blobs import (
    AttachmentNotFound,
    AttachmentTooLarge,
    BlobError,
    BlobNotFound,
    BlobRef,
    BlobStore,
    InvalidBlobUri,
    UnsupportedUriScheme,
)

__all__ = [
    "AttachmentUnreadable",
    "AttachmentNotFound",
    "AttachmentTooLarge",
    "BlobError",
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "EnqueueInterrupted",
    "EnqueueReport",
    "Enqueued",
    "InvalidBlobUri",
    "InvalidTicket",
    "SourceError",
    "SourceLine",
    "UnsupportedUriScheme",
    "enqueue_file",
    "enqueue_many",
    "enqueue_ticket",
    "parse_mapping",
    "publish",
    "read_tickets",
    "stage_attachments",
    "validate_ticket",
]
