"""Hostile JSON Lines records, shared by the reader fuzz test and the end-to-end runs."""

from __future__ import annotations

import json


def redaction_growth(filler: int, limit: int = 512) -> bytes:
    """A ticket whose metadata is just under ``limit`` bytes and over it once masked
    ("a@b.co" is 6 characters, "[email]" 7)."""
    emails = " ".join(["a@b.co"] * max(1, limit // 8))
    pad = max(0, limit - len(json.dumps({"e": emails, "p": ""})) - filler)
    return json.dumps({"ticket_id": "R-1", "customer_id": "C-1", "body": "x",
                       "metadata": {"e": emails, "p": "." * pad}}).encode()


def bad_jsonl_lines(max_line: int, max_metadata: int = 512) -> list[bytes]:
    """One line each (no newline inside) that no reader may turn into a ticket."""
    ticket = b'{"ticket_id": "T-1", "customer_id": "C", '
    return [
        b'{"ticket_id": "T-\xff\xfe", "customer_id": "C", "body": "x"}',  # invalid UTF-8
        b"\xc3\x28\xa0\xa1 not utf-8 at all \xf0\x28\x8c\xbc",
        b"\xef\xbb\xbf" + ticket + b'"body": "a byte order mark in the middle of the file"}',
        ticket + b'"body": "x\x00"}',  # a raw NUL inside a string
        ticket + b'"body": "x\\u0000"}',  # an escaped one
        b"\x00" * 64,
        b'{"ticket_id": "T\\ud800", "customer_id": "C", "body": "x"}',  # a lone surrogate
        ticket + b'"body": "x", "metadata": {"\\udfff": 1}}',
        ticket + b'"body": "x", "n": ' + b"9" * 5_000 + b"}",  # past Python's 4300-digit limit
        ticket + b'"body": NaN}',
        ticket + b'"body": "x", "metadata": {"x": Infinity}}',
        ticket + b'"body": "x", "created_at": "9999-12-31T23:59:59-23:59"}',
        ticket + b'"body": "x", "created_at": 1e400}',
        b'{"a": 1}\r{"b": 2}',  # a lone CR is no line break in JSON Lines
        b"[1, 2]", b"null", b'"a string"', b"42", b"{", b"}", b'{"ticket_id": "T-1"', b"\x1b[2J\x1b[31m",
        b"[" * 1_000 + b"]" * 1_000,
        b"[" * 100_000 + b"]" * 100_000,  # json.loads raises RecursionError
        ticket + b'"body": "x", "metadata": {"d": ' + b"[" * 70 + b"1" + b"]" * 70 + b"}}",
        ticket + b'"body": "x", "metadata": {"d": ' + b"[" * 990 + b"1" + b"]" * 990 + b"}}",
        ticket + b'"body": "x", "metadata": {"d": ' + b"{\"a\":" * 50_000 + b"1" + b"}" * 50_000 + b"}}",
        ticket + b'"channel": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        ticket + b'"body": "x", "attachments": [{"kind": ' + b"[" * 900 + b"]" * 900 + b', "uri": "a.png"}]}',
        b'{"ticket_id": "' + b"x" * (max_line + 10) + b'"}',  # past max_line_bytes
        b'{"ticket_id": "T-1", "body": "no customer"}',
        b'{"ticket_id": "a@b.co", "customer_id": "C", "body": "an e-mail as an id"}',
        ticket + b'"body": "x", "channel": "fax"}',
        ticket + b'"body": "x", "surplus": {"k": [1, 2, {"deep": null}]}}',
        ticket + b'"body": "x", "attachments": 5}',
        ticket + b'"body": "x", "attachments": [{"kind": "image", "uri": "~nosuchuser/x.png"}]}',
        ticket + b'"body": "x", "attachments": [{"kind": "image", "uri": "file://[::1/x.png"}]}',
        ticket + b'"body": "x", "attachments": [{"kind": "image", "uri": "' + b"y" * 5_000 + b'.png"}]}',
        ticket + b'"body": "x", "attachments": [{"kind": "image", "uri": "http://169.254.169.254/"}]}',
        ticket + b'"body": "x", "attachments": [{"kind": "video", "uri": "a.mp4"}]}',
        json.dumps({"ticket_id": "T-1", "customer_id": "C", "body": "x" * 30_000}).encode(),
        json.dumps({"ticket_id": "T-1", "customer_id": "C", "subject": "s" * 2_000, "body": "x"}).encode(),
        json.dumps({"ticket_id": "T-1", "customer_id": "C", "body": " \t "}).encode(),  # nothing to triage
    ]
