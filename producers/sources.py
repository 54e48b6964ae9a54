"""Read tickets from JSON Lines or CSV files, one :class:`SourceLine` per record.

A bad record never stops the reader: it yields the record's errors (each naming the line, the
field and the reason) and goes on, so one typo in a 100 000-line export costs one ticket, not the
batch. Files are read in binary and bounded per line, so an oversize line is refused without being
held in memory.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pydantic import ValidationError

from worker.blobs import UnsupportedUriScheme, local_path
from worker.contract import ErrorEntry, Limits, Ticket, describe_validation_error
from worker.errors import TicketfusionError
from worker.settings import Settings, get_settings

Format = Literal["jsonl", "csv"]

_EXTENSIONS: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac"})
KNOWN_EXTENSIONS = IMAGE_EXTENSIONS | AUDIO_EXTENSIONS
TICKET_FIELDS = frozenset(Ticket.model_fields)
_CHUNK = 64 * 1024


class SourceError(TicketfusionError, ValueError):
    """A problem with the whole file (format, header, mapping) rather than with one record."""


@dataclass
class SourceLine:
    """One record: its first physical line, the raw mapping, the ticket if valid, and its errors."""

    line_no: int
    raw: dict[str, Any] | None
    ticket: Ticket | None
    errors: list[ErrorEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the record produced a valid ticket."""
        return self.ticket is not None and not self.errors


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


def guess_kind(path: str) -> str | None:
    """``image`` or ``audio`` from a file extension; None when the extension says neither."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return None


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
    checker = _Checker(base=path.resolve().parent, limits=settings.limits(), lenient=lenient)
    return _read(path, kind, checker, mapping=columns, max_line_bytes=settings.max_line_bytes)


def _read(
    path: Path, kind: Format, checker: _Checker, *, mapping: dict[str, str], max_line_bytes: int
) -> Iterator[SourceLine]:
    with path.open("rb") as stream:
        if kind == "jsonl":
            yield from _read_jsonl(stream, checker, max_line_bytes=max_line_bytes)
        else:
            yield from _read_csv(stream, checker, mapping=mapping, max_line_bytes=max_line_bytes)


# --- physical lines ---------------------------------------------------------------------------


def _bounded_lines(
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
        if len(content) <= limit and (line.endswith(b"\n") or len(line) <= limit):
            yield line_no, content
            continue
        while not line.endswith(b"\n"):  # skip the rest of the long line without keeping it
            line = stream.readline(_CHUNK)
            if not line:
                break
            if feed is not None:
                feed(line)
        yield line_no, None


def _too_long(line_no: int, limit: int) -> ErrorEntry:
    return ErrorEntry(
        where=f"line {line_no}",
        code="line_too_long",
        message=f"line {line_no} is longer than the limit of {limit} bytes (max_line_bytes)",
    )


def _decode(data: bytes, line_no: int) -> tuple[str | None, ErrorEntry | None]:
    try:
        return data.decode("utf-8").lstrip("\ufeff") if line_no == 1 else data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, ErrorEntry(
            where=f"line {line_no}",
            code="invalid_encoding",
            message=f"line {line_no} is not UTF-8 (byte {exc.start}: {exc.reason})",
        )


# --- JSON Lines -------------------------------------------------------------------------------


def _json_problem(exc: ValueError | RecursionError) -> str:
    """Why ``json.loads`` failed: a syntax error's place, or the limit a valid value broke
    (more than 4300 integer digits, nesting deeper than the recursion limit)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def _read_jsonl(
    stream: BinaryIO, checker: _Checker, *, max_line_bytes: int
) -> Iterator[SourceLine]:
    for line_no, data in _bounded_lines(stream, max_line_bytes):
        if data is None:
            yield SourceLine(line_no, None, None, [_too_long(line_no, max_line_bytes)])
            continue
        text, error = _decode(data, line_no)
        if error is not None or text is None:
            yield SourceLine(line_no, None, None, [error] if error else [])
            continue
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as exc:
            message = f"line {line_no} is not valid JSON: {_json_problem(exc)}"
            yield SourceLine(
                line_no,
                None,
                None,
                [ErrorEntry(where=f"line {line_no}", code="invalid_json", message=message)],
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


# --- CSV --------------------------------------------------------------------------------------


class _QuoteTracker:
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


def _csv_records(
    stream: BinaryIO, limit: int
) -> Iterator[tuple[int, str | None, ErrorEntry | None]]:
    """Group physical lines into CSV records (quoted fields may span lines); bound each record."""
    tracker = _QuoteTracker()
    parts: list[bytes] = []
    start, size, broken = 0, 0, False
    for line_no, data in _bounded_lines(stream, limit, tracker.feed):
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
            yield start, None, _too_long(start, limit)
        else:
            text, error = _decode(b"\n".join(parts), start)
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


def _one_row(text: str, line_no: int) -> tuple[list[str] | None, ErrorEntry | None]:
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


def _read_csv(
    stream: BinaryIO, checker: _Checker, *, mapping: dict[str, str], max_line_bytes: int
) -> Iterator[SourceLine]:
    columns: dict[str, int] | None = None
    for line_no, text, error in _csv_records(stream, max_line_bytes):
        if columns is None:
            if error is not None or text is None:
                raise SourceError(
                    f"cannot read the CSV header: {error.message if error else 'empty'}"
                )
            if not text.strip():
                continue
            names, error = _one_row(text, line_no)
            if error is not None or names is None:
                raise SourceError(f"cannot read the CSV header: {error.message if error else ''}")
            columns = _header(names, mapping, keep_all=checker.lenient)
            continue
        if error is not None or text is None:
            yield SourceLine(line_no, None, None, [error] if error else [])
            continue
        if not text.strip():
            continue
        row, error = _one_row(text, line_no)
        if error is not None or row is None:
            yield SourceLine(line_no, None, None, [error] if error else [])
            continue
        yield checker.check(line_no, _row_to_raw(row, columns), from_csv=True)


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


# --- checks shared by both formats ------------------------------------------------------------


def is_data_set_row(raw: dict[str, Any]) -> bool:
    """A labelled data-set row (Banking77's ``text,category``): ``text`` and no ticket id, body or
    subject. Anything ticket-shaped is not one, so its missing ids stay errors."""
    return "text" in raw and not any(key in raw for key in ("ticket_id", "body", "subject"))


def as_ticket_fields(raw: dict[str, Any], line_no: int) -> dict[str, Any]:
    """A data-set row (e.g. Banking77's ``text,category``) as ticket fields: ids default to the
    line number, ``text`` stands for the body, and other fields move into ``metadata``. Any other
    row comes back as it is, to be validated strictly."""
    if not is_data_set_row(raw):
        return dict(raw)
    data = {key: value for key, value in raw.items() if key in TICKET_FIELDS}
    extra = {key: value for key, value in raw.items() if key not in TICKET_FIELDS}
    data["body"] = extra.pop("text")
    data.setdefault("ticket_id", f"line-{line_no}")
    data.setdefault("customer_id", "unknown")
    metadata = data.get("metadata")
    if extra and (metadata is None or isinstance(metadata, dict)):
        data["metadata"] = {**extra, **(metadata or {})}
    return data


@dataclass(frozen=True)
class _Checker:
    """Turns a raw mapping into a validated ticket, checking local attachment files too."""

    base: Path
    limits: Limits
    lenient: bool = False

    def check(self, line_no: int, raw: dict[str, Any], *, from_csv: bool = False) -> SourceLine:
        prefix = f"line {line_no}: "
        errors: list[ErrorEntry] = []
        data = as_ticket_fields(raw, line_no) if self.lenient else dict(raw)
        if from_csv:
            errors += self._csv_cells(data, prefix)
        errors += self._attachments(data, prefix)
        try:
            ticket = Ticket.model_validate(data, context={"limits": self.limits})
        except ValidationError as exc:
            ticket = None
            errors = describe_validation_error(exc, where_prefix=prefix) + errors
        return SourceLine(line_no, raw, ticket if not errors else None, errors)

    def _csv_cells(self, data: dict[str, Any], prefix: str) -> list[ErrorEntry]:
        """CSV cells are strings: split the attachment list and parse a JSON metadata cell."""
        errors: list[ErrorEntry] = []
        if isinstance(data.get("attachments"), str):
            paths = [item.strip() for item in data["attachments"].split(";") if item.strip()]
            data["attachments"] = [_attachment_from_path(item) for item in paths]
            for i, item in enumerate(paths):
                if guess_kind(item) is None:
                    errors.append(
                        ErrorEntry(
                            where=f"{prefix}attachments.{i}.kind",
                            code="unsupported_media_type",
                            message=f"attachments.{i}: cannot tell image or audio from {item!r}; "
                            f"known extensions: {', '.join(sorted(KNOWN_EXTENSIONS))}",
                        )
                    )
        if isinstance(data.get("metadata"), str):
            try:
                data["metadata"] = json.loads(data["metadata"])
            except (ValueError, RecursionError) as exc:
                errors.append(
                    ErrorEntry(
                        where=f"{prefix}metadata",
                        code="invalid_json",
                        message=f"metadata: not a JSON object ({_json_problem(exc)})",
                    )
                )
                del data["metadata"]
        return errors

    def _attachments(self, data: dict[str, Any], prefix: str) -> list[ErrorEntry]:
        """Resolve relative paths against the input's folder; report missing or oversize files."""
        items = data.get("attachments")
        if not isinstance(items, list):
            return []
        errors: list[ErrorEntry] = []
        resolved: list[Any] = []
        for i, item in enumerate(items):
            where = f"{prefix}attachments.{i}"
            if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
                resolved.append(item)  # the contract reports the shape
                continue
            item = dict(item)
            resolved.append(item)
            try:
                path = local_path(item["uri"], base=self.base)
            except UnsupportedUriScheme as exc:
                errors.append(
                    ErrorEntry(
                        where=f"{where}.uri", code="unsupported_uri_scheme", message=str(exc)
                    )
                )
                continue
            if path is None:
                continue  # already a blob: the enqueuer checks it against its store
            item["uri"] = str(path)
            if not path.is_file():
                errors.append(
                    ErrorEntry(
                        where=f"{where}.uri",
                        code="attachment_not_found",
                        message=f"attachments.{i}: file not found: {path}",
                    )
                )
                continue
            size = path.stat().st_size
            limit = self.limits.max_attachment_bytes
            if size > limit:
                errors.append(
                    ErrorEntry(
                        where=f"{where}.uri",
                        code="attachment_too_large",
                        message=f"attachments.{i}: {path} is {size} bytes; the limit is {limit}",
                    )
                )
        data["attachments"] = resolved
        return errors


def _attachment_from_path(path: str) -> dict[str, Any]:
    """A CSV attachment cell entry: the kind and content type guessed from the extension."""
    content_type, _ = mimetypes.guess_type(path)
    kind = guess_kind(path) or "image"  # placeholder: the caller reports the unknown extension
    return {"kind": kind, "uri": path, "content_type": content_type}
