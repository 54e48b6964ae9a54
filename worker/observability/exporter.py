"""Serve the worker's metrics over HTTP from its main process, prefork-safe.

A prefork worker runs its tasks in child processes, each with its own memory: a counter moved in
one child is invisible to the others and to the main process. prometheus_client's multiprocess
mode has each process write its values to a file in one folder, and the main process add them up
on every scrape. The folder is made fresh for each worker start (``<state_dir>/metrics/worker-
<pid>``; stale ones of dead workers are removed), so a restarted worker never adds up its
predecessor's values; a child that exits is marked dead (its live gauges leave the sum, its
counters stay). The broker's numbers (queue lengths, the dead-letter store's size) are read from
Redis at scrape time by :class:`BrokerCollector`, in the main process only.

:func:`connect` hooks all of this to Celery's worker signals; ``TICKETFUSION_METRICS_PORT=0``
turns it off. A port already taken (several workers on one host) is logged as an error and the
worker goes on without metrics.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import redis
from celery.signals import worker_init, worker_process_shutdown, worker_shutdown
from prometheus_client import CollectorRegistry, multiprocess, start_http_server, values
from prometheus_client.core import GaugeMetricFamily, Metric

from worker.app import ALL_QUEUES
from worker.crm.dead_letters import DeadLetterStore
from worker.settings import Settings, get_settings

log = logging.getLogger(__name__)
ENV = "PROMETHEUS_MULTIPROC_DIR"
# kombu's Redis transport keeps a queue's messages of priority 0 under its name, the others under
# name + separator + step (its default steps: 0, 3, 6, 9).
_PRIORITY_SEPARATOR, _PRIORITY_STEPS = "\x06\x16", (3, 6, 9)
_server: Any = None
_folder: Path | None = None  # the multiprocess folder this worker made, removed when it stops


class BrokerCollector:
    """Queue lengths and the dead-letter store's size, read from Redis when scraped.

    Redis down or slow (2 s) yields ``ticketfusion_broker_up 0`` and no lengths, never an error:
    the worker's own metrics must still be scraped while the broker is away."""

    def __init__(self, client: redis.Redis, queues: Iterable[str] = ALL_QUEUES) -> None:
        self.client, self.queues = client, tuple(queues)

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("ticketfusion_broker_up", "1 when the broker's Redis answered this scrape, else 0"),
            GaugeMetricFamily("ticketfusion_queue_length", "Messages waiting in a queue (Redis LLEN, all priorities)",
                              labels=["queue"]),
            GaugeMetricFamily("ticketfusion_dead_letter_entries", "Entries now in the dead-letter store"),
        )

    def collect(self) -> Iterator[Metric]:
        up, lengths, entries = self._families()
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for queue in self.queues:
                    pipe.llen(queue)
                    for step in _PRIORITY_STEPS:
                        pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
                counts = pipe.execute()
            stored = DeadLetterStore(self.client).count()
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: the broker does not answer (%s: %s)", type(exc).__name__, exc)
            up.add_metric([], 0)
            yield up
            return
        per_queue = 1 + len(_PRIORITY_STEPS)
        for number, queue in enumerate(self.queues):
            lengths.add_metric([queue], sum(int(c) for c in counts[number * per_queue:(number + 1) * per_queue]))
        up.add_metric([], 1)
        entries.add_metric([], stored)
        yield from (up, lengths, entries)


class _LiveGauges:
    """Before each scrape, mark dead the pool processes that died without saying so (SIGKILL, OOM):
    their live gauges (the model info) would otherwise stay in the sum."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[Metric]:
        for file in self.path.glob("gauge_live*_*.db"):
            pid = file.stem.rsplit("_", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                multiprocess.mark_process_dead(int(pid), str(self.path))
        return iter(())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def multiprocess_dir(settings: Settings) -> Path:
    """A fresh, empty folder for this worker start; stale folders of dead workers are removed."""
    parent = Path(settings.state_dir) / "metrics"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for old in parent.glob("worker-*"):
            pid = old.name.removeprefix("worker-")
            if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
                shutil.rmtree(old, ignore_errors=True)
        path = parent / f"worker-{os.getpid()}"
        path.mkdir()
        return path
    except OSError as exc:  # a read-only state folder: metrics still work from a temporary one
        log.warning("metrics: cannot use %s (%s); using a temporary folder", parent, exc)
        return Path(tempfile.mkdtemp(prefix=f"ticketfusion-metrics-{os.getpid()}-"))


def enable_multiprocess(path: Path) -> None:
    """Make every metric value from now on (here and in the processes forked later) a file in ``path``.

    prometheus_client picks its value class when first imported, from the environment; this sets the
    environment for children and switches the class for this process, whose metrics made no value yet."""
    os.environ[ENV] = str(path)
    values.ValueClass = values.MultiProcessValue()


def registry_for(path: Path, client: redis.Redis) -> CollectorRegistry:
    """What the main process serves: the sum over the folder's files, and the broker's numbers."""
    registry = CollectorRegistry()
    registry.register(_LiveGauges(path))
    multiprocess.MultiProcessCollector(registry, path=str(path))
    registry.register(BrokerCollector(client))
    return registry


def serve(settings: Settings) -> Any:
    """Start serving on ``metrics_host:metrics_port``; None (and an error logged) when it cannot,
    in which case the worker's processes keep in-memory metrics nobody reads."""
    global _folder
    path = multiprocess_dir(settings)
    client = redis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0",
                                  socket_timeout=2, socket_connect_timeout=2)
    try:
        server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host,
                                            registry=registry_for(path, client))
    except OSError as exc:
        shutil.rmtree(path, ignore_errors=True)
        log.error("metrics: cannot listen on %s:%d (%s); this worker runs without a metrics endpoint. "
                  "Give each worker on a host its own TICKETFUSION_METRICS_PORT (0 turns metrics off)",
                  settings.metrics_host, settings.metrics_port, exc.strerror or exc)
        return None
    _folder = path
    enable_multiprocess(path)
    log.info("metrics: serving Prometheus metrics on http://%s:%d/metrics from %s", settings.metrics_host,
             settings.metrics_port, path)
    return server


def _on_worker_init(**_: Any) -> None:
    """Main process, after the task modules are imported and before the pool forks."""
    global _server
    settings = get_settings()
    if settings.metrics_port and _server is None:
        _server = serve(settings)


def _on_child_exit(pid: int | None = None, **_: Any) -> None:
    """In the pool process that exits: its live gauges leave the sum."""
    path = os.environ.get(ENV)
    if path:
        multiprocess.mark_process_dead(pid or os.getpid(), path)


def _on_worker_shutdown(**_: Any) -> None:
    global _server, _folder
    if _server is not None:
        _server.shutdown()
        _server.server_close()
        _server = None
    if _folder is not None:
        shutil.rmtree(_folder, ignore_errors=True)
        _folder = None


def connect() -> None:
    """Hook the metrics endpoint to the worker's signals (idempotent)."""
    worker_init.connect(_on_worker_init, weak=False, dispatch_uid="ticketfusion.metrics.init")
    worker_process_shutdown.connect(_on_child_exit, weak=False, dispatch_uid="ticketfusion.metrics.child_exit")
    worker_shutdown.connect(_on_worker_shutdown, weak=False, dispatch_uid="ticketfusion.metrics.shutdown")
