"""Apply one envelope of a mapping to a payload: the contract fields, metadata and the remote
attachments it names. Pure: nothing is fetched or stored here (see :mod:`.fetching`).

Ids and texts become strings, a channel must be one of the contract's, and a customer id that
is still an e-mail address or an international phone number after the transforms is hashed
anyway: a mapping written carelessly still cannot put a raw address into the CRM's keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jmespath.exceptions import JMESPathError

from producers.mappings.customers import hash_customer, looks_like_contact
from producers.mappings.errors import MappingError
from producers.mappings.spec import CompiledField, Envelope, is_empty
from producers.mappings.transforms import TransformContext, TransformProblem, to_text
from worker.contract import Channel

__all__ = ["Extracted", "RemoteAttachment", "extract"]

_TEXT_FIELDS = ("ticket_id", "customer_id", "subject", "body")
_SIMPLE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class RemoteAttachment:
    """An attachment the payload names by URL, with what the payload says about it."""

    url: str
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None


@dataclass
class Extracted:
    """What one payload gave: contract fields, metadata, attachments to fetch, and attachments
    already skipped (no URL) as ``{"name", "reason", "message"}`` entries."""

    envelope: str
    fields: dict[str, Any]
    metadata: dict[str, Any]
    attachments: list[RemoteAttachment] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _shown(root: str, path: str) -> str:
    """The path as the payload's author sees it: ``ticket.id`` rather than ``id`` under ``ticket``."""
    if root in ("@", ""):
        return path
    if _SIMPLE_PATH.match(root) and _SIMPLE_PATH.match(path):
        return f"{root}.{path}"
    return f"{path} (under {root})"


def _search(expression: Any, data: Any, name: str, shown: str) -> Any:
    try:
        return expression.search(data)
    except (JMESPathError, TypeError, ValueError) as exc:  # a function given the wrong type
        raise MappingError(name, shown, f"could not be evaluated on this payload ({exc})") from None


def evaluate(
    spec: CompiledField, data: Any, ctx: TransformContext, *, root: str = "@", payload: Any = None
) -> Any:
    """The first alternative that gives a non-empty value after its transforms, else the default.
    ``data`` is what paths read; ``$.`` paths read ``payload``, the whole delivery."""
    for alt in spec.alternatives:
        shown = (alt.text if alt.whole else _shown(root, alt.text)) if alt.expression is not None else None
        source = payload if alt.whole else data
        value = alt.constant if alt.expression is None else _search(alt.expression, source, spec.name, shown or "")
        if is_empty(value):
            continue
        try:
            for transform in alt.transforms + spec.transforms:
                value = transform.apply(value, ctx)
        except TransformProblem as exc:
            raise MappingError(spec.name, shown, f"{exc} ({transform.name})") from None
        if not is_empty(value):
            return value
    return spec.default


def _paths(spec: CompiledField, root: str) -> list[str]:
    return [text if text.startswith("$.") else _shown(root, text) for text in spec.paths]


def _contract_value(name: str, value: Any, spec: CompiledField, root: str, ctx: TransformContext) -> Any:
    """Coerce to the contract's type, or a :class:`MappingError` naming field and path."""
    try:
        if name in _TEXT_FIELDS:
            value = to_text(value)
        elif name == "channel":
            value = to_text(value)
            value = value.lower() if value else value
            if value not in {channel.value for channel in Channel}:
                raise TransformProblem(
                    f"gave {value!r}, which is not a channel ({', '.join(c.value for c in Channel)}): "
                    "add a map transform"
                )
        elif name == "created_at" and (
            isinstance(value, bool) or not isinstance(value, (str, int, float, datetime))
        ):
            raise TransformProblem(f"gave {type(value).__name__}, expected a date-time")
    except TransformProblem as exc:
        raise MappingError(name, _paths(spec, root), str(exc)) from None
    if name == "customer_id" and value and looks_like_contact(value):
        value = hash_customer(value, key=ctx.customer_hash_key, region=ctx.phone_region)
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _attachments(
    envelope: Envelope, root: Any, payload: Any, ctx: TransformContext, extracted: Extracted
) -> None:
    rule = envelope.attachments
    if rule is None:
        return
    shown = _shown(envelope.root_text, rule.text)
    items = _search(rule.expression, root, "attachments", shown)
    if is_empty(items):
        return
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise MappingError("attachments", shown, f"gave {type(items).__name__}, expected a list of attachments")
    for i, item in enumerate(items):
        def part(spec: CompiledField | None) -> Any:
            return None if spec is None else evaluate(spec, item, ctx, root=f"{shown}[{i}]", payload=payload)

        url = item if isinstance(item, str) else part(rule.url)
        name = to_text(part(rule.filename)) if not isinstance(item, str) else None
        if not isinstance(url, str) or not url.strip():
            extracted.skipped.append(
                {"name": name or f"attachment {i + 1}", "reason": "no_url", "message": "the payload gives no URL"}
            )
            continue
        size = part(rule.size)
        try:
            size = int(size) if size is not None else None
        except (TypeError, ValueError):
            size = None
        content_type = to_text(part(rule.content_type)) if not isinstance(item, str) else None
        extracted.attachments.append(RemoteAttachment(url.strip(), name, content_type, size))


def extract(payload: Any, envelope: Envelope, ctx: TransformContext) -> Extracted:
    """Fields, metadata and remote attachments of ``payload`` under ``envelope``."""
    root = _search(envelope.root, payload, "payload", envelope.root_text)
    if not isinstance(root, dict):
        kind = "nothing" if root is None else type(root).__name__
        raise MappingError("payload", envelope.root_text, f"gave {kind}, expected the ticket object")
    extracted = Extracted(envelope.name, {}, {})
    for name, spec in envelope.fields.items():
        value = evaluate(spec, root, ctx, root=envelope.root_text, payload=payload)
        if is_empty(value):
            if name in ("ticket_id", "customer_id"):
                raise MappingError(name, _paths(spec, envelope.root_text), "gave nothing in payload")
            continue
        extracted.fields[name] = _contract_value(name, value, spec, envelope.root_text, ctx)
    for key, spec in envelope.metadata.items():
        value = evaluate(spec, root, ctx, root=envelope.root_text, payload=payload)
        if not is_empty(value):
            extracted.metadata[key] = _json_safe(value)
    _attachments(envelope, root, payload, ctx, extracted)
    return extracted
