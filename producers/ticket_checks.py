"""From a raw record to a validated ticket: data-set rows, CSV cells, local attachment files.

Shared by the JSON Lines and CSV readers, so both formats report the same errors the same way.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from producers.lines import json_problem
from worker.blobs import UnsupportedUriScheme, local_path
from worker.contract import ErrorEntry, Limits, Ticket, describe_validation_error

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac"})
KNOWN_EXTENSIONS = IMAGE_EXTENSIONS | AUDIO_EXTENSIONS
TICKET_FIELDS = frozenset(Ticket.model_fields)


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


def guess_kind(path: str) -> str | None:
    """``image`` or ``audio`` from a file extension; None when the extension says neither."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return None


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
class TicketChecker:
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
                        message=f"metadata: not a JSON object ({json_problem(exc)})",
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
