"""The dead-letter store: every accepted ticket that could not be processed, with why, to replay.

It lives in Redis, beside the queues, not in the CRM database: one of the things it must hold is
a CRM write that ran out of retries because the database was down. Production Redis keeps it on
disk (AOF, docker-compose.yml). An entry holds the ticket as redacted for the CRM (never a card
number), the stage that failed (``validation``, ``triage``, ``time_limit``, ``poison``, ``crm``),
the reason, how many attempts were made, and for a ``crm`` entry the triaged result, so a replay
writes it without triaging again. Entries are keyed by ticket id: a ticket that fails again
updates its entry (attempts add up) instead of adding one, and a ticket recorded later (by a
replay, or a redelivery that succeeded) has its entry removed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import redis

from worker.errors import TicketfusionError
from worker.pii.redaction import redact_text

HASH = "ticketfusion:dead-letters"
INDEX = "ticketfusion:dead-letters:by-time"
STAGES = ("validation", "triage", "time_limit", "poison", "crm")
MAX_REASON = 500


class DeadLetterNotFound(TicketfusionError, LookupError):
    """No dead letter has this id; `ticketfusion dlq list` shows them."""

    code = "dead_letter_not_found"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class DeadLetterStore:
    """Entries in one Redis hash (id → JSON) with a time index for listing oldest first."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> DeadLetterStore:
        return cls(redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5))

    def add(self, *, ticket_id: str | None, stage: str, reason: str, ticket: dict[str, Any] | None,
            result: dict[str, Any] | None = None, attempts: int = 1) -> str:
        """Dead-letter a ticket (or update its entry); returns the entry's id (the ticket id when known)."""
        if stage not in STAGES:
            raise ValueError(f"unknown dead-letter stage {stage!r}: one of {', '.join(STAGES)}")
        entry_id = ticket_id or f"unknown-{uuid.uuid4().hex[:12]}"
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(HASH)
                    old = pipe.hget(HASH, entry_id)
                    before = json.loads(old) if old else {}
                    entry = {
                        "id": entry_id, "ticket_id": ticket_id, "stage": stage, "reason": redact_text(reason)[:MAX_REASON],
                        "attempts": int(before.get("attempts", 0)) + attempts,
                        "first_failed_at": before.get("first_failed_at") or _now(), "last_failed_at": _now(),
                        "ticket": ticket if ticket is not None else before.get("ticket"),
                        "result": result, "replayed_at": None,
                    }
                    pipe.multi()
                    pipe.hset(HASH, entry_id, json.dumps(entry, default=str))
                    pipe.zadd(INDEX, {entry_id: datetime.now(timezone.utc).timestamp()})
                    pipe.execute()
                    return entry_id
                except redis.WatchError:
                    continue

    def get(self, entry_id: str) -> dict[str, Any]:
        raw = self.client.hget(HASH, entry_id)
        if raw is None:
            raise DeadLetterNotFound(f"no dead letter {entry_id!r}: `ticketfusion dlq list` shows them")
        return json.loads(raw)

    def list(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Entries, oldest failure first."""
        ids = self.client.zrange(INDEX, 0, -1 if limit is None else limit - 1)
        raws = self.client.hmget(HASH, ids) if ids else []
        return [json.loads(raw) for raw in raws if raw is not None]

    def count(self) -> int:
        return int(self.client.hlen(HASH))

    def mark_replayed(self, entry_id: str) -> None:
        """Note that the entry was sent again; it stays until its ticket is recorded (or fails again)."""
        entry = self.get(entry_id)
        entry["replayed_at"] = _now()
        self.client.hset(HASH, entry_id, json.dumps(entry, default=str))

    def remove(self, entry_id: str) -> bool:
        """Drop an entry (purged, or its ticket is recorded now); True when there was one."""
        with self.client.pipeline() as pipe:
            pipe.hdel(HASH, entry_id)
            pipe.zrem(INDEX, entry_id)
            removed, _ = pipe.execute()
        return bool(removed)
