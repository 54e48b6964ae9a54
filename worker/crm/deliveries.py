"""Outbound webhook deliveries: one row per (subscription, ticket), on SQLite or PostgreSQL.

A delivery is ``pending`` until the receiver accepts it (``delivered``) or its last attempt fails
(``dead``). (subscription, ticket_id) is the idempotency key and the id is derived from it, so a
redelivered ``crm_update`` opens no second delivery and never reopens a delivered one, and the
receiver sees the same ``Idempotency-Key`` however often we send. Errors are stored short and
masked: nothing a receiver echoes back may carry a card number into the database.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update

from worker.crm.models import WebhookDelivery
from worker.crm.store import CrmStore
from worker.errors import TicketfusionError
from worker.pii.redaction import redact_text

__all__ = [
    "DELIVERED",
    "DEAD",
    "PENDING",
    "DeliveryNotFound",
    "DeliveryNotReplayable",
    "DeliveryStore",
    "delivery_id_for",
]

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
MAX_ERROR_CHARS = 500
_SUMMARY_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.subscription,
    WebhookDelivery.ticket_id,
    WebhookDelivery.url,
    WebhookDelivery.status,
    WebhookDelivery.attempts,
    WebhookDelivery.last_error,
    WebhookDelivery.created_at,
    WebhookDelivery.updated_at,
)


class DeliveryNotFound(TicketfusionError, LookupError):
    """No delivery has this id; ``ticketfusion webhooks dead`` lists the ones there are."""

    code = "delivery_not_found"

    def __init__(self, delivery_id: str) -> None:
        self.delivery_id = delivery_id
        super().__init__(
            f"no webhook delivery {delivery_id!r}: `ticketfusion webhooks dead` lists the dead ones and their ids"
        )


class DeliveryNotReplayable(TicketfusionError, ValueError):
    """The delivery was delivered already: replaying it would send the receiver the result twice."""

    code = "delivery_not_replayable"

    def __init__(self, delivery_id: str, status: str) -> None:
        self.delivery_id, self.status = delivery_id, status
        super().__init__(
            f"webhook delivery {delivery_id!r} is {status}, not dead: only dead or pending deliveries are replayed"
        )


def delivery_id_for(subscription: str, ticket_id: str) -> str:
    """The delivery's id, derived from its key: stable across redeliveries, races and replays."""
    digest = hashlib.sha256(f"{subscription}\x00{ticket_id}".encode()).hexdigest()
    return f"dlv_{digest[:40]}"


def short_error(error: str) -> str:
    """An error as stored: masked, on one line, at most :data:`MAX_ERROR_CHARS` characters."""
    flat = " ".join(redact_text(error).split())
    return flat if len(flat) <= MAX_ERROR_CHARS else flat[: MAX_ERROR_CHARS - 1] + "…"


def _row(row: Any) -> dict[str, Any]:
    record = dict(row._mapping)
    for key in ("created_at", "updated_at"):
        if isinstance(record.get(key), datetime):
            record[key] = record[key].isoformat()
    return record


class DeliveryStore:
    """The ``webhook_deliveries`` table, through a :class:`CrmStore`'s engine and transactions."""

    def __init__(self, crm: CrmStore) -> None:
        self.crm = crm

    @classmethod
    def from_url(cls, url: str) -> DeliveryStore:
        """A store on its own engine (the CLI's; a worker shares its CrmStore's)."""
        return cls(CrmStore(url))

    def open_delivery(self, subscription: str, ticket_id: str, url: str, payload: dict[str, Any]) -> str:
        """The id of the delivery of ``payload`` to ``subscription`` for ``ticket_id``, created
        pending if it does not exist. An existing delivery is returned as it is: a pending one
        keeps its payload and attempts, a delivered or dead one its status."""
        delivery_id = delivery_id_for(subscription, ticket_id)
        now = datetime.now(timezone.utc)
        statement = (
            self.crm._insert(WebhookDelivery)
            .values(
                id=delivery_id,
                subscription=subscription,
                ticket_id=ticket_id,
                url=url,
                status=PENDING,
                attempts=0,
                last_error=None,
                payload=payload,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()  # the id and (subscription, ticket_id) conflict together
        )
        with self.crm._write() as connection:
            connection.execute(statement)
        return delivery_id

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        """The delivery with its payload (datetimes as ISO 8601), or None when there is none."""
        with self.crm.engine.connect() as connection:
            row = connection.execute(
                select(*_SUMMARY_COLUMNS, WebhookDelivery.payload).where(WebhookDelivery.id == delivery_id)
            ).first()
        return _row(row) if row is not None else None

    def mark_delivered(self, delivery_id: str) -> None:
        """The receiver accepted the delivery (one more attempt, counted); a no-op when delivered."""
        with self.crm._write() as connection:
            result = connection.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status != DELIVERED)
                .values(
                    status=DELIVERED,
                    attempts=WebhookDelivery.attempts + 1,
                    last_error=None,
                    updated_at=datetime.now(timezone.utc),
                )
            )
            if result.rowcount == 0 and not self._exists(connection, delivery_id):
                raise DeliveryNotFound(delivery_id)

    def mark_failed(self, delivery_id: str, error: str, *, dead: bool) -> int:
        """One more failed attempt, with its error (masked, shortened); ``dead``: the last one.
        Returns the attempts made so far. A delivered delivery stays delivered."""
        with self.crm._write() as connection:
            attempts = connection.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status != DELIVERED)
                .values(
                    status=DEAD if dead else PENDING,
                    attempts=WebhookDelivery.attempts + 1,
                    last_error=short_error(error),
                    updated_at=datetime.now(timezone.utc),
                )
                .returning(WebhookDelivery.attempts)
            ).scalar()
            if attempts is None:
                current = connection.scalar(select(WebhookDelivery.attempts).where(WebhookDelivery.id == delivery_id))
                if current is None:
                    raise DeliveryNotFound(delivery_id)
                return int(current)
        return int(attempts)

    def dead(self, limit: int | None = 100) -> list[dict[str, Any]]:
        """The dead deliveries (at most ``limit``; None: all), oldest failure first, without payloads."""
        query = (
            select(*_SUMMARY_COLUMNS)
            .where(WebhookDelivery.status == DEAD)
            .order_by(WebhookDelivery.updated_at, WebhookDelivery.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.crm.engine.connect() as connection:
            return [_row(row) for row in connection.execute(query)]

    def count(self, status: str | None = None) -> int:
        """How many deliveries there are, in one status or in all."""
        query = select(func.count()).select_from(WebhookDelivery)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        with self.crm.engine.connect() as connection:
            return int(connection.scalar(query) or 0)

    def reset(self, delivery_id: str) -> dict[str, Any]:
        """Make a dead (or pending) delivery pending with no attempts, for a replay; returns it.

        Raises :class:`DeliveryNotFound` for an unknown id and :class:`DeliveryNotReplayable`
        for a delivered one (the receiver has it; replaying would send it twice).
        """
        with self.crm._write() as connection:
            status = connection.scalar(select(WebhookDelivery.status).where(WebhookDelivery.id == delivery_id))
            if status is None:
                raise DeliveryNotFound(delivery_id)
            if status == DELIVERED:
                raise DeliveryNotReplayable(delivery_id, status)
            connection.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(status=PENDING, attempts=0, last_error=None, updated_at=datetime.now(timezone.utc))
            )
        found = self.get(delivery_id)
        assert found is not None
        return found

    @staticmethod
    def _exists(connection: Any, delivery_id: str) -> bool:
        return connection.scalar(select(WebhookDelivery.id).where(WebhookDelivery.id == delivery_id)) is not None

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.crm.dispose()
