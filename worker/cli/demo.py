"""``ticketfusion run``: the whole path on real parts, with an embedded Redis when none is configured.

Starts a real Celery worker process, enqueues the example tickets through the producer API, waits
for the CRM updates, and shows the results and one customer's history.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from celery import Celery
from rich.console import Console

from producers.enqueue import enqueue_file
from worker.app import configure
from worker.cli.embedded import embedded_redis
from worker.cli.processes import start_worker, stop_process
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
    return 1 if report.errors else 0
