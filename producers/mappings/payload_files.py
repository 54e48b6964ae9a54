"""Read help-desk exports: one JSON object, a JSON array, a list response such as Zendesk's
``{"tickets": [...]}``, or JSON Lines, as ``(source, item)`` pairs.

Each item is named for the report (``export.json#3`` is the third ticket of an array or list
response, ``tickets.jsonl#3`` line 3 of a JSON Lines file) and a problem with one item or one
line is an item of its own, so one broken line never hides the rest of the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producers.lines import bounded_lines, decode_line, json_problem

__all__ = ["LIST_KEYS", "PayloadItem", "read_payloads"]

#: Keys under which list responses hold their tickets: Zendesk's ``tickets`` (list, incremental
#: export, search: ``results``) and Freshdesk's search ``results``.
LIST_KEYS = ("tickets", "results")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class PayloadItem:
    """One payload of a file, or why it could not be read (``error`` set, ``payload`` None)."""

    source: str
    payload: Any = None
    error: str | None = None


def _items(document: Any, source: str, recognised: Callable[[Any], bool]) -> Iterator[PayloadItem]:
    """An array's elements, a list response's tickets, or the document itself."""
    if isinstance(document, list):
        for i, item in enumerate(document, start=1):
            yield PayloadItem(f"{source}#{i}", item)
        return
    if isinstance(document, dict) and not recognised(document):
        for key in LIST_KEYS:
            if isinstance(document.get(key), list):
                for i, item in enumerate(document[key], start=1):
                    yield PayloadItem(f"{source}#{i}", item)
                return
    yield PayloadItem(source, document)


def _json_lines(path: Path, source: str, max_line_bytes: int) -> Iterator[PayloadItem]:
    with path.open("rb") as stream:
        for line_no, data in bounded_lines(stream, max_line_bytes):
            where = f"{source}#{line_no}"
            if data is None:
                yield PayloadItem(where, error=f"line {line_no} is longer than {max_line_bytes} bytes (max_line_bytes)")
                continue
            text, problem = decode_line(data, line_no)
            if problem is not None or text is None:
                yield PayloadItem(where, error=problem.message if problem else "unreadable line")
                continue
            if not text.strip():
                continue
            try:
                yield PayloadItem(where, json.loads(text))
            except (ValueError, RecursionError) as exc:
                yield PayloadItem(where, error=f"line {line_no} is not valid JSON: {json_problem(exc)}")


def read_payloads(
    path: Path, *, max_line_bytes: int, recognised: Callable[[Any], bool] = lambda _: False
) -> Iterator[PayloadItem]:
    """Every payload in ``path``; ``recognised`` says whether a whole document is itself one
    ticket payload (so a ticket with a ``results`` key is not taken for a list response)."""
    path = Path(path)
    source = str(path)
    if path.suffix.lower() in _JSONL_SUFFIXES:
        try:
            yield from _json_lines(path, source, max_line_bytes)
        except OSError as exc:
            yield PayloadItem(source, error=f"cannot read {path}: {exc.strerror or exc}")
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        yield PayloadItem(source, error=f"cannot read {path}: {exc.strerror or exc}")
        return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield PayloadItem(source, error=f"{path} is not UTF-8 (byte {exc.start}: {exc.reason})")
        return
    if not text.strip():
        yield PayloadItem(source, error=f"{path} is empty: no ticket in it")
        return
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several documents, one a line: JSON Lines under another name
            yield from _json_lines(path, source, max_line_bytes)
            return
        yield PayloadItem(source, error=f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return
    except (ValueError, RecursionError) as exc:
        yield PayloadItem(source, error=f"{path} is not valid JSON: {json_problem(exc)}")
        return
    yield from _items(document, source, recognised)
