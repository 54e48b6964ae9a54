"""Services the fault tests break on purpose: a private Redis with AOF persistence that can be
killed and started again on the same port and data, and a fresh PostgreSQL database."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from worker.cli.processes import free_port

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class PrivateRedis:
    """redis-server on a free port with ``appendonly yes`` and ``appendfsync always`` in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError(f"private Redis on {self.port} did not start")

    def kill(self) -> None:
        """As a crash does: SIGKILL, no chance to save (the AOF has every write already)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, down_s: float = 2.0) -> None:
        self.kill()
        time.sleep(down_s)
        self.start()


@contextmanager
def private_redis(folder: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@contextmanager
def fresh_database(*, create: bool = True) -> Iterator[tuple[str, callable]]:
    """A PostgreSQL database URL (created unless ``create`` is false) and a function creating it."""
    from sqlalchemy import create_engine, text

    name = f"tf_fault_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")

    def make() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))

    if create:
        make()
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", make
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
