"""Physical lines of an input file, bounded: an oversize line is refused without being held in
memory, and a line that is not UTF-8 is one error, not the end of the file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import BinaryIO

from worker.contract import ErrorEntry

_CHUNK = 64 * 1024


def bounded_lines(
    stream: BinaryIO, limit: int, feed: Callable[[bytes], None] | None = None
) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes without the newline or None when over ``limit``).

    ``feed`` sees every chunk read, even of a skipped long line, so a CSV quote tracker stays
    right without the line being kept in memory.
    """
    line_no = 0
    while True:
        line = stream.readline(limit + 2)  # room for "\r\n" on a line exactly at the limit
        if not line:
            return
        line_no += 1
        if feed is not None:
            feed(line)
        content = line.rstrip(b"\r\n")
        # Short of limit + 2 bytes without a newline, readline stopped at the end of the file.
        if len(content) <= limit and (line.endswith(b"\n") or len(line) < limit + 2):
            yield line_no, content
            continue
        while not line.endswith(b"\n"):  # skip the rest of the long line without keeping it
            line = stream.readline(_CHUNK)
            if not line:
                break
            if feed is not None:
                feed(line)
        yield line_no, None


def too_long(line_no: int, limit: int) -> ErrorEntry:
    return ErrorEntry(
        where=f"line {line_no}",
        code="line_too_long",
        message=f"line {line_no} is longer than the limit of {limit} bytes (max_line_bytes)",
    )


def decode_line(data: bytes, line_no: int) -> tuple[str | None, ErrorEntry | None]:
    try:
        return data.decode("utf-8").lstrip("\ufeff") if line_no == 1 else data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, ErrorEntry(
            where=f"line {line_no}",
            code="invalid_encoding",
            message=f"line {line_no} is not UTF-8 (byte {exc.start}: {exc.reason})",
        )


def json_problem(exc: ValueError | RecursionError) -> str:
    """Why ``json.loads`` failed: a syntax error's place, or the limit a valid value broke
    (more than 4300 integer digits, nesting deeper than the recursion limit)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)
