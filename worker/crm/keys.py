"""API keys: created once and shown once, stored as the SHA-256 of their secret, revocable at once.

A key reads ``tfk_<key_id>_<secret>``: the id finds the row, the secret is checked against its
stored digest in constant time. Keys carry 256 random bits, so a fast hash is the right one
(a slow password hash buys nothing against a secret that cannot be guessed). Every request reads
the row, so a revoked key stops working on the next request, without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update

from worker.crm.models import ApiKey
from worker.crm.store import CrmStore
from worker.errors import TicketfusionError

SCOPES = ("ingest", "read")
PREFIX = "tfk"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY = re.compile(rf"^{PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})$")


class KeyRequestError(TicketfusionError, ValueError):
    """A key cannot be created or revoked as asked; the message says why."""

    code = "bad_key_request"


@dataclass(frozen=True)
class KeyInfo:
    """What is known about a key without its secret."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "key_id": self.key_id, "scopes": list(self.scopes),
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: object) -> KeyInfo:
    return KeyInfo(row.key_id, row.name, tuple(row.scopes), row.created_at, row.revoked_at)  # type: ignore[attr-defined]


class KeyStore:
    """The ``api_keys`` table of a migrated CRM database."""

    def __init__(self, store: CrmStore) -> None:
        self.store = store

    def create(self, name: str, scopes: tuple[str, ...] | list[str] = SCOPES) -> tuple[str, KeyInfo]:
        """A new key named ``name``; returns the key (its only appearance) and its record."""
        if not _NAME.match(name):
            raise KeyRequestError(f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise KeyRequestError(f"scopes {unknown or '(none)'}: choose from {', '.join(SCOPES)}")
        if any(info.name == name and info.revoked_at is None for info in self.list()):
            raise KeyRequestError(f"an active key is already named {name!r}: revoke it or pick another name")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        now = datetime.now(timezone.utc)
        row = {"key_id": key_id, "name": name, "secret_sha256": _digest(secret),
               "scopes": sorted(set(scopes)), "created_at": now, "revoked_at": None}
        with self.store._write() as connection:
            connection.execute(ApiKey.__table__.insert().values(**row))
        return f"{PREFIX}_{key_id}_{secret}", KeyInfo(key_id, name, tuple(row["scopes"]), now, None)

    def list(self) -> list[KeyInfo]:
        """Every key, revoked ones included, oldest first."""
        with self.store.engine.connect() as connection:
            rows = connection.execute(select(ApiKey).order_by(ApiKey.created_at)).all()
        return [_info(row) for row in rows]

    def revoke(self, name: str) -> int:
        """Revoke the active keys named ``name``; returns how many."""
        with self.store._write() as connection:
            done = connection.execute(
                update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(timezone.utc))
            ).rowcount
        if not done:
            raise KeyRequestError(f"no active key named {name!r}: `ticketfusion keys list` shows them")
        return int(done)

    def authenticate(self, key: str) -> KeyInfo | None:
        """The active key this is, or None (unknown, malformed, wrong secret or revoked)."""
        match = _KEY.match(key.strip())
        if match is None:
            return None
        key_id, secret = match.groups()
        with self.store.engine.connect() as connection:
            row = connection.execute(select(ApiKey).where(ApiKey.key_id == key_id)).first()
        if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
            return None
        return None if row.revoked_at is not None else _info(row)
