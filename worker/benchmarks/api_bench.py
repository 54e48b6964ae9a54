"""The HTTP API's intake: requests/s and latency percentiles of ``POST /v1/tickets``.

    python -m worker.benchmarks.api_bench --out docs/performance.md

A real ``ticketfusion api`` process (uvicorn, one process) on a private embedded Redis and a fresh
SQLite CRM (``--database-url`` for PostgreSQL), loaded by ``--clients`` threads with their own
keep-alive connections. Each request is a real intake: key lookup, rate-limit counter in Redis,
contract validation, the ticket id claimed in the CRM, the chain published to Redis. No worker
runs, so what is measured is the door, not triage. On this 2-core machine the load generator
shares the cores with the server, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

BODY = "I was charged twice for the same coffee this morning, please refund one of them."


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def api_bench(*, requests: int = 2000, clients: int = 8, database_url: str | None = None) -> dict[str, Any]:
    """Start the API, post ``requests`` tickets from ``clients`` threads; the rate and latencies."""
    import httpx

    from worker.cli.embedded import embedded_redis
    from worker.cli.processes import free_port, start_api, stop_process, wait_until_serving
    from worker.crm.keys import KeyStore
    from worker.crm.store import CrmStore

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tf-api-bench-")))
        url = stack.enter_context(embedded_redis(folder / "redis"))
        database = database_url or f"sqlite:///{folder / 'crm.db'}"
        crm = CrmStore(database)
        crm.migrate()
        stack.callback(crm.dispose)
        key, _ = KeyStore(crm).create(f"bench-{uuid.uuid4().hex[:6]}")
        env = {"TICKETFUSION_REDIS_URL": url, "TICKETFUSION_DATABASE_URL": database,
               "TICKETFUSION_BLOB_DIR": str(folder / "blobs"), "TICKETFUSION_API_RATE_LIMIT_PER_MINUTE": "0",
               "TICKETFUSION_LOG_LEVEL": "WARNING"}
        port = free_port()
        log = stack.enter_context((folder / "api.log").open("wb"))
        process = start_api(env=env, log=log, port=port)
        stack.callback(stop_process, process, grace=10)
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(process, base)
        latencies: list[float] = []
        failures: list[int] = []
        lock = threading.Lock()
        run = uuid.uuid4().hex[:6]

        def client(worker: int, count: int) -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
                for i in range(count):
                    ticket = {"ticket_id": f"bench-{run}-{worker}-{i}", "customer_id": f"c-{i % 50}", "body": BODY}
                    started = time.perf_counter()
                    answer = http.post("/v1/tickets", json=ticket)
                    spent = time.perf_counter() - started
                    with lock:
                        (latencies.append(spent) if answer.status_code == 202 else failures.append(answer.status_code))

        warm = [threading.Thread(target=client, args=(w + 1000, 20)) for w in range(clients)]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        latencies.clear()
        per_client = max(1, requests // clients)
        threads = [threading.Thread(target=client, args=(w, per_client)) for w in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    done = len(latencies)
    ms = [value * 1000 for value in latencies]
    return {"requests": done, "failures": len(failures), "clients": clients, "seconds": wall,
            "per_second": done / wall if wall else 0.0, "database": "PostgreSQL" if database_url else "SQLite",
            "ms": {"p50": statistics.median(ms), "p95": _percentile(ms, 95), "p99": _percentile(ms, 99),
                   "max": max(ms)}}


def api_markdown(results: list[dict[str, Any]]) -> list[str]:
    """The report's section on the API: one row per database."""
    first = results[0]
    lines = ["", f"## The HTTP API (POST /v1/tickets, {first['clients']} clients)", "",
             f"{first['requests']} tickets per run accepted by one uvicorn process: key check, rate-limit counter "
             "in Redis, contract validation, the ticket id claimed in the CRM, the chain published to Redis (no "
             "worker running). The load generator shares this machine's 2 cores, so these are floors. "
             "`python -m worker.benchmarks.api_bench --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test`.", "",
             "| CRM database | requests/s | p50 | p95 | p99 | max | refused |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for result in results:
        ms = result["ms"]
        lines.append(f"| {result['database']} | {result['per_second']:.0f} | {ms['p50']:.1f} ms | {ms['p95']:.1f} ms | "
                     f"{ms['p99']:.1f} ms | {ms['max']:.1f} ms | {result['failures']} |")
    return [*lines, "", "SQLite serialises the claims on its one write lock, which shows in the tail; run PostgreSQL "
            "in production.", ""]


@contextmanager
def _postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"tf_api_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    from worker.benchmarks.inputs import console
    from worker.benchmarks.report import replace_section
    from worker.settings import REPO_ROOT

    parser = argparse.ArgumentParser(prog="python -m worker.benchmarks.api_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "performance.md")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--postgres", default=None, metavar="ADMIN_URL",
                        help="also run on a fresh PostgreSQL database made through this URL")
    args = parser.parse_args(argv)
    results = [api_bench(requests=args.requests, clients=args.clients)]
    if args.postgres:
        with _postgres_database(args.postgres) as url:
            results.append(api_bench(requests=args.requests, clients=args.clients, database_url=url))
    report = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    args.out.write_text(replace_section(report, api_markdown(results)), encoding="utf-8")
    for result in results:
        console.print(f"API on {result['database']}: {result['per_second']:.0f} requests/s, p99 "
                      f"{result['ms']['p99']:.1f} ms")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
