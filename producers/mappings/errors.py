"""Named errors of help-desk mappings: a payload a mapping cannot convert, a mapping file that is wrong.

A :class:`MappingError` names the contract field and the path into the payload, because the
person who reads it must fix one of the two: the help desk's payload or the mapping file. It
never quotes a customer's e-mail address or phone number back.
"""

from __future__ import annotations

from worker.errors import TicketfusionError


class MappingError(TicketfusionError, ValueError):
    """A payload that a mapping cannot turn into a ticket, e.g.
    ``ticket_id: path 'ticket.id' gave nothing in payload``."""

    code = "mapping_error"

    def __init__(self, field: str, path: str | list[str] | None, problem: str) -> None:
        paths = [path] if isinstance(path, str) else list(path or [])
        self.field, self.paths, self.problem = field, paths, problem
        self.path = paths[0] if paths else None
        if not paths:
            super().__init__(f"{field}: {problem}")
        else:
            shown = ", ".join(repr(text) for text in paths)
            super().__init__(f"{field}: {'path' if len(paths) == 1 else 'paths'} {shown} {problem}")


class PayloadNotRecognised(MappingError):
    """No envelope of the mapping recognises the payload: it is not this source's ticket."""

    code = "payload_not_recognised"

    def __init__(self, mapping: str, tried: list[str]) -> None:
        super().__init__(
            "payload",
            None,
            f"not a {mapping} payload: none of the mapping's detect rules matched ({'; '.join(tried)})",
        )


class InvalidMapping(TicketfusionError, ValueError):
    """A mapping file that cannot be used; the message names the file and the key at fault."""

    code = "invalid_mapping"


class UnknownMapping(InvalidMapping, LookupError):
    """Neither a built-in mapping's name nor a readable mapping file."""

    code = "unknown_mapping"
