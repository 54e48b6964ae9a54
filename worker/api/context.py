"""What a request handler needs, built once per process: settings, stores, Redis and the Celery app."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

import redis
from celery import Celery

from worker.blobs import BlobStore
from worker.crm.keys import KeyStore
from worker.crm.statuses import StatusStore
from worker.crm.store import CrmStore
from worker.settings import Settings

from sqlalchemy.exc import SQLAlchemyError

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
RETRY_MIGRATION_S = 5.0
log = logging.getLogger(__name__)


@dataclass
class ApiContext:
    """Shared by every request; the CRM engine and the Redis client pool their connections."""

    settings: Settings
    celery_app: Celery
    crm: CrmStore
    migrated: bool = False
    _tried: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, settings: Settings, celery_app: Celery) -> ApiContext:
        return cls(settings=settings, celery_app=celery_app, crm=CrmStore(settings.database_url))

    def ensure_schema(self) -> None:
        """Migrate the CRM schema once; while the database is down, try again every few seconds
        (the API starts anyway and answers 503 meanwhile). Raises the database's error."""
        if self.migrated:
            return
        with self._lock:
            if self.migrated:
                return
            if time.monotonic() - self._tried < RETRY_MIGRATION_S and self._tried:
                raise SQLAlchemyError("the database did not answer a moment ago")
            self._tried = time.monotonic()
            self.crm.migrate()
            self.migrated = True

    def try_schema(self) -> None:
        """At start-up: migrate if the database answers, else say so and go on."""
        try:
            self.ensure_schema()
        except SQLAlchemyError as exc:
            log.warning("the database does not answer (%s); the API answers 503 until it does", type(exc).__name__)

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.crm)

    @cached_property
    def statuses(self) -> StatusStore:
        return StatusStore(self.crm)

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.blob_dir)

    @cached_property
    def redis(self) -> redis.Redis:
        """For rate limits and the memory of webhook signatures seen; short timeouts, so a Redis
        outage is a quick 503, not a hung request."""
        url = self.settings.redis_url or DEFAULT_REDIS
        return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
