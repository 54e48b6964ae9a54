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
