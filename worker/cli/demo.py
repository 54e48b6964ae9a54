"""``ticketfusion run``: the whole path on real parts, with an embedded Redis when none is configured.

Starts a real Celery worker process, enqueues the example tickets through the producer API, waits
for the CRM updates, and shows the results and one customer's history; then starts the HTTP API,
makes a key, posts one ticket over HTTP and shows its result as the API returns it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from celery import Celery
from rich.console import Console

from producers.enqueue import enqueue_file
from worker.app import configure
from worker.cli.embedded import embedded_redis
from worker.cli.processes import free_port, start_api, start_worker, stop_process, wait_until_serving
from worker.cli.render import (
    history_table,
    print_line_errors,
    reply_panel,
    results_table,
    wait_for,
)
from worker.crm.store import CrmStore
from worker.settings import Settings

console = Console()


def run_demo(settings: Settings, *, tickets: Path, customer: str | None, timeout: float) -> int:
    """Enqueue ``tickets`` through a real worker; returns 0 when every line was good."""
    with ExitStack() as stack:
        url = settings.redis_url
        if url is None:
            url = stack.enter_context(embedded_redis(Path(settings.state_dir) / "redis"))
            console.print(f"TICKETFUSION_REDIS_URL is not set: started an embedded Redis at {url}")
        settings = settings.model_copy(update={"redis_url": url})
        celery_app = Celery("ticketfusion-run")
        configure(celery_app, settings)
        store = CrmStore(settings.database_url)
        store.migrate()
        stack.callback(store.dispose)

        log_path = Path(settings.state_dir) / "worker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = stack.enter_context(log_path.open("ab"))
        worker = start_worker(env={"TICKETFUSION_REDIS_URL": url}, log=log)
        stack.callback(stop_process, worker)
        console.print(f"started a worker (pid {worker.pid}) on queues text, media, crm; log: {log_path}")

        report = enqueue_file(tickets, progress=True, celery_app=celery_app)
        print_line_errors(console, report.errors)
        results = wait_for(
            console, report.task_ids, timeout=timeout, celery_app=celery_app
        )
        console.print(results_table(results))
        customers = Counter(row.get("customer_id") for row in results if row.get("customer_id"))
        chosen = customer or (customers.most_common(1)[0][0] if customers else None)
        if chosen:
            console.print(history_table(store.history(chosen)))
        sent = next((row["ticket_id"] for row in results if row.get("action") == "auto_send"), None)
        if sent:
            console.print(reply_panel(sent, store.triage_result(sent)))
        api_log = stack.enter_context((Path(settings.state_dir) / "api.log").open("ab"))
        post_over_http(settings, store, env={"TICKETFUSION_REDIS_URL": url}, log=api_log, stack=stack, timeout=timeout)
    return 1 if report.errors else 0


HTTP_EXAMPLE = {"customer_id": "C-http", "channel": "web", "subject": "Top-up failed",
                "body": "I tried to top up my account with my card but the top-up failed. What happened?"}


def post_over_http(settings: Settings, store: CrmStore, *, env: dict[str, str], log: IO[bytes], stack: ExitStack,
                   timeout: float) -> None:
    """Start the API, make a key, post one ticket over HTTP and show its status as the API gives it."""
    import httpx

    from worker.crm.keys import KeyStore

    port = free_port()
    api = start_api(env=env, log=log, port=port)
    stack.callback(stop_process, api, grace=10)
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(api, base)
    key, info = KeyStore(store).create(f"run-{uuid.uuid4().hex[:8]}")
    console.print(f"started the API at {base} (pid {api.pid}); made key {info.name!r} with scopes "
                  f"{', '.join(info.scopes)}")
    ticket = {"ticket_id": f"T-http-{uuid.uuid4().hex[:6]}", **HTTP_EXAMPLE}
    headers = {"Authorization": f"Bearer {key}"}
    console.print(f"POST {base}/v1/tickets  {json.dumps(ticket)[:90]}…", highlight=False, markup=False)
    answer = httpx.post(f"{base}/v1/tickets", json=ticket, headers=headers, timeout=30)
    console.print(f"→ {answer.status_code} {answer.text}", highlight=False, markup=False)
    answer.raise_for_status()
    deadline = time.monotonic() + timeout
    state: dict = {}
    with console.status("waiting for the HTTP ticket's result"):
        while time.monotonic() < deadline and state.get("status") not in ("done", "failed"):
            time.sleep(0.3)
            state = httpx.get(answer.json()["status_url"], headers=headers, timeout=30).json()
    result = state.get("result") or {}
    intent = (result.get("intent") or {})
    console.print(f"GET {answer.json()['status_url']} → status {state.get('status')}, intent "
                  f"{intent.get('label')} ({intent.get('confidence', 0):.2f}), priority "
                  f"{(result.get('priority') or {}).get('level')}, reply {(result.get('reply') or {}).get('action')}",
                  highlight=False, markup=False)
    KeyStore(store).revoke(info.name)
