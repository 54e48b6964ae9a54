"""The CRM schema: customers, their tickets, the latest triage of each ticket, and events.

Every text column holds redacted text only (see :mod:`worker.pii.redaction`); ``ticket_id`` is the
idempotency key, so a redelivered ticket updates rows instead of adding them. The migration in
``migrations/versions`` is the source of truth for the database; these models must match it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ID_LENGTH = 128  # matches the contract's ID_PATTERN
DISPLAY_NAME_LENGTH = 255
JsonDocument = JSON().with_variant(JSONB(), "postgresql")
EventId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime on every backend.

    PostgreSQL keeps the zone (``timestamptz``); SQLite drops it, so values are stored in UTC
    and read back with ``tzinfo=UTC``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the CRM stores aware datetimes only")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


class Base(DeclarativeBase):
    """Declarative base with named constraints, so that later migrations can refer to them."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonDocument}


class Customer(Base):
    """One customer; first/last seen span the creation times of their tickets."""

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(DISPLAY_NAME_LENGTH))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class TicketRow(Base):
    """A ticket as received (subject and body redacted); immutable once written."""

    __tablename__ = "tickets"
    __table_args__ = (Index(None, "customer_id", "created_at"),)

    ticket_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    received_at: Mapped[datetime]


class TriageRow(Base):
    """The latest triage of a ticket: searchable columns plus the whole redacted result."""

    __tablename__ = "triage"

    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id"), primary_key=True)
    intent_label: Mapped[str | None] = mapped_column(String(128))
    intent_confidence: Mapped[float | None] = mapped_column(Float)
    out_of_scope: Mapped[bool] = mapped_column(Boolean)
    priority: Mapped[str | None] = mapped_column(String(16))
    sentiment: Mapped[str | None] = mapped_column(String(16))
    reply_action: Mapped[str | None] = mapped_column(String(16))
    model_version: Mapped[str] = mapped_column(String(128))
    result: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class Event(Base):
    """Something that happened to a ticket; one row per (ticket, kind), so replays add none."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("ticket_id", "kind"),
        Index(None, "customer_id", "at"),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.ticket_id"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class ApiKey(Base):
    """An API key: its public id, name and scopes, and the SHA-256 of its secret part only."""

    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "name"),)

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[Any] = mapped_column(JsonDocument)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class TicketStatus(Base):
    """Where an accepted ticket stands (queued, processing, done, failed) and why it failed."""

    __tablename__ = "ticket_status"

    ticket_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(64))
    errors: Mapped[Any] = mapped_column(JsonDocument)
    accepted_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One result owed to one subscription: pending, delivered or dead (after its last attempt)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("subscription", "ticket_id"), Index(None, "status"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscription: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    url: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CustomerProfile(Base):
    """What the CRM has learnt about a customer (worker/crm/profile.py), kept by enrichment.

    ``digest`` is the SHA-256 of the profile, so a run that learns nothing writes nothing;
    ``source_mark`` is the newest change to the customer's tickets, events or links the profile
    has seen, and ``valid_until`` the first moment a time window (7, 30, 90 days) would move a
    figure, so enrichment knows whom to recompute without reading every history.
    """

    __tablename__ = "customer_profiles"
    __table_args__ = (Index(None, "valid_until"),)

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    profile: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))
    source_mark: Mapped[datetime]
    valid_until: Mapped[datetime | None]
    computed_at: Mapped[datetime]


class CustomerIdentity(Base):
    """A hashed e-mail address or phone number seen for a customer (never the address itself)."""

    __tablename__ = "customer_identities"
    __table_args__ = (Index(None, "digest"),)

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    first_seen: Mapped[datetime]


class CustomerLink(Base):
    """Two customer ids that are one person: linked through a shared identity or by hand, and
    ``unlinked`` by hand, which enrichment then respects (it never links the pair again)."""

    __tablename__ = "customer_links"
    __table_args__ = (Index(None, "other_id"),)

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    other_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    via: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
