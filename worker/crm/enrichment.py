"""Background enrichment: each customer's profile kept up to date, incrementally and idempotently.

A customer needs a new profile when something of theirs (or of a customer linked to them) changed
after the profile was made: a ticket, a triage, an event such as a resolution, a link; or when a
time window moved past one of their tickets (``valid_until``). :meth:`Enricher.due` finds those
customers with one query; :meth:`Enricher.enrich` recomputes a customer's linked group and writes
only profiles whose content changed, so a second run changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import exists, func, or_, select

from worker.crm.links import LinkStore, UnknownCustomer
from worker.crm.models import Customer, CustomerLink, CustomerProfile, Event, TicketRow, TriageRow
from worker.crm.profile import Fact, build_profile
from worker.crm.store import CrmStore
from worker.errors import TicketfusionError

__all__ = ["Enricher", "UnknownTicket", "RESOLVED"]

RESOLVED = "resolved"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class UnknownTicket(TicketfusionError, LookupError):
    """The CRM has no ticket of that id (it was never recorded, or not yet)."""


def _fact(row: Any) -> Fact:
    result = row.result or {}
    sentiment = result.get("sentiment") or {}
    return Fact(
        ticket_id=row.ticket_id, customer_id=row.customer_id, created_at=row.created_at, channel=row.channel,
        intent=row.intent_label, out_of_scope=bool(row.out_of_scope), sentiment=sentiment.get("score"),
        sentiment_label=sentiment.get("label"), priority=row.priority, action=row.reply_action,
        modalities=tuple(result.get("modalities") or ()),
    )


def _digest(profile: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(profile, sort_keys=True, default=str).encode()).hexdigest()


class Enricher:
    """Profiles, resolutions and links over a migrated CRM database."""

    def __init__(self, store: CrmStore, *, repeat_days: int = 14, very_negative_at: float = -0.6) -> None:
        self.store = store
        self.links = LinkStore(store)
        self.repeat_days = repeat_days
        self.very_negative_at = very_negative_at

    def resolve(self, ticket_id: str, *, note: str = "", now: datetime | None = None) -> tuple[str, bool]:
        """Record that ``ticket_id`` was resolved: (its customer, True if this is new). Closes the
        open issue of its intent up to this ticket."""
        now = now or datetime.now(timezone.utc)
        with self.store._write() as connection:
            customer_id = connection.scalar(select(TicketRow.customer_id).where(TicketRow.ticket_id == ticket_id))
            if customer_id is None:
                raise UnknownTicket(f"no ticket {ticket_id!r} in the CRM: a ticket can be resolved once it is "
                                    "recorded (`ticketfusion history CUSTOMER_ID` lists them)")
            made = connection.execute(
                self.store._insert(Event).values(customer_id=customer_id, ticket_id=ticket_id, kind=RESOLVED,
                                                 at=now, data={"note": note[:500]})
                .on_conflict_do_nothing(index_elements=["ticket_id", "kind"]).returning(Event.id)
            ).first()
        return customer_id, made is not None

    def due(self, *, now: datetime | None = None, limit: int = 1000) -> list[str]:
        """Customers whose profile is missing or older than their history, oldest change first."""
        now = now or datetime.now(timezone.utc)
        mark = func.coalesce(CustomerProfile.source_mark, _EPOCH)
        changed = or_(
            CustomerProfile.customer_id.is_(None),
            CustomerProfile.valid_until <= now,
            exists().where(TicketRow.customer_id == Customer.customer_id, TicketRow.received_at > mark),
            exists().where(TriageRow.ticket_id == TicketRow.ticket_id, TicketRow.customer_id == Customer.customer_id,
                           TriageRow.updated_at > mark),
            exists().where(Event.customer_id == Customer.customer_id, Event.at > mark),
            exists().where(or_(CustomerLink.customer_id == Customer.customer_id,
                               CustomerLink.other_id == Customer.customer_id), CustomerLink.updated_at > mark),
        )
        query = (select(Customer.customer_id)
                 .outerjoin(CustomerProfile, CustomerProfile.customer_id == Customer.customer_id)
                 .where(changed).order_by(Customer.last_seen, Customer.customer_id).limit(limit))
        with self.store.engine.connect() as connection:
            return list(connection.scalars(query))

    def enrich(self, customer_id: str, *, now: datetime | None = None) -> list[str]:
        """Recompute the profiles of ``customer_id``'s linked group; the ids whose profile changed."""
        return self._enrich(customer_id, now=now or datetime.now(timezone.utc))[1]

    def _enrich(self, customer_id: str, *, now: datetime) -> tuple[list[str], list[str]]:
        """(the linked group, the ids of it whose profile changed)."""
        with self.store._write() as connection:
            if connection.scalar(select(Customer.customer_id).where(Customer.customer_id == customer_id)) is None:
                raise UnknownCustomer(f"no customer {customer_id!r} in the CRM")
            group = self.links.group(connection, customer_id)
            rows = connection.execute(
                select(TicketRow.ticket_id, TicketRow.customer_id, TicketRow.created_at, TicketRow.channel,
                       TicketRow.received_at, TriageRow.intent_label, TriageRow.out_of_scope, TriageRow.priority,
                       TriageRow.reply_action, TriageRow.result, TriageRow.updated_at)
                .outerjoin(TriageRow, TriageRow.ticket_id == TicketRow.ticket_id)
                .where(TicketRow.customer_id.in_(group))
            ).all()
            events = connection.execute(select(Event.ticket_id, Event.at).where(
                Event.customer_id.in_(group))).all()
            resolved = dict(connection.execute(select(Event.ticket_id, Event.at).where(
                Event.customer_id.in_(group), Event.kind == RESOLVED)).all())
            link_rows = self.links.links_of(connection, group)
            marks = [r.received_at for r in rows] + [r.updated_at for r in rows if r.updated_at is not None]
            marks += [e.at for e in events] + [link.updated_at for link in link_rows]
            source_mark = max(marks, default=_EPOCH)
            stored = {row.customer_id: row for row in connection.execute(
                select(CustomerProfile.__table__).where(CustomerProfile.customer_id.in_(group))).all()}
            facts = [_fact(row) for row in rows]
            changed: list[str] = []
            for member in group:
                linked = [{"customer_id": link.other_id if link.customer_id == member else link.customer_id,
                           "via": link.via, "state": link.state, "since": link.created_at.isoformat()}
                          for link in link_rows if member in (link.customer_id, link.other_id)]
                profile, valid_until = build_profile(
                    facts, now=now, resolved=resolved, repeat_days=self.repeat_days,
                    very_negative_at=self.very_negative_at, linked=sorted(linked, key=lambda x: x["customer_id"]))
                profile = {"customer_id": member, "group": group, **profile}
                digest = _digest(profile)
                old = stored.get(member)
                if old is not None and old.digest == digest and old.valid_until == valid_until:
                    if old.source_mark < source_mark:  # seen, and nothing in the profile moved
                        connection.execute(CustomerProfile.__table__.update().where(
                            CustomerProfile.customer_id == member).values(source_mark=source_mark))
                    continue
                values = {"profile": profile, "digest": digest, "source_mark": source_mark,
                          "valid_until": valid_until, "computed_at": now}
                stmt = self.store._insert(CustomerProfile).values(customer_id=member, **values)
                connection.execute(stmt.on_conflict_do_update(index_elements=["customer_id"], set_=values))
                changed.append(member)
        return group, changed

    def enrich_due(self, *, now: datetime | None = None, limit: int = 1000) -> dict[str, int]:
        """Enrich every customer that is due (at most ``limit``): counts of customers due and changed."""
        now = now or datetime.now(timezone.utc)
        due = self.due(now=now, limit=limit)
        return {"due": len(due), "changed": self.enrich_many(due, now=now)}

    def enrich_many(self, customer_ids: Sequence[str], *, now: datetime | None = None,
                    progress: Callable[[], None] | None = None) -> int:
        """Enrich each customer once (a linked group once for all its ids); how many profiles changed."""
        now = now or datetime.now(timezone.utc)
        done: set[str] = set()
        changed = 0
        for customer_id in customer_ids:
            if customer_id not in done:
                group, updated = self._enrich(customer_id, now=now)
                done.update(group)
                changed += len(updated)
            if progress is not None:
                progress()
        return changed

    def all_customers(self) -> list[str]:
        with self.store.engine.connect() as connection:
            return list(connection.scalars(select(Customer.customer_id).order_by(Customer.customer_id)))

    def profile(self, customer_id: str) -> dict[str, Any] | None:
        """The stored profile, with when it was computed; None before the first enrichment."""
        with self.store.engine.connect() as connection:
            row = connection.execute(select(CustomerProfile.__table__).where(
                CustomerProfile.customer_id == customer_id)).first()
        if row is None:
            return None
        return {**row.profile, "computed_at": row.computed_at.isoformat()}
