"""The worker process's shared handles: one CRM store and one Redis client per process, made on
first use and dropped in a forked child (a child must not share its parent's connections)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis

from worker.crm.enrichment import Enricher
from worker.crm.statuses import Status, StatusStore
from worker.crm.store import CrmStore
from worker.settings import Settings, get_settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_store: CrmStore | None = None
_client: redis.Redis | None = None


def get_store() -> CrmStore:
    """The process's CRM store (one engine and pool per process)."""
    global _store
    with _lock:
        if _store is None:
            store = CrmStore(get_settings().database_url)
            store.migrate()  # kept only once it succeeds, so a later retry migrates again
            _store = store
        return _store


def enricher_for(store: CrmStore, settings: Settings | None = None) -> Enricher:
    """Profiles over ``store`` with the settings' repeat window and escalation line (the CRM reads no settings)."""
    settings = settings or get_settings()
    return Enricher(store, repeat_days=settings.repeat_contact_days, very_negative_at=settings.escalate_sentiment)


def redis_client() -> redis.Redis:
    """The process's client on the broker's Redis (dead letters, delivery counts, heartbeats)."""
    global _client
    with _lock:
        if _client is None:
            _client = redis.Redis.from_url(get_settings().redis_url or "redis://127.0.0.1:6379/0",
                                           socket_timeout=10, socket_connect_timeout=5)
        return _client


def reset_after_fork() -> None:
    global _store, _client
    _store, _client = None, None


def mark(ticket_id: str, status: Status, errors: list[dict[str, Any]] | None = None) -> None:
    """Move the ticket's status on; a database hiccup costs the status, never the ticket."""
    mark_many([ticket_id], status, errors)


def mark_many(ticket_ids: list[str], status: Status, errors: list[dict[str, Any]] | None = None) -> None:
    """:func:`mark` for a batch, in one write."""
    ids = [t for t in ticket_ids if t]
    if not ids:
        return
    try:
        StatusStore(get_store()).mark_many(ids, status, errors=errors or [])
    except Exception:  # noqa: BLE001 - the CRM write (retried) is what must not be lost
        log.warning("could not mark %s %s", ids[0] if len(ids) == 1 else f"{len(ids)} tickets", status, exc_info=True)
