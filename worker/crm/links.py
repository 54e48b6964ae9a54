"""Identities seen for each customer and the links they make between customer ids.

A ticket's e-mail addresses and phone numbers arrive here as keyed hashes only
(:mod:`worker.pii.identities`). Two customer ids that share one are linked automatically, unless
the identity is shared by more than :data:`MAX_SHARED` customers (a shop's address quoted in many
tickets says nothing about who wrote them). A link made by hand or automatically can be undone:
an ``unlinked`` pair stays unlinked, whatever later tickets say.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import or_, select, update

from worker.crm.models import Customer, CustomerIdentity, CustomerLink
from worker.crm.store import CrmStore
from worker.errors import TicketfusionError
from worker.pii.identities import Identity, identity_of_customer_id

__all__ = ["LinkStore", "MAX_SHARED", "UnknownCustomer"]

MAX_SHARED = 5


class UnknownCustomer(TicketfusionError, LookupError):
    """The CRM has no customer of that id."""


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


class LinkStore:
    """Identities and links in a migrated CRM database."""

    def __init__(self, store: CrmStore) -> None:
        self.store = store

    def add_identities(self, customer_id: str, identities: Iterable[Identity], *, ticket_id: str | None = None,
                       now: datetime | None = None) -> list[str]:
        """Record what the ticket showed (and the identity the customer id itself is) and link the
        customers that share it; the ids newly linked to ``customer_id``. Idempotent."""
        now = now or datetime.now(timezone.utc)
        found = set(identities)
        own = identity_of_customer_id(customer_id)
        if own is not None:
            found.add(own)
        linked: list[str] = []
        if not found:
            return linked
        with self.store._write() as connection:
            connection.execute(
                self.store._insert(CustomerIdentity)
                .values([{"customer_id": customer_id, "digest": i.digest, "kind": i.kind, "ticket_id": ticket_id,
                          "first_seen": now} for i in sorted(found)])
                .on_conflict_do_nothing(index_elements=["customer_id", "digest"])
            )
            for identity in sorted(found):
                holders = set(connection.scalars(
                    select(CustomerIdentity.customer_id).where(CustomerIdentity.digest == identity.digest)
                    .limit(MAX_SHARED + 1)
                ))
                if len(holders) > MAX_SHARED:
                    continue
                if identity.digest != customer_id and connection.scalar(
                        select(Customer.customer_id).where(Customer.customer_id == identity.digest)):
                    holders.add(identity.digest)  # the customer whose id this address or number is
                for other in sorted(holders - {customer_id}):
                    first, second = _pair(customer_id, other)
                    made = connection.execute(
                        self.store._insert(CustomerLink)
                        .values(customer_id=first, other_id=second, via=identity.kind, digest=identity.digest,
                                state="linked", created_at=now, updated_at=now)
                        .on_conflict_do_nothing(index_elements=["customer_id", "other_id"])
                        .returning(CustomerLink.customer_id)
                    ).first()
                    if made is not None:
                        linked.append(other)
        return linked

    def _require(self, connection: Any, *ids: str) -> None:
        for customer_id in ids:
            if connection.scalar(select(Customer.customer_id).where(Customer.customer_id == customer_id)) is None:
                raise UnknownCustomer(f"no customer {customer_id!r} in the CRM: check the id "
                                      "(`ticketfusion history ID` shows a customer)")

    def link(self, a: str, b: str, *, now: datetime | None = None) -> None:
        """Link two customer ids by hand (or link again a pair that was unlinked)."""
        if a == b:
            raise ValueError(f"cannot link customer {a!r} to itself")
        now = now or datetime.now(timezone.utc)
        first, second = _pair(a, b)
        with self.store._write() as connection:
            self._require(connection, a, b)
            stmt = self.store._insert(CustomerLink).values(
                customer_id=first, other_id=second, via="manual", digest=None, state="linked",
                created_at=now, updated_at=now)
            connection.execute(stmt.on_conflict_do_update(
                index_elements=["customer_id", "other_id"],
                set_={"state": "linked", "updated_at": now},
                where=CustomerLink.state != "linked"))

    def unlink(self, a: str, b: str | None = None, *, now: datetime | None = None) -> list[str]:
        """Undo the links of ``a`` (to ``b`` only, when given); the ids it was unlinked from."""
        now = now or datetime.now(timezone.utc)
        with self.store._write() as connection:
            self._require(connection, a)
            if b is not None:
                first, second = _pair(a, b)
                where = [CustomerLink.customer_id == first, CustomerLink.other_id == second]
            else:
                where = [or_(CustomerLink.customer_id == a, CustomerLink.other_id == a)]
            rows = connection.execute(
                update(CustomerLink).where(*where, CustomerLink.state == "linked")
                .values(state="unlinked", updated_at=now)
                .returning(CustomerLink.customer_id, CustomerLink.other_id)
            ).all()
        return sorted({row.other_id if row.customer_id == a else row.customer_id for row in rows})

    def links_of(self, connection: Any, ids: Iterable[str]) -> list[Any]:
        """Every link row touching ``ids``, linked or not."""
        ids = list(ids)
        return list(connection.execute(select(CustomerLink).where(
            or_(CustomerLink.customer_id.in_(ids), CustomerLink.other_id.in_(ids)))).all())

    def group(self, connection: Any, customer_id: str) -> list[str]:
        """``customer_id`` and every id linked to it, directly or through others, sorted."""
        seen, frontier = {customer_id}, [customer_id]
        while frontier:
            rows = connection.execute(select(CustomerLink.customer_id, CustomerLink.other_id).where(
                CustomerLink.state == "linked",
                or_(CustomerLink.customer_id.in_(frontier), CustomerLink.other_id.in_(frontier)))).all()
            frontier = [c for row in rows for c in (row.customer_id, row.other_id) if c not in seen]
            seen.update(frontier)
        return sorted(seen)
