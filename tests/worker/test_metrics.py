"""The worker's Prometheus endpoint, scraped over HTTP from a real prefork worker (two pool
processes) on real Redis and PostgreSQL: counts add up across the processes."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from celery.result import AsyncResult
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from producers.enqueue import enqueue_many, enqueue_ticket
from worker.app import ALL_QUEUES, triage_chain
from worker.cli.processes import free_port
from worker.observability.exporter import BrokerCollector

REDIS_DB = 15  # apart from the session worker's database, so no other worker takes these tickets


def metrics_env(postgres_url: str, state: Path, port: int) -> dict[str, str]:
    return {
        "TICKETFUSION_REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "TICKETFUSION_DATABASE_URL": postgres_url,
        "TICKETFUSION_BLOB_DIR": str(state / "blobs"),
        "TICKETFUSION_STATE_DIR": str(state),
        "TICKETFUSION_METRICS_PORT": str(port),
        "TICKETFUSION_METRICS_HOST": "127.0.0.1",
    }


@pytest.fixture(scope="module")
def worker(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from tests.conftest import running_worker

    state = tmp_path_factory.mktemp("metrics-worker")
    env = metrics_env(postgres_url, state, free_port())
    redis.Redis.from_url(env["TICKETFUSION_REDIS_URL"]).flushdb()
    with running_worker(env, state / "worker.log", concurrency=2) as running:
        yield running | {"url": f"http://127.0.0.1:{env['TICKETFUSION_METRICS_PORT']}/metrics"}
    redis.Redis.from_url(env["TICKETFUSION_REDIS_URL"]).flushdb()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint, keyed by name and sorted labels."""
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(value for (sample, keys), value in samples.items()
               if sample == name and set(labels.items()) <= set(keys))


def _ticket(ticket_id: str, body: str, customer: str = "C-metrics") -> dict:
    return {"ticket_id": ticket_id, "customer_id": customer, "channel": "chat", "body": body}


def test_tickets_and_stages_add_up_across_pool_processes(worker: dict) -> None:
    """N tickets through the chain: tickets_total grows by N (recorded), encode and crm stages by N."""
    before = scrape(worker["url"])
    n = 6
    run = uuid.uuid4().hex[:6]
    ids = enqueue_many([_ticket(f"MX-{run}-{i}", f"my card payment {i} was declined twice") for i in range(n)],
                       celery_app=worker["app"])
    assert all(AsyncResult(task_id, app=worker["app"]).get(timeout=120)["recorded"] for task_id in ids)
    after = scrape(worker["url"])

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("ticketfusion_tickets_total") == n
    assert grew("ticketfusion_tickets_total", queue="text", outcome="recorded") == n
    for stage in ("decode", "encode", "understand", "crm"):
        assert grew("ticketfusion_stage_seconds_count", stage=stage) == n, stage
    assert grew("ticketfusion_stage_seconds_count", stage="ocr") == 0  # no attachment, no OCR
    assert grew("ticketfusion_triage_seconds_count", queue="text") == n
    assert grew("ticketfusion_stage_seconds_sum", stage="encode") > 0
    assert {dict(keys)["queue"] for name, keys in after if name == "ticketfusion_queue_length"} == set(ALL_QUEUES)
    assert total(after, "ticketfusion_broker_up") == 1
    assert total(after, "ticketfusion_model_info", model="intent") >= 1


def test_bad_and_conflicting_tickets_are_counted_by_outcome(worker: dict) -> None:
    """A contract breach counts as dead_lettered (stage validation); a ticket_id of another customer as failed."""
    before = scrape(worker["url"])
    bad = triage_chain({"ticket_id": f"MX-bad-{uuid.uuid4().hex[:6]}", "channel": "fax"}, celery_app=worker["app"])
    assert bad.apply_async().get(timeout=60)["recorded"] is False
    taken = f"MX-taken-{uuid.uuid4().hex[:6]}"
    assert AsyncResult(enqueue_ticket(_ticket(taken, "I lost my card"), celery_app=worker["app"]),
                       app=worker["app"]).get(timeout=60)["recorded"] is True
    other = enqueue_ticket(_ticket(taken, "I lost my card", customer="C-someone-else"), celery_app=worker["app"])
    assert "ticket_conflict" in " ".join(AsyncResult(other, app=worker["app"]).get(timeout=60)["errors"])
    after = scrape(worker["url"])

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("ticketfusion_tickets_total", queue="text", outcome="dead_lettered") == 1
    assert grew("ticketfusion_tickets_total", queue="text", outcome="failed") == 1
    assert grew("ticketfusion_tickets_total", outcome="recorded") == 1
    assert grew("ticketfusion_dead_letters_total", stage="validation") == 1
    assert total(after, "ticketfusion_dead_letter_entries") >= 1


def test_counts_outlive_a_killed_pool_process(worker: dict) -> None:
    """SIGKILLed pool processes keep their counts in the sum; their live gauges (model info) leave it."""
    import os
    import signal

    ids = enqueue_many([_ticket(f"MX-kill-{uuid.uuid4().hex[:6]}-{i}", "where is my new card?") for i in range(2)],
                       celery_app=worker["app"])
    assert all(AsyncResult(task_id, app=worker["app"]).get(timeout=60)["recorded"] for task_id in ids)
    before = scrape(worker["url"])
    pid = worker["process"].pid
    children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    folder = Path(worker["env"]["TICKETFUSION_STATE_DIR"]) / "metrics" / f"worker-{pid}"
    assert {f"counter_{child}.db" for child in children} & {f.name for f in folder.iterdir()}
    for child in children:
        os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{child}").exists() for child in children):
        time.sleep(0.1)
    after = scrape(worker["url"])
    assert total(after, "ticketfusion_tickets_total") == total(before, "ticketfusion_tickets_total")
    assert total(after, "ticketfusion_stage_seconds_count", stage="crm") == total(before, "ticketfusion_stage_seconds_count", stage="crm")
    assert not [f.name for f in folder.glob("gauge_live*") if int(f.stem.rsplit("_", 1)[1]) in children]
    again = enqueue_ticket(_ticket(f"MX-after-kill-{uuid.uuid4().hex[:6]}", "my card is lost"), celery_app=worker["app"])
    assert AsyncResult(again, app=worker["app"]).get(timeout=60)["recorded"] is True
    assert total(scrape(worker["url"]), "ticketfusion_tickets_total") == total(before, "ticketfusion_tickets_total") + 1


def test_a_taken_port_is_a_clear_error_and_the_worker_runs(worker: dict, postgres_url: str, tmp_path: Path) -> None:
    """A second worker given a port already in use logs why it has no metrics, and still answers."""
    from tests.conftest import running_worker

    port = int(worker["url"].rsplit(":", 1)[1].split("/")[0])
    with running_worker(metrics_env(postgres_url, tmp_path, port), tmp_path / "worker.log", concurrency=1) as second:
        assert second["app"].control.ping(timeout=2.0)
        text = second["log"].read_text()
        assert f"metrics: cannot listen on 127.0.0.1:{port}" in text
        assert "TICKETFUSION_METRICS_PORT" in text and "Traceback" not in text
    assert scrape(worker["url"])  # the first worker's endpoint is unharmed


def test_scraping_survives_a_broker_that_does_not_answer() -> None:
    """With nothing listening at the broker's address, the collector yields broker_up 0 and no error."""
    with socket.socket() as probe:  # a port bound and not listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        client = redis.Redis(port=probe.getsockname()[1], socket_timeout=1, socket_connect_timeout=1)
        registry = CollectorRegistry()
        registry.register(BrokerCollector(client))
        started = time.monotonic()
        text = generate_latest(registry).decode()
    assert "ticketfusion_broker_up 0.0" in text
    assert "ticketfusion_queue_length{" not in text
    assert time.monotonic() - started < 5


def test_the_dashboard_charts_only_metrics_that_exist() -> None:
    """deploy/grafana/ticketfusion.json is valid JSON with a Prometheus datasource variable, and each
    metric it queries is served by the worker or the API."""
    import json
    import re

    from worker.api.middleware import Metrics

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "deploy/grafana/ticketfusion.json").read_text())
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    charted = {re.sub(r"_(total|bucket|count|sum)$", "", name) for e in exprs for name in re.findall(r"ticketfusion_\w+", e)}
    api = CollectorRegistry()
    Metrics(None, registry=api)  # the API's metrics, as its middleware registers them
    from prometheus_client import REGISTRY

    import worker.observability.metrics  # noqa: F401 - the worker's metrics, defined at import

    served = {family.name for registry in (REGISTRY, api)
              for family in text_string_to_metric_families(generate_latest(registry).decode())}
    served |= {family.name for family in BrokerCollector(redis.Redis()).describe()}
    assert charted and charted <= served, charted - served
    assert {"ticketfusion_tickets", "ticketfusion_stage_seconds", "ticketfusion_queue_length",
            "ticketfusion_dead_letters", "ticketfusion_api_requests"} <= charted
