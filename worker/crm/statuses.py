"""Where each accepted ticket stands: queued, processing, done or failed (with why).

The row is written when a ticket is accepted (by the API, a webhook, a mailbox or the CLI), so
posting the same ``ticket_id`` again finds it and is not triaged twice. The worker moves it on:
``processing`` when triage starts, ``done`` when the CRM holds the triage, ``failed`` with the
errors when nothing could be triaged or the task itself failed. A final status never goes back to
``processing`` when a message is redelivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import delete, select, update

from worker.crm.models import TicketRow, TicketStatus
from worker.crm.store import CrmStore

Status = Literal["queued", "processing", "done", "failed"]
FINAL = ("done", "failed")


def _row(row: Any) -> dict[str, Any]:
    return {"ticket_id": row.ticket_id, "status": row.status, "task_id": row.task_id, "source": row.source,
            "errors": list(row.errors or []), "accepted_at": row.accepted_at.isoformat(),
            "updated_at": row.updated_at.isoformat()}


class StatusStore:
    """The ``ticket_status`` table of a migrated CRM database."""

    def __init__(self, store: CrmStore) -> None:
        self.store = store

    def accept(self, ticket_id: str, *, source: str, task_id: str | None = None) -> tuple[bool, dict[str, Any]]:
        """Claim ``ticket_id`` as queued; (False, the existing row) when it was accepted before."""
        now = datetime.now(timezone.utc)
        values = {"ticket_id": ticket_id, "status": "queued", "task_id": task_id, "source": source[:64],
                  "errors": [], "accepted_at": now, "updated_at": now}
        with self.store._write() as connection:
            created = connection.execute(
                self.store._insert(TicketStatus).values(**values).on_conflict_do_nothing(index_elements=["ticket_id"])
                .returning(TicketStatus.ticket_id)
            ).first() is not None
            row = connection.execute(select(TicketStatus).where(TicketStatus.ticket_id == ticket_id)).one()
        return created, _row(row)

    def set_task(self, ticket_id: str, task_id: str) -> None:
        with self.store._write() as connection:
            connection.execute(update(TicketStatus).where(TicketStatus.ticket_id == ticket_id).values(task_id=task_id))

    def forget(self, ticket_id: str) -> None:
        """Drop a claim whose ticket never reached the broker, so the sender's retry is taken."""
        with self.store._write() as connection:
            connection.execute(delete(TicketStatus).where(TicketStatus.ticket_id == ticket_id,
                                                          TicketStatus.status == "queued"))

    def mark(self, ticket_id: str, status: Status, *, errors: Sequence[dict[str, Any]] = (),
             source: str = "worker") -> None:
        """Move a ticket on; creates the row for tickets accepted before statuses existed."""
        self.mark_many([ticket_id], status, errors=errors, source=source)

    def mark_many(self, ticket_ids: Sequence[str], status: Status, *, errors: Sequence[dict[str, Any]] = (),
                  source: str = "worker") -> None:
        """:meth:`mark` for many tickets in one statement (a micro-batch's ``processing``)."""
        if not ticket_ids:
            return
        now = datetime.now(timezone.utc)
        rows = [{"ticket_id": ticket_id, "status": status, "task_id": None, "source": source, "errors": list(errors),
                 "accepted_at": now, "updated_at": now} for ticket_id in dict.fromkeys(ticket_ids)]
        stmt = self.store._insert(TicketStatus).values(rows)
        changes = {"status": status, "updated_at": now, "errors": list(errors)}
        where = TicketStatus.status.not_in(FINAL) if status == "processing" else None
        with self.store._write() as connection:
            connection.execute(stmt.on_conflict_do_update(index_elements=["ticket_id"], set_=changes, where=where))

    def get(self, ticket_id: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as connection:
            row = connection.execute(select(TicketStatus).where(TicketStatus.ticket_id == ticket_id)).first()
        return _row(row) if row is not None else None

    def known_ids(self) -> set[str]:
        """Every id accepted or recorded (for ``enqueue --resume``: one read, then set lookups)."""
        with self.store.engine.connect() as connection:
            return {*connection.scalars(select(TicketStatus.ticket_id)), *connection.scalars(select(TicketRow.ticket_id))}

    def known(self, ticket_ids: Iterable[str]) -> set[str]:
        """Which of these ids were accepted or recorded already (for resuming a bulk import)."""
        wanted = list(dict.fromkeys(ticket_ids))
        found: set[str] = set()
        with self.store.engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                found.update(connection.scalars(select(TicketStatus.ticket_id).where(TicketStatus.ticket_id.in_(chunk))))
                found.update(connection.scalars(select(TicketRow.ticket_id).where(TicketRow.ticket_id.in_(chunk))))
        return found
