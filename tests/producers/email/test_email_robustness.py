"""Damaged mail never crashes the converter nor reaches the contract in a shape it refuses."""

from __future__ import annotations

import random
import re
from pathlib import Path

from producers.email import convert_message
from worker.blobs import BlobStore
from worker.settings import Settings

_INSERTS = [b"\n", b"\r\n--", b"=?utf-8?q?", b"Content-Type: multipart/mixed\n", b';boundary="', b"\x00",
            b"\xff\xfe", b"=?", b"<", b'"', b"(", b"\\", b"Content-Transfer-Encoding: base64\n"]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    operation = rng.randrange(4)
    if operation == 0:  # flip bytes
        for _ in range(rng.randrange(1, 20)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif operation == 1:  # truncate
        out = out[: rng.randrange(len(out))]
    elif operation == 2:  # insert MIME syntax where it does not belong
        at = rng.randrange(len(out))
        out[at:at] = rng.choice(_INSERTS) * rng.randrange(1, 30)
    else:  # cut a slice out
        start, end = sorted(rng.randrange(len(out)) for _ in range(2))
        del out[start:end]
    return bytes(out)


def test_mutated_corpus_messages_all_give_a_named_outcome(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """400 random corruptions of corpus files: no exception, a coded reason for every non-ticket,
    and never a failure of both parsers or a ticket the contract rejects."""
    rng = random.Random(20250204)
    files = sorted(corpus.glob("*.eml"))
    for _ in range(400):
        source = rng.choice(files)
        item = convert_message(_mutate(source.read_bytes(), rng), source=source.name, settings=settings, blobs=store)
        if item.ticket is None:
            reason = item.skipped or item.error or ""
            assert re.match(r"^[a-z_]+: \S", reason), (source.name, reason)
            assert not reason.startswith(("unreadable:", "invalid_ticket:")), (source.name, reason)


def test_hostile_structure_still_gives_a_ticket(settings: Settings, store: BlobStore) -> None:
    """Two thousand nested multiparts (deeper than the parser's stack) and a 100 KB Content-Type
    header are read (as text, by the lenient parser) instead of failing the message."""
    nested = b"From: a@example.com\nSubject: Deep\nMessage-ID: <deep@x>\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(2000)
    ) + b"\nMy card is blocked.\n"
    long_header = (b"From: a@example.com\nSubject: Params\nMessage-ID: <params@x>\nContent-Type: text/plain; "
                   + b"a=b; " * 20000 + b"\n\nMy card is blocked.\n")
    for raw in (nested, long_header):
        item = convert_message(raw, source="hostile", settings=settings, blobs=store)
        assert item.ticket is not None and "My card is blocked." in item.ticket.body, item
