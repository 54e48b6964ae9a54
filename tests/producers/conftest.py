"""Producer test fixtures: small limits, a private blob store, a Celery app on Redis db 11.

The app is built with ``worker.app.configure`` on a fresh ``Celery`` object, so the global app
(and the lead's session database, db 12) stay untouched.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from worker.app import configure
from worker.blobs import BlobStore
from worker.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with limits small enough to cross in a test."""
    return Settings(
        redis_url=REDIS_URL,
        blob_dir=tmp_path / "blobs",
        max_body_chars=200,
        max_attachment_bytes=1024,
        max_line_bytes=512,
    )


@pytest.fixture
def store(settings: Settings) -> BlobStore:
    """The blob store the settings name."""
    return BlobStore(settings.blob_dir)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A client on the producers' own database, flushed before and after each test."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} does not answer ({exc}): start it")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def celery_app(settings: Settings, redis_client: redis.Redis) -> Iterator[Celery]:
    """A Celery app configured like the real one, pointed at the test database."""
    app = Celery("producers-tests")
    configure(app, settings)
    yield app
    app.close()


@pytest.fixture
def read_queue(redis_client: redis.Redis) -> Callable[[str], list[dict[str, Any]]]:
    """A reader of the kombu envelopes waiting on a queue (``decoded`` holds the parsed body)."""
    return lambda queue: _queued(redis_client, queue)


def _queued(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    envelopes = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # kombu LPUSHes; workers pop from the right
        envelope = json.loads(raw)
        body = envelope["body"]
        if envelope["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        envelope["raw"] = raw
        envelope["decoded"] = json.loads(body)
        envelopes.append(envelope)
    return envelopes
