"""CSV records over bounded physical lines: a record goes on past a newline only inside quotes,
read the way the csv module reads it, so one bad quote costs one record."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

from producers.lines import bounded_lines, decode_line, too_long
from worker.contract import ErrorEntry


class QuoteTracker:
    """Where a CSV record stands, read the way the csv module reads it: a ``"`` opens a quoted
    field only at the start of a field (``my 5" phone`` is a literal quote); inside one, ``""`` is
    a quote and a lone ``"`` closes it. A record goes on past a newline only inside quotes."""

    _EDGE, _PLAIN, _QUOTED = range(3)  # EDGE: field start, or just after a closing quote

    def __init__(self) -> None:
        self.state = self._EDGE
        self._bom = True  # the file's first bytes may be a UTF-8 byte order mark

    @property
    def quoted(self) -> bool:
        """True inside a quoted field: a newline here belongs to the field."""
        return self.state == self._QUOTED

    def reset(self) -> None:
        """A new record starts at a field start."""
        self.state = self._EDGE

    def feed(self, data: bytes) -> None:
        """Advance over ``data``, jumping between the only bytes that change the state."""
        if self._bom:
            self._bom = False
            data = data.removeprefix(b"\xef\xbb\xbf")
        i, n, state = 0, len(data), self.state
        while i < n:
            if state == self._QUOTED:  # only a quote matters (closing, or half of "")
                j = data.find(b'"', i)
                i, state = (n, state) if j < 0 else (j + 1, self._EDGE)
            elif state == self._PLAIN:  # quotes are literal; only a comma starts a new field
                j = data.find(b",", i)
                i, state = (n, state) if j < 0 else (j + 1, self._EDGE)
            else:  # the next byte decides: "" after a closing quote reopens, like an escape
                byte = data[i : i + 1]
                if byte == b'"':
                    state = self._QUOTED
                else:
                    state = self._EDGE if byte == b"," else self._PLAIN
                i += 1
        self.state = state


def csv_records(
    stream: BinaryIO, limit: int
) -> Iterator[tuple[int, str | None, ErrorEntry | None]]:
    """Group physical lines into CSV records (quoted fields may span lines); bound each record."""
    tracker = QuoteTracker()
    parts: list[bytes] = []
    start, size, broken = 0, 0, False
    for line_no, data in bounded_lines(stream, limit, tracker.feed):
        if not parts and not broken:
            start = line_no
        if data is None or broken:
            broken = True
        else:
            parts.append(data)
            size += len(data) + 1
            broken = size > limit + 1
        if tracker.quoted:  # the newline belongs to a quoted field: the record goes on
            continue
        if broken:
            yield start, None, too_long(start, limit)
        else:
            text, error = decode_line(b"\n".join(parts), start)
            yield start, text, error
        parts, size, broken = [], 0, False
        tracker.reset()
    if parts or broken:
        yield (
            start,
            None,
            ErrorEntry(
                where=f"line {start}",
                code="unterminated_quote",
                message=f"the quoted field opened on line {start} is never closed",
            ),
        )


def one_row(text: str, line_no: int) -> tuple[list[str] | None, ErrorEntry | None]:
    """The record's single row; an error, never a silently dropped row, when the csv module
    reads something else from it (a stray carriage return, say)."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        problem = str(exc)
    else:
        if len(rows) == 1:
            return rows[0], None
        problem = f"it holds {len(rows)} rows, not one"
    return None, ErrorEntry(
        where=f"line {line_no}",
        code="malformed_csv",
        message=f"the record on line {line_no} cannot be read as one CSV row: {problem}",
    )
