"""Throughput of the real worker against the bare encoder, measured in one run on the same texts:
micro-batched against one ticket at a time, one pool process against two, and enqueue-to-CRM
latency at half of the measured maximum load.

    python -m worker.benchmarks.throughput --out docs/performance.md

Each configuration starts its own ``ticketfusion worker`` (embedded Redis unless
``TICKETFUSION_REDIS_URL`` is set, a fresh SQLite CRM), warms it up, sends a burst of ``--tickets``
text tickets (first enqueue to last CRM write: tickets/s), then sends tickets one by one at half
that rate for ``--paced-s`` seconds and reads each ticket's enqueue-to-CRM latency. The bare
encoder (fp32, batch 32, length-sorted, this process) runs on the same texts while no worker runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from worker.benchmarks.inputs import console, load_sentences, machine
from worker.benchmarks.queue_bench import _percentile, _wait_crm, bench_setup, bench_tickets, peak_rss
from worker.benchmarks.report import replace_section
from worker.settings import REPO_ROOT, Settings, get_settings

CONFIGS = ({"name": "one at a time", "batch_max": 1, "concurrency": 1},
           {"name": "micro-batched", "batch_max": 32, "concurrency": 1},
           {"name": "micro-batched, 2 processes", "batch_max": 32, "concurrency": 2})


def encoder_rate(settings: Settings, texts: list[str], *, reps: int = 3) -> float:
    """Bare base encoder sentences/s (fp32, batch 32, length-sorted): the median of ``reps`` passes."""
    from worker.text.sentence_encoder import SentenceEncoder

    encoder = SentenceEncoder.load(Path(settings.models_dir), threads=os.cpu_count() or 1)
    encoder.encode(texts[:64])
    rates = []
    for _ in range(reps):
        started = time.perf_counter()
        encoder.encode(texts)
        rates.append(len(texts) / (time.perf_counter() - started))
    return round(statistics.median(rates), 1)


def run_config(settings: Settings, texts: list[str], config: dict[str, Any], *, n: int, paced_s: float,
               timeout: float) -> dict[str, Any]:
    """One worker configuration: burst tickets/s, then latency at half that rate, and peak RSS."""
    from producers.enqueue import enqueue_many
    from worker.cli.embedded import embedded_redis
    from worker.cli.processes import start_worker, stop_process

    batch_max = config["batch_max"]
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tf-throughput-")))
        url = settings.redis_url or stack.enter_context(embedded_redis(tmp / "redis"))
        local, client, engine, env = bench_setup(stack, settings, tmp, url, batch_max=batch_max)
        env |= {"TICKETFUSION_BATCH_MAX": str(batch_max), "TICKETFUSION_METRICS_PORT": "0"}
        log_path = tmp / "worker.log"
        worker = start_worker(env=env, log=stack.enter_context(log_path.open("wb")),
                              concurrency=config["concurrency"], loglevel="WARNING")
        stack.callback(stop_process, worker)
        warm = bench_tickets(texts, 64, "WARM")
        enqueue_many(warm, celery_app=client, settings=local)
        _wait_crm(engine, "WARM", len(warm), worker, timeout=timeout, label=f"{config['name']}: warm-up",
                  log_path=log_path)

        burst = bench_tickets(texts, n, "BURST")
        first = time.time()
        for start in range(0, n, 50):
            enqueue_many(burst[start:start + 50], celery_app=client, settings=local)
        done = _wait_crm(engine, "BURST", n, worker, timeout=timeout, label=f"{config['name']}: {n} tickets",
                         log_path=log_path)
        rate = n / (max(done.values()) - first)

        paced_rate = rate / 2
        count = max(10, int(paced_rate * paced_s))
        paced = bench_tickets(texts[n:] + texts[:n], count, "PACED")
        sent: dict[str, float] = {}
        began = time.perf_counter()
        for index, ticket in enumerate(paced):
            wait = began + index / paced_rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent[ticket["ticket_id"]] = time.time()
            enqueue_many([ticket], celery_app=client, settings=local)
        done = _wait_crm(engine, "PACED", count, worker, timeout=timeout,
                         label=f"{config['name']}: {count} tickets at {paced_rate:.0f}/s", log_path=log_path)
        latency = [done[t] - sent[t] for t in sent]
        return {
            **config, "batch_max": batch_max, "tickets_per_s": round(rate, 1), "paced_rate": round(paced_rate, 1),
            "paced_tickets": count,
            "latency_ms": {q: round(_percentile(latency, int(q[1:])) * 1000, 1) for q in ("p50", "p95", "p99")},
            "peak_rss": peak_rss(worker.pid),
        }


def markdown(report: dict[str, Any]) -> list[str]:
    """The "Throughput" section of docs/performance.md."""
    encoder = report["encoder_sentences_per_s"]
    rows = report["configs"]
    base = rows[0]["tickets_per_s"]
    one = next((r["tickets_per_s"] for r in rows if r["name"] == "micro-batched"), base)
    lines = ["## Throughput: micro-batching, processes, latency", "",
             f"Measured with `python -m worker.benchmarks.throughput --out docs/performance.md` "
             f"({report['date']}; {report['machine']}; 1-minute load {report['load_start']} at the start, "
             f"{report['load_end']} at the end). Text tickets (Banking77 sentences as bodies) through "
             "`ticketfusion worker` with a real Redis and a fresh SQLite CRM, full triage and the CRM write; "
             "the bare encoder ran on the same texts in the same run (fp32, batch 32, length-sorted): "
             f"**{encoder} sentences/s**.", "",
             "| worker | tickets/s (burst of " + str(report["tickets"]) + ") | vs bare encoder | vs one at a time "
             "| enqueue → CRM p50 / p95 / p99 at half that load | peak RSS, sum of processes |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lat = row["latency_ms"]
        lines.append(f"| {row['name']} (batch ≤ {row['batch_max']}, {row['concurrency']} process"
                     f"{'es' if row['concurrency'] > 1 else ''}) | {row['tickets_per_s']} | "
                     f"{row['tickets_per_s'] / encoder:.1%} | {row['tickets_per_s'] / base:.2f}× | "
                     f"{lat['p50']} / {lat['p95']} / {lat['p99']} ms ({row['paced_tickets']} tickets at "
                     f"{row['paced_rate']}/s) | {row['peak_rss'].get('total_mib')} MiB |")
    two = rows[-1]["tickets_per_s"]
    lines += ["", f"Two processes against one, both micro-batched: {two / one:.2f}×.", "",
              "Read the ratios, not the absolute numbers: the machine is a shared VM.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "performance.md")
    parser.add_argument("--tickets", type=int, default=600)
    parser.add_argument("--paced-s", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = get_settings()
    texts, _ = load_sentences(settings)
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "tickets": args.tickets,
                              "machine": f"{machine()['cores']} cores of {machine()['cpu_model']}", "load_start": round(os.getloadavg()[0], 2)}
    report["encoder_sentences_per_s"] = encoder_rate(settings, texts[:args.tickets])
    report["configs"] = [run_config(settings, texts, config, n=args.tickets, paced_s=args.paced_s,
                                    timeout=args.timeout) for config in CONFIGS]
    report["load_end"] = round(os.getloadavg()[0], 2)
    for row in report["configs"]:
        console.print(f"{row['name']}: {row['tickets_per_s']} tickets/s, latency {row['latency_ms']}")
    console.print(f"bare encoder: {report['encoder_sentences_per_s']} sentences/s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    existing = args.out.read_text(encoding="utf-8") if args.out.is_file() else "# Performance\n"
    args.out.write_text(replace_section(existing, markdown(report)), encoding="utf-8")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
