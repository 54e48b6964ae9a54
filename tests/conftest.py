"""Shared fixtures: the real Redis and PostgreSQL on this machine, and a real Celery worker process.

Each test session uses its own Redis database number and a fresh PostgreSQL database, so a run
never sees another run's messages or rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings

REDIS_HOST = os.environ.get("TICKETFUSION_TEST_REDIS_HOST", "127.0.0.1")
PG_ADMIN_URL = os.environ.get(
    "TICKETFUSION_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


# CI runs hypothesis on a fixed seed so a run on main is reproducible; locally it explores freely
# (a failure found locally prints its seed and example). Known open: a card with digits glued on
# both sides is not found (worker/pii/cards.py says so).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A flushed Redis database reserved for this test session (db 12)."""
    import redis

    url = f"redis://{REDIS_HOST}:6379/12"
    if not _redis_answers(url):
        pytest.fail(f"Redis at {url} does not answer: start it (see .ci/run)")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, dropped at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"tf_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} does not answer: {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared training data; tests that need it skip, saying so, where it is absent."""
    from worker.settings import get_settings

    path = Path(get_settings().data_dir)
    if not (path / "banking77" / "train.csv").exists():
        pytest.skip(f"training data not found at {path} (set TICKETFUSION_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def worker_env(redis_url: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment shared by the test's producer side and the worker process."""
    state = tmp_path_factory.mktemp("worker-state")
    return {
        "TICKETFUSION_REDIS_URL": redis_url,
        "TICKETFUSION_DATABASE_URL": postgres_url,
        "TICKETFUSION_BLOB_DIR": str(state / "blobs"),
        "TICKETFUSION_STATE_DIR": str(state),
        "TICKETFUSION_METRICS_PORT": "0",  # the metrics tests start workers of their own, on free ports
    }


@contextmanager
def running_worker(env: dict[str, str], log_path: Path, *, concurrency: int = 2) -> Iterator[dict]:
    """A real `ticketfusion worker` process with ``env``; yields it, its log and a client app."""
    from celery import Celery

    from worker.app import configure
    from worker.cli.processes import (
        WorkerDidNotStart,
        start_worker,
        stop_process,
        wait_until_ready,
    )
    from worker.settings import Settings

    client = Celery("tests")
    configure(client, Settings(redis_url=env["TICKETFUSION_REDIS_URL"]))
    with log_path.open("wb") as log:
        process = start_worker(env=env, log=log, concurrency=concurrency)
    try:
        wait_until_ready(process, client)
    except WorkerDidNotStart as exc:
        stop_process(process, grace=5)
        pytest.fail(f"{exc}:\n{log_path.read_text()[-3000:]}")
    try:
        yield {"process": process, "log": log_path, "app": client, "env": env}
    finally:
        stop_process(process)
        client.close()


@pytest.fixture(scope="session")
def celery_worker_process(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The session's worker on the test Redis and PostgreSQL."""
    with running_worker(worker_env, tmp_path_factory.mktemp("worker-log") / "worker.log") as worker:
        yield worker
