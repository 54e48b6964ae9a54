"""CRM store fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``TICKETFUSION_TEST_POSTGRES_URL`` (default: the local trust-auth
server). Each test module gets its own database, dropped afterwards; each test gets an empty
``public`` schema in it. When the server does not answer, the PostgreSQL cases are skipped
with the reason; the SQLite cases always run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from worker.crm.store import CrmStore

ADMIN_URL = os.environ.get(
    "TICKETFUSION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _admin_connect() -> psycopg.Connection:
    url = make_url(ADMIN_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=3,
    )


@pytest.fixture(scope="module")
def postgres_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test module, dropped when the module ends."""
    try:
        admin = _admin_connect()
    except psycopg.OperationalError as error:
        where = make_url(ADMIN_URL).render_as_string()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {where} does not answer in CI: {error}")
        pytest.skip(f"PostgreSQL at {where} does not answer: {error}")
    name = f"tf_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no tables yet) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'crm.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    store = CrmStore(url)
    try:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        store.dispose()
    return url


@pytest.fixture
def make_store(database_url: str) -> Iterator[Callable[[], CrmStore]]:
    """Opens stores on the test database (one per simulated worker); disposes them all."""
    stores: list[CrmStore] = []

    def make() -> CrmStore:
        store = CrmStore(database_url)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.dispose()


@pytest.fixture
def store(make_store: Callable[[], CrmStore]) -> CrmStore:
    """A migrated store on the test database."""
    crm = make_store()
    crm.migrate()
    return crm
