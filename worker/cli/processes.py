"""Start and stop a real `ticketfusion worker` process: shared by `run`, the benchmark and tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import IO

from celery import Celery

from worker.errors import TicketfusionError


class WorkerDidNotStart(TicketfusionError, RuntimeError):
    """The worker process exited, or did not answer a ping in time; the message holds its log."""


def start_worker(
    *, env: Mapping[str, str], log: IO[bytes], concurrency: int = 1, loglevel: str = "INFO"
) -> subprocess.Popen[bytes]:
    """A worker on every queue, with ``env`` added to this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli.main", "worker", "--concurrency", str(concurrency),
         "--loglevel", loglevel],
        env=os.environ | dict(env) | {"PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_ready(process: subprocess.Popen[bytes], client: Celery, *, timeout: float = 90.0) -> None:
    """Block until the worker answers a ping; raise :class:`WorkerDidNotStart` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WorkerDidNotStart(f"worker exited with status {process.returncode}")
        if client.control.ping(timeout=1.0):
            return
    raise WorkerDidNotStart(f"worker did not answer a ping within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 30.0) -> None:
    """Warm shutdown first (the task in hand finishes), then insist."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_api(*, env: Mapping[str, str], log: IO[bytes], port: int, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
    """A `ticketfusion api` process with ``env`` added to this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli.main", "api", "--host", host, "--port", str(port)],
        env=os.environ | dict(env) | {"PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_serving(process: subprocess.Popen[bytes], url: str, *, timeout: float = 60.0,
                       path: str = "/healthz", name: str = "the API") -> None:
    """Block until ``url`` + ``path`` answers 200; raise :class:`WorkerDidNotStart` otherwise."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WorkerDidNotStart(f"{name} exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}{path}", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise WorkerDidNotStart(f"{name} did not answer {url}{path} within {timeout:.0f} s")
