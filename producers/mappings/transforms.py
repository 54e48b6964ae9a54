"""The fixed set of named transforms a mapping file may apply to a value it found.

A fixed set, not code in the mapping: a mapping file comes from whoever configures a help desk,
and must not be able to run anything. Each transform takes the value and a
:class:`TransformContext`, and raises :class:`TransformProblem` with a sentence that completes
"<field>: path '<path>' ..." when the value cannot be transformed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from producers.mappings.customers import hash_customer as _hash
from worker.html_text import html_to_text

__all__ = ["NAMED", "PARAMETRISED", "Transform", "TransformContext", "TransformProblem", "compile_transform"]


class TransformProblem(ValueError):
    """Why a transform refused a value; the caller adds the field and the path."""


@dataclass(frozen=True)
class TransformContext:
    """What transforms may read besides the value: the key and region for hashing customers."""

    customer_hash_key: str = ""
    phone_region: str = "GB"


@dataclass(frozen=True)
class Transform:
    """One compiled step: its name (for messages) and the function."""

    name: str
    apply: Callable[[Any, TransformContext], Any]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(type(value), type(value).__name__)


def to_text(value: Any, _: TransformContext | None = None) -> str | None:
    """Numbers become their digits (``35436`` and ``35436.0`` both give ``"35436"``), text is stripped."""
    if value is None or isinstance(value, str):
        return value.strip() if isinstance(value, str) else None
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise TransformProblem(f"gave {_kind(value)}, expected text or a number")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    raise TransformProblem(f"gave {_kind(value)}, expected text or a number")


def _lower(value: Any, ctx: TransformContext) -> str | None:
    text = to_text(value, ctx)
    return text.lower() if text is not None else None




def _html_to_text(value: Any, ctx: TransformContext) -> str | None:
    """HTML to text with its line breaks (inscriptis); text without tags passes unchanged."""
    text = to_text(value, ctx)
    if text is None or "<" not in text:
        return text
    return html_to_text(text)


def _hash_customer(value: Any, ctx: TransformContext) -> str | None:
    text = to_text(value, ctx)
    return _hash(text, key=ctx.customer_hash_key, region=ctx.phone_region) if text else None


def _epoch(seconds: float) -> datetime:
    if seconds > 1e11:  # milliseconds: 1e11 seconds is the year 5138
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _datetime(value: Any, ctx: TransformContext) -> datetime | None:
    """ISO 8601 (``2024-04-17T17:18:10Z``, ``2013-12-12T05:35Z``), epoch seconds or milliseconds,
    or an RFC 2822 date; naive times are read as UTC."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _epoch(float(value))
        text = to_text(value, ctx) or ""
        if re.fullmatch(r"\d{9,14}(\.\d+)?", text):
            return _epoch(float(text))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError, OSError, TransformProblem):
        raise TransformProblem(
            f"gave {_show(value)}, which is not an ISO 8601 date-time or epoch seconds"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _split(value: Any, ctx: TransformContext) -> list[str] | None:
    """A list of words from text split on spaces or commas (Zendesk's ``{{ticket.tags}}``);
    a list stays a list of texts."""
    if value is None:
        return None
    items = value if isinstance(value, list) else re.split(r"[\s,]+", to_text(value, ctx) or "")
    return [text for item in items if (text := to_text(item, ctx))]


def _show(value: Any) -> str:
    """A value for an error message: short, and only for values that are not personal data."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


NAMED: dict[str, Callable[[Any, TransformContext], Any]] = {
    "str": to_text,
    "lower": _lower,
    "html_to_text": _html_to_text,
    "hash_customer": _hash_customer,
    "datetime": _datetime,
    "split": _split,
}


def _prefix(prefix: Any) -> Callable[[Any, TransformContext], Any]:
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("prefix takes a non-empty text, e.g. {prefix: zendesk-}")

    def apply(value: Any, ctx: TransformContext) -> str | None:
        text = to_text(value, ctx)
        if not text:
            return None
        return text if text.startswith(prefix) else prefix + text

    return apply


def _map(table: Any) -> Callable[[Any, TransformContext], Any]:
    """A value map; keys match as text, case-insensitively; ``"*"`` is the value for the rest."""
    if not isinstance(table, dict) or not table:
        raise ValueError('map takes a non-empty table, e.g. {map: {"1": email, "*": web}}')
    lookup = {str(key).strip().lower(): target for key, target in table.items()}
    fallback_set = "*" in lookup
    fallback = lookup.pop("*", None)

    def apply(value: Any, ctx: TransformContext) -> Any:
        if value is None:
            return None
        key = to_text(value, ctx)
        key = key.lower() if key is not None else None
        if key in lookup:
            return lookup[key]
        if fallback_set:
            return fallback
        known = ", ".join(sorted(lookup)[:12])
        raise TransformProblem(f"gave {_show(value)}, which the map does not list (it lists {known})")

    return apply


PARAMETRISED: dict[str, Callable[[Any], Callable[[Any, TransformContext], Any]]] = {
    "prefix": _prefix,
    "map": _map,
}


def compile_transform(item: Any) -> Transform:
    """A named transform (``lower``) or a one-key table (``{prefix: zendesk-}``, ``{map: {...}}``);
    raises ValueError naming the known transforms."""
    known = f"known: {', '.join(sorted(NAMED))}, or {{{'|'.join(sorted(PARAMETRISED))}: ...}}"
    if isinstance(item, str):
        if item not in NAMED:
            raise ValueError(f"unknown transform {item!r}; {known}")
        return Transform(item, NAMED[item])
    if isinstance(item, dict) and len(item) == 1:
        (name, argument), = item.items()
        if name in PARAMETRISED:
            return Transform(name, PARAMETRISED[name](argument))
        raise ValueError(f"unknown transform {name!r}; {known}")
    raise ValueError(f"a transform is a name or a one-key table, not {item!r}; {known}")
