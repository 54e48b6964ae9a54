"""Read tickets from JSON Lines or CSV files, one :class:`SourceLine` per record.

A bad record never stops the reader: it yields the record's errors (each naming the line, the
field and the reason) and goes on, so one typo in a 100 000-line export costs one ticket, not the
batch. Files are read in binary and bounded per line, so an oversize line is refused without being
held in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

from producers.csv_records import csv_records, one_row
from producers.lines import bounded_lines, decode_line, json_problem, too_long
from producers.ticket_checks import TICKET_FIELDS, SourceLine, TicketChecker
from worker.contract import ErrorEntry
from worker.errors import TicketfusionError
from worker.settings import Settings, get_settings

__all__ = ["Format", "SourceError", "SourceLine", "detect_format", "parse_mapping", "read_tickets"]

Format = Literal["jsonl", "csv"]

_EXTENSIONS: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class SourceError(TicketfusionError, ValueError):
    """A problem with the whole file (format, header, mapping) rather than with one record."""


def detect_format(path: Path, fmt: str | None = None) -> Format:
    """The explicit ``fmt`` if given, else the format the extension names."""
    if fmt is not None:
        name = fmt.lower().lstrip(".")
        name = "jsonl" if name == "ndjson" else name
        if name not in ("jsonl", "csv"):
            raise SourceError(f"unknown format {fmt!r}: use 'jsonl' or 'csv'")
        return name  # type: ignore[return-value]
    found = _EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        raise SourceError(
            f"cannot tell the format of {path} from its extension: pass fmt='jsonl' or 'csv'"
        )
    return found


def parse_mapping(mapping: str | Mapping[str, str] | None) -> dict[str, str]:
    """A ``{ticket field: CSV column}`` dict from a dict or ``"ticket_id=id,body=message"``."""
    if mapping is None:
        return {}
    if isinstance(mapping, str):
        pairs: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in mapping.split(","))):
            target, sep, column = item.partition("=")
            if not sep or not target.strip() or not column.strip():
                raise SourceError(f"bad mapping item {item!r}: expected field=column")
            pairs[target.strip()] = column.strip()
        mapping = pairs
    unknown = sorted(set(mapping) - TICKET_FIELDS)
    if unknown:
        raise SourceError(
            f"mapping names unknown ticket fields {unknown}; known: {sorted(TICKET_FIELDS)}"
        )
    return dict(mapping)


def read_tickets(
    path: Path,
    *,
    fmt: str | None = None,
    mapping: str | Mapping[str, str] | None = None,
    settings: Settings | None = None,
    lenient: bool = False,
) -> Iterator[SourceLine]:
    """Every record of a JSON Lines or CSV file, valid or not, in file order.

    The format and the mapping are checked now (a :class:`SourceError` before any output); the
    file itself is read lazily, as the caller iterates. ``lenient`` reads rows of a labelled data
    set as well as tickets (see :func:`as_ticket_fields`); only in-process triage uses it, since a
    queued ticket needs its real ids for idempotency.
    """
    path = Path(path)
    settings = settings or get_settings()
    kind = detect_format(path, fmt)
    columns = parse_mapping(mapping)
    if kind == "jsonl" and columns:
        raise SourceError("a column mapping applies to CSV only")
    if not path.is_file():
        raise FileNotFoundError(f"no such input file: {path}")
    checker = TicketChecker(base=path.resolve().parent, limits=settings.limits(), lenient=lenient)
    return _read(path, kind, checker, mapping=columns, max_line_bytes=settings.max_line_bytes)


def _read(
    path: Path, kind: Format, checker: TicketChecker, *, mapping: dict[str, str], max_line_bytes: int
) -> Iterator[SourceLine]:
    with path.open("rb") as stream:
        if kind == "jsonl":
            yield from _read_jsonl(stream, checker, max_line_bytes=max_line_bytes)
        else:
            yield from _read_csv(stream, checker, mapping=mapping, max_line_bytes=max_line_bytes)


# --- JSON Lines -------------------------------------------------------------------------------


def _read_jsonl(
    stream: BinaryIO, checker: TicketChecker, *, max_line_bytes: int
) -> Iterator[SourceLine]:
    for line_no, data in bounded_lines(stream, max_line_bytes):
        if data is None:
            yield SourceLine(line_no, None, None, [too_long(line_no, max_line_bytes)])
            continue
        text, error = decode_line(data, line_no)
        if error is not None or text is None:
            yield SourceLine(line_no, None, None, [error] if error else [])
            continue
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as exc:
            message = f"line {line_no} is not valid JSON: {json_problem(exc)}"
            yield SourceLine(
                line_no,
                None,
                None,
                [ErrorEntry(where=f"line {line_no}", code="invalid_json", message=message)],
            )
            continue
        if _SURROGATE_ESCAPE.search(text) and (lone := _lone_surrogate(raw)) is not None:
            message = (
                f"line {line_no} holds {lone}, half of a UTF-16 pair: not a character any "
                "database stores"
            )
            yield SourceLine(
                line_no,
                None,
                None,
                [ErrorEntry(where=f"line {line_no}", code="invalid_unicode", message=message)],
            )
            continue
        if not isinstance(raw, dict):
            message = f"line {line_no} holds a JSON {type(raw).__name__}, not an object"
            yield SourceLine(
                line_no,
                None,
                None,
                [ErrorEntry(where=f"line {line_no}", code="not_an_object", message=message)],
            )
            continue
        yield checker.check(line_no, raw)


# "\ud800" in JSON decodes to a lone surrogate, a str that cannot be encoded as UTF-8 (nor printed,
# nor written to a result file): the line is refused before any of it travels further.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a decoded JSON value (keys included), escaped; None if none.
    Walked without recursion, so that any depth json.loads accepted can be searched."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return repr(item[exc.start])[1:-1]
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


# --- CSV --------------------------------------------------------------------------------------


def _read_csv(
    stream: BinaryIO, checker: TicketChecker, *, mapping: dict[str, str], max_line_bytes: int
) -> Iterator[SourceLine]:
    columns: dict[str, int] | None = None
    width = 0
    for line_no, text, error in csv_records(stream, max_line_bytes):
        if columns is None:
            if error is not None or text is None:
                raise SourceError(
                    f"cannot read the CSV header: {error.message if error else 'empty'}"
                )
            if not text.strip():
                continue
            names, error = one_row(text, line_no)
            if error is not None or names is None:
                raise SourceError(f"cannot read the CSV header: {error.message if error else ''}")
            columns = _header(names, mapping, keep_all=checker.lenient)
            width = len(names)
            continue
        if error is not None or text is None:
            yield SourceLine(line_no, None, None, [error] if error else [])
            continue
        if not text.strip():
            continue
        row, error = one_row(text, line_no)
        if error is not None or row is None:
            yield SourceLine(line_no, None, None, [error] if error else [])
            continue
        raw = _row_to_raw(row, columns)
        if any(cell.strip() for cell in row[width:]):
            yield SourceLine(line_no, raw, None, [_extra_cells(line_no, len(row), width)])
            continue
        yield checker.check(line_no, raw, from_csv=True)


def _extra_cells(line_no: int, cells: int, width: int) -> ErrorEntry:
    """A row longer than the header: most often an unquoted comma in a text, which would cut
    the text short and drop the rest without a word."""
    return ErrorEntry(
        where=f"line {line_no}",
        code="extra_csv_cells",
        message=f"the record on line {line_no} has {cells} cells, the header {width}: "
        "quote any text that holds a comma",
    )


def _header(names: list[str], mapping: dict[str, str], *, keep_all: bool = False) -> dict[str, int]:
    """``{ticket field: column index}``: mapped columns first, then columns named like a field
    (and, with ``keep_all``, every other column under its own name)."""
    index = {name.strip(): i for i, name in enumerate(names)}
    missing = sorted(column for column in mapping.values() if column not in index)
    if missing:
        raise SourceError(f"mapped columns {missing} are not in the CSV header {list(index)}")
    columns = {target: index[column] for target, column in mapping.items()}
    for name, i in index.items():
        if (keep_all or name in TICKET_FIELDS) and name not in columns and i not in columns.values():
            columns[name] = i
    return columns


def _row_to_raw(row: list[str], columns: dict[str, int]) -> dict[str, Any]:
    """Non-empty cells by ticket field; an empty cell means "use the default"."""
    raw: dict[str, Any] = {}
    for target, i in columns.items():
        if i < len(row) and row[i].strip():
            raw[target] = row[i]
    return raw


