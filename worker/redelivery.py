"""Tickets of a dead worker host back in their queue within seconds, not after the visibility timeout.

With Redis as the broker, a message a worker has taken sits in the ``unacked`` hash until the
worker acknowledges it (late acks: after the task ran). Kombu gives it back to the queue only once
it is older than the visibility timeout, an hour here, because that timeout must outlast every
task and every retry's countdown (celery#4984, #7924). A worker host that is killed outright (its
main process SIGKILLed, an OOM kill, a deploy whose stop grace ran out) would hide its in-flight
and prefetched tickets for that hour.

So each worker's main process keeps two records in Redis: a heartbeat key
(``ticketfusion:alive:<hostname>``, expiring after three beats) and, for every message it takes,
who holds it (``ticketfusion:holders``: delivery tag → hostname, written on ``task_received``).
On every beat each worker also looks at the unacknowledged messages: one whose holder's heartbeat
has expired, or that no worker ever claimed within three beats, is put back at the head of its
queue through kombu's own ``restore_by_tag`` (a Redis transaction, so two workers never restore it
twice). With the default ``TICKETFUSION_HEARTBEAT_S`` of 10 s, a dead host's tickets are back in
their queue within about 40 s of its death, and taken at once by any worker still running, or by
a replacement when it starts. The CRM write is idempotent by ticket id, so a ticket that the dead
host had nearly finished has one effect.

A live worker can lose its messages too: when its broker connection drops (a Redis restart), the
messages it took on that connection can no longer be acknowledged (a delivery tag belongs to its
channel), Celery forgets those it had not started, and kombu's own restore at close fails while
Redis is down. They would wait out the visibility timeout, although their holder's heartbeat says
it is alive. So the consumer step :class:`Reclaim` remembers the tags taken on each connection and,
once the next connection is up, gives back those still unacknowledged (and drops the batched
requests buffered from the old one, which would run a second time for nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from celery import Celery, bootsteps

log = logging.getLogger(__name__)
ALIVE = "ticketfusion:alive:"
HOLDERS = "ticketfusion:holders"
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"
BEATS_TO_DEATH = 3
_taken: set[str] = set()  # tags taken on this process's current broker connection


def claim(client: redis.Redis, delivery_tag: str, hostname: str) -> None:
    """Record that ``hostname`` holds the message ``delivery_tag``."""
    _taken.add(delivery_tag)
    client.hset(HOLDERS, delivery_tag, hostname)


def forget_acknowledged(client: redis.Redis) -> None:
    """Keep the tags taken on this connection to those still unacknowledged, so the set stays small."""
    before = set(_taken)
    if before:
        _taken.difference_update(before - {tag.decode() for tag in client.hkeys(UNACKED)})


def beat(client: redis.Redis, hostname: str, heartbeat_s: float) -> None:
    client.set(ALIVE + hostname, b"1", ex=max(1, int(round(BEATS_TO_DEATH * heartbeat_s))))


def orphans(client: redis.Redis, *, heartbeat_s: float, now: float | None = None) -> list[str]:
    """Unacknowledged messages whose holder is dead, or that nobody claimed for three beats."""
    now = time.time() if now is None else now
    tags = [tag.decode() for tag in client.hkeys(UNACKED)]
    if not tags:
        return []
    holders = {k.decode(): v.decode() for k, v in client.hgetall(HOLDERS).items()}
    alive: dict[str, bool] = {}
    found = []
    for tag in tags:
        holder = holders.get(tag)
        if holder is None:
            taken = client.zscore(UNACKED_INDEX, tag)
            if taken is not None and now - float(taken) > BEATS_TO_DEATH * heartbeat_s:
                found.append(tag)
            continue
        if holder not in alive:
            alive[holder] = bool(client.exists(ALIVE + holder))
        if not alive[holder]:
            found.append(tag)
    stale = [tag for tag in holders if tag not in set(tags)]
    if stale:
        client.hdel(HOLDERS, *stale)  # acknowledged since: nothing to watch
    return found


def restore(celery_app: Celery, tags: list[str]) -> int:
    """Put the messages back at the head of their queues; returns how many were restored."""
    if not tags:
        return 0
    with celery_app.connection_for_write() as connection:
        qos = connection.default_channel.qos
        client = connection.default_channel.client
        for tag in tags:
            qos.restore_by_tag(tag, leftmost=True)
        client.hdel(HOLDERS, *tags)
    return len(tags)


class Watchdog:
    """The heartbeat and the search for orphans, in one daemon thread of a worker's main process."""

    def __init__(self, celery_app: Celery, client: redis.Redis, *, hostname: str, heartbeat_s: float) -> None:
        self.celery_app, self.client, self.hostname, self.heartbeat_s = celery_app, client, hostname, heartbeat_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ticketfusion-watchdog", daemon=True)

    def start(self) -> None:
        """Beat, give back what dead workers held (a replacement's first duty), then keep at it."""
        try:
            self.once()
        except Exception:  # noqa: BLE001 - Redis may still be starting: the thread retries
            log.warning("first watchdog round failed", exc_info=True)
        self._thread.start()

    def stop(self) -> None:
        """A graceful stop: kombu gives our unacknowledged messages back itself; say we are gone."""
        self._stop.set()
        try:
            self.client.delete(ALIVE + self.hostname)
        except redis.RedisError:
            pass

    def once(self) -> int:
        beat(self.client, self.hostname, self.heartbeat_s)
        forget_acknowledged(self.client)
        found = orphans(self.client, heartbeat_s=self.heartbeat_s)
        restored = restore(self.celery_app, found)
        if restored:
            log.warning("redelivered %d ticket message(s) held by dead workers", restored)
        return restored

    def _run(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.once()
            except Exception:  # noqa: BLE001 - a Redis hiccup must not end the watchdog
                log.warning("watchdog round failed", exc_info=True)


class Reclaim(bootsteps.StartStopStep):
    """A consumer step: after a reconnect, the messages taken on the lost connection go back to
    their queues (see the module's docstring); a first start or a shutdown gives back nothing."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.lost: set[str] = set()

    def stop(self, parent: Any) -> None:
        self.lost |= _taken
        _taken.clear()
        for task in parent.app.tasks.values():
            drop = getattr(task, "drop_buffered", None)
            if callable(drop):
                drop()

    def start(self, parent: Any) -> None:
        if not self.lost:
            return
        try:
            with parent.app.connection_for_write() as connection:
                client = connection.default_channel.client
                held = [tag for tag in self.lost if client.hexists(UNACKED, tag)]
            restored = restore(parent.app, held)
        except Exception:  # noqa: BLE001 - the visibility timeout still brings them back
            log.warning("could not give back %d messages taken before the reconnect", len(self.lost), exc_info=True)
            return
        self.lost.clear()
        if restored:
            log.warning("gave back %d message(s) taken before the broker connection was lost", restored)


def delivery_tag(request: Any) -> str | None:
    """The broker's delivery tag of a Celery request's message."""
    message = getattr(request, "message", None)
    tag = getattr(message, "delivery_tag", None)
    return str(tag) if tag is not None else None
