"""The message contract between producers, workers and the CRM.

Imports pydantic only, so that any producer can validate tickets without torch, onnxruntime or
celery. Limits travel in the validation context (``Ticket.model_validate(data,
context={"limits": settings.limits()})``) so that they stay settings, not constants.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

CONTRACT_VERSION = "1"
# No '@': an e-mail address is personal data and would travel into logs and the CRM as a key.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,127}$"


def is_id(value: object) -> bool:
    """Whether ``value`` could be a ticket or customer id: a string the ID pattern admits."""
    return isinstance(value, str) and re.match(ID_PATTERN, value) is not None
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
#: Deepest nesting of lists and objects in any field, metadata included. JSON encoders and
#: pydantic's serializer stop near 255 levels, Python's recursion limit near 1000: a deeper value
#: would pass validation and then fail (or raise RecursionError) wherever the ticket is written.
MAX_NESTING = 64


class Limits(BaseModel):
    """Size limits on every input; the settings carry the configured values."""

    model_config = ConfigDict(frozen=True)

    max_body_chars: int = 20_000
    max_subject_chars: int = 1_000
    max_attachments: int = 10
    max_attachment_bytes: int = 20 * 1024 * 1024
    max_metadata_bytes: int = 16 * 1024


DEFAULT_LIMITS = Limits()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _assume_utc(value: datetime) -> datetime:
    """Help desks often export naive timestamps; we read them as UTC. Databases cannot store
    every year Python can, so the range is bounded here rather than failing at the CRM write."""
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}")
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[datetime, AfterValidator(_assume_utc)]


def nesting_depth(value: Any, *, stop_at: int = MAX_NESTING + 1) -> int:
    """How many levels of lists, tuples and dicts ``value`` holds (a scalar is 0), counted without
    recursion and no further than ``stop_at``, so that any input can be measured."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest >= stop_at:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _not_too_deep(value: Any, info: ValidationInfo) -> Any:
    """Refuse a value nested deeper than :data:`MAX_NESTING` before any validator walks it (an
    enum's error message alone would recurse through it)."""
    if isinstance(value, (dict, list, tuple)) and nesting_depth(value) > MAX_NESTING:
        raise ValueError(
            f"{info.field_name} is nested more than {MAX_NESTING} levels deep (lists and objects)"
        )
    return value


def _limits(info: ValidationInfo) -> Limits:
    context = info.context or {}
    limits = context.get("limits", DEFAULT_LIMITS)
    return limits if isinstance(limits, Limits) else Limits.model_validate(limits)


class Channel(str, Enum):
    email = "email"
    chat = "chat"
    phone = "phone"
    web = "web"
    social = "social"


class AttachmentKind(str, Enum):
    image = "image"
    audio = "audio"


class Attachment(BaseModel):
    """A file that travels by reference: a path, a ``file://`` URI or a ``blob://`` key."""

    model_config = ConfigDict(extra="forbid")

    kind: AttachmentKind
    uri: str = Field(min_length=1, max_length=4096)
    content_type: str | None = Field(default=None, max_length=255)
    size_bytes: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    _nesting = field_validator("*", mode="before")(_not_too_deep)

    @field_validator("size_bytes")
    @classmethod
    def _size_within_limit(cls, value: int | None, info: ValidationInfo) -> int | None:
        limit = _limits(info).max_attachment_bytes
        if value is not None and value > limit:
            raise ValueError(f"attachment is {value} bytes; the limit is {limit}")
        return value


class Ticket(BaseModel):
    """One support ticket; ``ticket_id`` is the idempotency key for every effect."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ticket_id: str = Field(pattern=ID_PATTERN)
    customer_id: str = Field(pattern=ID_PATTERN)
    channel: Channel = Channel.email
    subject: str = ""
    body: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    created_at: UtcDatetime = Field(default_factory=_now)
    metadata: dict[str, Any] = Field(default_factory=dict)

    _nesting = field_validator("*", mode="before")(_not_too_deep)

    @field_validator("subject", "body")
    @classmethod
    def _text_within_limit(cls, value: str, info: ValidationInfo) -> str:
        if "\x00" in value:
            raise ValueError(f"{info.field_name} contains a NUL character, which no database stores")
        limit = getattr(_limits(info), f"max_{info.field_name}_chars")
        if len(value) > limit:
            raise ValueError(f"{info.field_name} has {len(value)} characters; the limit is {limit}")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_within_limit(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        try:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"metadata must be plain JSON: {exc}") from None
        try:
            size = len(encoded.encode())
        except UnicodeEncodeError as exc:  # a lone surrogate, which no UTF-8 store can hold
            raise ValueError(
                f"metadata holds a character that is not valid Unicode ({exc.object[exc.start]!r}): "
                "a lone surrogate"
            ) from None
        limit = _limits(info).max_metadata_bytes
        if size > limit:
            raise ValueError(f"metadata is {size} bytes as JSON; the limit is {limit}")
        if "\x00" in encoded or "\\u0000" in encoded:
            raise ValueError("metadata contains a NUL character, which no database stores")
        return value

    @field_validator("attachments")
    @classmethod
    def _attachment_count(cls, value: list[Attachment], info: ValidationInfo) -> list[Attachment]:
        limit = _limits(info).max_attachments
        if len(value) > limit:
            raise ValueError(f"{len(value)} attachments; the limit is {limit}")
        return value

    @model_validator(mode="after")
    def _has_content(self) -> Ticket:
        if not (self.subject or self.body or self.attachments):
            raise ValueError("ticket has no subject, no body and no attachments: nothing to triage")
        return self

    @property
    def text(self) -> str:
        """Subject and body as the text models read them."""
        return ". ".join(part for part in (self.subject, self.body) if part)


class Intent(BaseModel):
    label: str
    confidence: float = Field(ge=0.0, le=1.0)
    top: list[tuple[str, float]] = Field(default_factory=list)


class ReplyAction(str, Enum):
    auto_send = "auto_send"
    draft = "draft"
    escalate = "escalate"


class SuggestedArticle(BaseModel):
    """A help article that resembles the ticket, for an agent or the customer to read."""

    id: str
    title: str
    score: float


class Reply(BaseModel):
    """What to answer and whether to send it unreviewed; ``reasons`` say why that action."""

    action: ReplyAction = ReplyAction.draft
    text: str = ""
    reasons: list[str] = Field(default_factory=list)
    articles: list[SuggestedArticle] = Field(default_factory=list)


class Sentiment(BaseModel):
    label: Literal["negative", "neutral", "positive"]
    score: float


class Priority(BaseModel):
    level: Literal["low", "normal", "high", "urgent"]
    reasons: list[str] = Field(default_factory=list)


class Entity(BaseModel):
    """A piece of key information. ``start``/``end`` index the text it came from: for
    ``source="text"`` the text the models read (``TriageResult.cleaning.text``, or the signature
    ``cleaning.signature`` when ``part="signature"``), else the transcript of attachment number
    ``attachment`` (``TriageResult.transcripts``). Stored results are redacted, so offsets hold
    on the worker's unredacted copy only."""

    type: str
    text: str
    start: int
    end: int
    value: Any = None
    source: Literal["text", "image", "audio"] = "text"
    attachment: int | None = None
    #: "signature": found in the sender's signature (``TriageResult.cleaning.signature``), so it
    #: names who wrote, not what the request is about; replies and priority read "request" only.
    part: Literal["request", "signature"] = "request"


class CustomerContext(BaseModel):
    """What the CRM knows about a customer that triage uses: a name to greet, recent intents
    (for repeat-contact priority). Empty for a new customer or without a CRM."""

    display_name: str | None = None
    recent_intents: list[tuple[str, UtcDatetime]] = Field(default_factory=list)


class RemovedPart(BaseModel):
    """One kind of text that cleaning took out of the body, and how many characters of it."""

    kind: str
    chars: int = Field(ge=0)


class Cleaning(BaseModel):
    """What the text models read of the ticket, and what cleaning took out to get it.

    ``text`` is the subject when it carries the request, then the body's newest message without
    greeting, sign-off, signature, footers or quoted thread; ``signature`` is the sender's
    signature block, read for entities only. ``removed_share`` is the share of the original
    subject and body the models did not read."""

    text: str
    signature: str = ""
    subject_used: bool = False
    original_chars: int = Field(default=0, ge=0)
    removed: list[RemovedPart] = Field(default_factory=list)
    removed_share: float = Field(default=0.0, ge=0.0, le=1.0)


class ErrorEntry(BaseModel):
    """What went wrong, where (a field path or a stage) and a code a program can match on."""

    where: str
    code: str
    message: str


class TriageResult(BaseModel):
    """What the worker concludes about one ticket; later stages fill the optional parts."""

    ticket_id: str
    customer_id: str | None = None
    intent: Intent | None = None
    out_of_scope: bool = False
    out_of_scope_score: float | None = None
    priority: Priority | None = None
    sentiment: Sentiment | None = None
    entities: list[Entity] = Field(default_factory=list)
    cleaning: Cleaning | None = None
    reply: Reply | None = None
    modalities: list[str] = Field(default_factory=list)
    transcripts: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[ErrorEntry] = Field(default_factory=list)
    model_version: str = ""
    timings_ms: dict[str, float] = Field(default_factory=dict)
    triaged_at: UtcDatetime = Field(default_factory=_now)
    contract_version: str = CONTRACT_VERSION

    def summary(self) -> TriageSummary:
        """The result flattened to plain values, as the CRM's columns and events and the
        ``crm_update`` task's answer carry it."""
        return TriageSummary(
            ticket_id=self.ticket_id,
            customer_id=self.customer_id,
            intent=self.intent.label if self.intent else None,
            confidence=self.intent.confidence if self.intent else None,
            out_of_scope=self.out_of_scope,
            priority=self.priority.level if self.priority else None,
            sentiment=self.sentiment.label if self.sentiment else None,
            action=self.reply.action.value if self.reply else None,
            entities=tuple(sorted({entity.type for entity in self.entities})),
            errors=tuple(f"{error.where}: {error.code}" for error in self.errors),
            model_version=self.model_version,
        )


@dataclass(frozen=True)
class TriageSummary:
    """A :class:`TriageResult` flattened to plain values (see :meth:`TriageResult.summary`):
    ``entities`` are the distinct entity types, sorted; ``errors`` read ``"where: code"``."""

    ticket_id: str
    customer_id: str | None
    intent: str | None
    confidence: float | None
    out_of_scope: bool
    priority: str | None
    sentiment: str | None
    action: str | None
    entities: tuple[str, ...]
    errors: tuple[str, ...]
    model_version: str


def _printable(text: str, limit: int) -> str:
    """``text`` safe to print and to encode as UTF-8 (control characters and lone surrogates
    escaped), cut to ``limit`` characters: a field path may hold any key a sender chose."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loc_text(part: Any) -> str:
    try:
        return str(part)
    except ValueError:  # an int key of more than 4300 digits
        return f"<{type(part).__name__}>"


def describe_validation_error(error: ValidationError, *, where_prefix: str = "") -> list[ErrorEntry]:
    """Turn pydantic's errors into entries that name the field and the reason."""
    entries = []
    for item in error.errors(include_url=False):
        path = ".".join(_printable(_loc_text(part), 80) for part in item["loc"]) or "ticket"
        entries.append(
            ErrorEntry(
                where=f"{where_prefix}{path}",
                code=f"invalid_{item['type']}",
                message=f"{path}: {_printable(str(item['msg']), 1000)}",
            )
        )
    return entries
