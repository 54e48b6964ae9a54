"""Idempotent writes and reads of the customer history, on SQLite or PostgreSQL.

``ticket_id`` is the idempotency key: every write is an ``INSERT ... ON CONFLICT`` in one
transaction, so a redelivered ticket, or two workers recording it at once, leave one ticket
row, one triage row (the latest result) and one event per kind. Text is redacted here, again,
before it is written, whatever the caller did.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url

from worker.contract import CustomerContext, Ticket, TriageResult, TriageSummary
from worker.crm.models import DISPLAY_NAME_LENGTH, Customer, Event, TicketRow, TriageRow
from worker.errors import TicketfusionError
from worker.pii.redaction import redact_result, redact_text, redact_ticket

__all__ = ["CrmStore", "TicketMismatch", "UnsupportedDatabase", "MIGRATIONS_DIR"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
RECENT_CONTEXT = 100  # tickets a customer context holds at most: far above any repeat-contact rule
_MIGRATION_LOCK_KEY = 0x7466_6372_6D00  # "tfcrm": one advisory lock for all migrating workers
_WRITE = "crm_write"  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)
_SQLITE_BUSY_TIMEOUT_S = 30
# Alembic keeps its migration context in module globals: one migration per process at a time.
_ALEMBIC_LOCK = threading.Lock()


class UnsupportedDatabase(TicketfusionError, ValueError):
    """The URL names a database other than SQLite or PostgreSQL."""


class TicketMismatch(TicketfusionError, ValueError):
    """The result belongs to another ticket or customer than the ticket it came with."""


def _enable_wal(cursor: Any, *, attempts: int = 50) -> None:
    """Switch to WAL; the switch needs a moment of exclusive access, which SQLite does not wait
    for, so processes opening a new file together retry (the mode persists in the file)."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 + 0.05 * random.random())


def _sqlite_engine(url: URL) -> Engine:
    """A SQLite engine that several worker processes can write through.

    WAL lets readers run beside the single writer; the busy timeout makes writers queue instead
    of failing; SQLAlchemy emits BEGIN itself (BEGIN IMMEDIATE for writes) so a write
    transaction takes the write lock up front rather than failing on a lock upgrade.
    """
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not emit its own BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_S * 1000}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class CrmStore:
    """The CRM history of customers and their triaged tickets."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        backend = self.url.get_backend_name()
        if backend == "sqlite":
            self.engine = _sqlite_engine(self.url)
            self._insert: Callable[..., Any] = sqlite.insert
            self._least: Any = func.min
            self._greatest: Any = func.max
        elif backend == "postgresql":
            self.engine = create_engine(self.url, pool_pre_ping=True)
            self._insert = postgresql.insert
            self._least, self._greatest = func.least, func.greatest
        else:
            raise UnsupportedDatabase(
                f"the CRM store runs on sqlite or postgresql, not {backend!r}: "
                "set TICKETFUSION_DATABASE_URL to a sqlite:/// or postgresql+psycopg:// URL"
            )

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            connection.execution_options(**{_WRITE: True})
            with connection.begin():
                yield connection

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it is there already.

        Safe to call from every worker at start-up: PostgreSQL serialises callers on an
        advisory lock, SQLite on its write lock, and each reads the schema version only after
        the one before has committed. Threads of one process also queue on a lock, because
        Alembic's ``context`` and ``op`` are process-wide.
        """
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        rendered = self.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
        with _ALEMBIC_LOCK, self._write() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def record(self, ticket: Ticket, result: TriageResult) -> bool:
        """Store a ticket and its latest triage in one transaction; True if the ticket is new.

        Recording the same ticket again replaces the triage (the last write wins) and adds no
        ticket and no events.
        """
        if result.ticket_id != ticket.ticket_id:
            raise TicketMismatch(
                f"result is for ticket {result.ticket_id!r}, not {ticket.ticket_id!r}"
            )
        if result.customer_id not in (None, ticket.customer_id):
            raise TicketMismatch(
                f"result names customer {result.customer_id!r}; ticket {ticket.ticket_id!r} "
                f"belongs to {ticket.customer_id!r}"
            )
        ticket, result = redact_ticket(ticket), redact_result(result)
        now = datetime.now(timezone.utc)
        with self._write() as connection:
            connection.execute(self._upsert_customer(ticket))
            inserted = connection.execute(
                self._insert(TicketRow)
                .values(
                    ticket_id=ticket.ticket_id,
                    customer_id=ticket.customer_id,
                    channel=ticket.channel.value,
                    subject=ticket.subject,
                    body=ticket.body,
                    created_at=ticket.created_at,
                    received_at=now,
                )
                .on_conflict_do_nothing(index_elements=[TicketRow.ticket_id])
                .returning(TicketRow.ticket_id)
            ).first()
            if inserted is None:
                owner = connection.execute(
                    select(TicketRow.customer_id).where(TicketRow.ticket_id == ticket.ticket_id)
                ).scalar_one()
                if owner != ticket.customer_id:
                    # ticket_id is the idempotency key: another customer's ticket must not be overwritten.
                    raise TicketMismatch(
                        f"ticket {ticket.ticket_id!r} already belongs to customer {owner!r}, "
                        f"not {ticket.customer_id!r}"
                    )
            flat = result.summary()
            connection.execute(self._upsert_triage(result, flat))
            connection.execute(
                self._insert(Event)
                .values(_events(ticket, flat, now))
                .on_conflict_do_nothing(index_elements=[Event.ticket_id, Event.kind])
            )
        return inserted is not None

    def _upsert_customer(self, ticket: Ticket) -> Any:
        name = ticket.metadata.get("display_name")
        name = redact_text(name.strip())[:DISPLAY_NAME_LENGTH] if isinstance(name, str) else None
        stmt = self._insert(Customer).values(
            customer_id=ticket.customer_id,
            display_name=name or None,
            first_seen=ticket.created_at,
            last_seen=ticket.created_at,
        )
        return stmt.on_conflict_do_update(
            index_elements=[Customer.customer_id],
            set_={
                "display_name": func.coalesce(stmt.excluded.display_name, Customer.display_name),
                "first_seen": self._least(Customer.first_seen, stmt.excluded.first_seen),
                "last_seen": self._greatest(Customer.last_seen, stmt.excluded.last_seen),
            },
        )

    def _upsert_triage(self, result: TriageResult, flat: TriageSummary) -> Any:
        values = {
            "intent_label": flat.intent,
            "intent_confidence": flat.confidence,
            "out_of_scope": flat.out_of_scope,
            "priority": flat.priority,
            "sentiment": flat.sentiment,
            "reply_action": flat.action,
            "model_version": flat.model_version,
            "result": result.model_dump(mode="json"),
            "updated_at": result.triaged_at,
        }
        stmt = self._insert(TriageRow).values(ticket_id=result.ticket_id, **values)
        # A stale redelivery (an older triage arriving after a newer one) changes nothing.
        return stmt.on_conflict_do_update(
            index_elements=[TriageRow.ticket_id],
            set_={name: stmt.excluded[name] for name in values},
            where=TriageRow.updated_at <= stmt.excluded.updated_at,
        )

    def triage_result(self, ticket_id: str) -> dict[str, Any] | None:
        """The stored (redacted) triage result of one ticket, or None when it has none."""
        with self.engine.connect() as connection:
            return connection.scalar(select(TriageRow.result).where(TriageRow.ticket_id == ticket_id))

    def history(self, customer_id: str, *, limit: int = 100) -> dict[str, Any]:
        """The customer's latest ``limit`` tickets with their triage, oldest first."""
        query = (
            select(
                TicketRow.ticket_id,
                TicketRow.channel,
                TicketRow.subject,
                TicketRow.created_at,
                TriageRow.intent_label,
                TriageRow.intent_confidence,
                TriageRow.priority,
                TriageRow.sentiment,
                TriageRow.out_of_scope,
                TriageRow.reply_action,
                TriageRow.model_version,
                TriageRow.result,
                TriageRow.updated_at,
            )
            .outerjoin(TriageRow, TriageRow.ticket_id == TicketRow.ticket_id)
            .where(TicketRow.customer_id == customer_id)
            .order_by(TicketRow.created_at.desc(), TicketRow.ticket_id.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            display_name = connection.scalar(
                select(Customer.display_name).where(Customer.customer_id == customer_id)
            )
            rows = connection.execute(query).all()
        return {
            "customer_id": customer_id,
            "display_name": display_name,
            "tickets": [_history_entry(row) for row in reversed(rows)],
        }

    def customer_context(
        self,
        customer_id: str,
        *,
        before: datetime,
        days: int,
        exclude_ticket_id: str | None = None,
    ) -> CustomerContext:
        """The customer's name and the intents of their tickets created in ``[before - days,
        before)``, oldest first, for greeting and repeat-contact priority.

        ``exclude_ticket_id`` leaves out the ticket being triaged, so that a redelivered ticket
        is not its own repeat contact. Tickets with no intent, or out of scope (their intent is a
        guess), say nothing about what the customer keeps asking. At most the latest
        ``RECENT_CONTEXT`` of them: an account with thousands of tickets in the window would
        otherwise cost each of its new tickets a read of all of them. One query: the customer row,
        left-joined to its tickets in the window through the (customer_id, created_at) index.
        An unknown customer has an empty context.
        """
        if before.tzinfo is None:
            raise ValueError(f"naive datetime {before!r}: pass an aware 'before'")
        if days < 0:
            raise ValueError(f"days must be 0 or more, not {days}")
        conditions = [
            TicketRow.customer_id == customer_id,
            TicketRow.created_at >= before - timedelta(days=days),
            TicketRow.created_at < before,
            TriageRow.intent_label.is_not(None),
            TriageRow.out_of_scope.is_(False),
        ]
        if exclude_ticket_id is not None:
            conditions.append(TicketRow.ticket_id != exclude_ticket_id)
        recent = (
            select(TicketRow.customer_id, TicketRow.ticket_id, TicketRow.created_at, TriageRow.intent_label)
            .join(TriageRow, TriageRow.ticket_id == TicketRow.ticket_id)
            .where(*conditions)
            .order_by(TicketRow.created_at.desc(), TicketRow.ticket_id.desc())
            .limit(RECENT_CONTEXT)
            .subquery()
        )
        query = (
            select(Customer.display_name, recent.c.intent_label, recent.c.created_at)
            .outerjoin(recent, recent.c.customer_id == Customer.customer_id)
            .where(Customer.customer_id == customer_id)
            .order_by(recent.c.created_at, recent.c.ticket_id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return CustomerContext()
        return CustomerContext(
            display_name=rows[0].display_name,
            recent_intents=[
                (row.intent_label, row.created_at) for row in rows if row.intent_label is not None
            ],
        )

    def count_tickets(self, customer_id: str | None = None) -> int:
        """How many tickets are stored, for one customer or for all."""
        query = select(func.count()).select_from(TicketRow)
        if customer_id is not None:
            query = query.where(TicketRow.customer_id == customer_id)
        with self.engine.connect() as connection:
            return int(connection.scalar(query) or 0)

    def dispose(self) -> None:
        """Close the pooled connections (call in each worker process on shutdown)."""
        self.engine.dispose()


def _events(ticket: Ticket, flat: TriageSummary, now: datetime) -> list[dict[str, Any]]:
    common = {"customer_id": ticket.customer_id, "ticket_id": ticket.ticket_id, "at": now}
    received = {"channel": ticket.channel.value, "attachments": len(ticket.attachments)}
    triaged = {
        "intent": flat.intent,
        "priority": flat.priority,
        "reply_action": flat.action,
        "model_version": flat.model_version,
    }
    return [
        {**common, "kind": "ticket_received", "data": received},
        {**common, "kind": "triaged", "data": triaged},
    ]


def _history_entry(row: Any) -> dict[str, Any]:
    result = row.result or {}
    return {
        "ticket_id": row.ticket_id,
        "channel": row.channel,
        "subject": row.subject,
        "created_at": row.created_at.isoformat(),
        "intent": row.intent_label,
        "confidence": row.intent_confidence,
        "priority": row.priority,
        "sentiment": row.sentiment,
        "out_of_scope": row.out_of_scope,
        "reply_action": row.reply_action,
        "model_version": row.model_version,
        "triaged_at": row.updated_at.isoformat() if row.updated_at else None,
        "errors": result.get("errors", []),
    }
