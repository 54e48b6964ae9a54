"""Starting a real `ticketfusion api` process and making keys with the real `ticketfusion keys` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from worker.cli.processes import WorkerDidNotStart, free_port, start_api, stop_process, wait_until_serving

WEBHOOK_SECRETS = {"zendesk": "zd-secret-for-tests", "freshdesk": "fd-secret-for-tests", "acme": "acme-secret"}


def ticketfusion(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI with ``env``."""
    return subprocess.run([sys.executable, "-m", "worker.cli.main", *args], env=os.environ | env,
                          capture_output=True, text=True, timeout=120)


def make_key(env: dict[str, str], name: str, scopes: str = "ingest,read") -> str:
    """A new key from `ticketfusion keys create` (its last stdout line)."""
    done = ticketfusion(env, "keys", "create", name, "--scopes", scopes)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def running_api(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """An API process with ``env``; yields its base URL."""
    port = free_port()
    with log_path.open("wb") as log:
        process = start_api(env=env, log=log, port=port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, url)
    except WorkerDidNotStart as exc:
        stop_process(process, grace=5)
        pytest.fail(f"{exc}:\n{log_path.read_text()[-3000:]}")
    try:
        yield url
    finally:
        stop_process(process, grace=10)


def wait_done(client: httpx.Client, ticket_id: str, timeout: float = 120) -> dict:
    """Poll the status URL until the ticket is done or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/v1/tickets/{ticket_id}").json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.3)
    raise AssertionError(f"{ticket_id} still {state['status']} after {timeout} s")
