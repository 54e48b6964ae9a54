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
from worker.pii.redaction import redact_ticket

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
        if ticket is not None and not errors and self._near_a_limit(ticket):
            errors = self._valid_once_redacted(ticket, prefix)
        return SourceLine(line_no, raw, ticket if not errors else None, errors)

    def _near_a_limit(self, ticket: Ticket) -> bool:
        """Whether masking could push the ticket past a size limit: every mask is at most a few
        times as long as what it hides ("[phone]" for a short number), so text under a third
        of its limit stays under it. Masking costs far more than reading a line, so only
        these tickets pay it."""
        limits = self.limits
        if 3 * len(ticket.subject) > limits.max_subject_chars:
            return True
        if 3 * len(ticket.body) > limits.max_body_chars:
            return True
        if not ticket.metadata:
            return False
        size = len(json.dumps(ticket.metadata, ensure_ascii=False).encode())
        return 3 * size > limits.max_metadata_bytes

    def _valid_once_redacted(self, ticket: Ticket, prefix: str) -> list[ErrorEntry]:
        """The ticket is stored redacted, and validated again then: a masking that makes it longer
        ("a@b.co" is 6 characters, "[email]" 7) must not push it past a limit there, where it
        could no longer be recorded. Such a ticket is refused here, as this line's error."""
        try:
            redacted = _redacted(ticket, self.limits).model_dump(mode="json")
            Ticket.model_validate(redacted, context={"limits": self.limits})
        except ValidationError as exc:
            return [
                ErrorEntry(
                    where=entry.where,
                    code="invalid_once_redacted",
                    message=f"{entry.message}, once its card numbers, IBANs, e-mail addresses and "
                    "phone numbers are masked as they are before it is stored: shorten it",
                )
                for entry in describe_validation_error(exc, where_prefix=prefix)
            ]
        except Exception as exc:  # noqa: BLE001 - a ticket we cannot mask must not be stored
            return [
                ErrorEntry(
                    where=prefix.rstrip(": "),
                    code="redaction_failed",
                    message=f"the ticket's personal data could not be masked ({type(exc).__name__})",
                )
            ]
        return []

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
                        where=f"{where}.uri", code="unsupported_uri_scheme", message=_shown(str(exc))
                    )
                )
                continue
            except (ValueError, RuntimeError) as exc:  # "file://[::1", "~nobody/x.png"
                errors.append(_bad_path(where, i, item["uri"], exc))
                continue
            if path is None:
                continue  # already a blob: the enqueuer checks it against its store
            item["uri"] = str(path)
            try:
                is_file = path.is_file()
                size = path.stat().st_size if is_file else 0
            except (OSError, ValueError) as exc:  # a name too long, a NUL byte
                errors.append(_bad_path(where, i, item["uri"], exc))
                continue
            if not is_file:
                errors.append(
                    ErrorEntry(
                        where=f"{where}.uri",
                        code="attachment_not_found",
                        message=f"attachments.{i}: file not found: {_shown(str(path))}",
                    )
                )
                continue
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


def _redacted(ticket: Ticket, limits: Limits) -> Ticket:
    """The ticket as it is stored: masked to fit ``limits`` where the redaction can (by design it
    then hides values character for character rather than grow a field past its limit)."""
    try:
        return redact_ticket(ticket, limits=limits)  # type: ignore[call-arg]
    except TypeError:  # a redact_ticket that takes no limits
        return redact_ticket(ticket)


def _shown(text: str, limit: int = 1000) -> str:
    """A user's path as an error message shows it: printable, and not too long."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bad_path(where: str, i: int, uri: str, exc: Exception) -> ErrorEntry:
    return ErrorEntry(
        where=f"{where}.uri",
        code="attachment_not_found",
        message=f"attachments.{i}: {_shown(uri)!s} cannot name a readable file "
        f"({type(exc).__name__}: {_shown(str(exc), 120)})",
    )


def _attachment_from_path(path: str) -> dict[str, Any]:
    """A CSV attachment cell entry: the kind and content type guessed from the extension."""
    content_type, _ = mimetypes.guess_type(path)
    kind = guess_kind(path) or "image"  # placeholder: the caller reports the unknown extension
    return {"kind": kind, "uri": path, "content_type": content_type}
